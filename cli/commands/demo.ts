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
    .option("--verbose", "also print the functions' JSON logs", false)
    .option("--keep", "keep the sandbox running afterwards (Ctrl-C stops it)", false)
    .action(async (options: { verbose: boolean; keep: boolean }) => {
      await assertRepositoryRoot();
      process.exitCode = await runDemo(options);
    });
};
