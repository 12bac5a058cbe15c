import type { Command } from "commander";
import { assertRepositoryRoot, runDemo } from "../../local/demo.ts";
import type { CommandRegistration } from "../command.ts";

/** `vigil demo` (what `npm start` runs): the whole loop against the sandbox and throwaway databases. */
export const registerDemo: CommandRegistration = (program: Command) => {
  program
    .command("demo")
    .description(
      "run the whole loop locally: sandbox + throwaway PostgreSQL/MariaDB, rotate DB and IBKR secrets, replay hostile access, page",
    )
    .option("--keep", "keep the sandbox running afterwards (Ctrl-C stops it)", false)
    // --verbose is the program's option (it also shows a failure's stack): it prints the functions' logs.
    .action(async (_options: { keep: boolean }, command: Command) => {
      await assertRepositoryRoot();
      process.exitCode = await runDemo(command.optsWithGlobals<{ verbose: boolean; keep: boolean }>());
    });
};
