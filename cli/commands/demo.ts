import type { Command } from "commander";
import { assertRepositoryRoot, runDemo } from "../../local/demo.ts";
import type { CommandRegistration } from "../command.ts";

/** `vigil demo` (what `npm start` runs): the whole loop against the sandbox and throwaway databases. */
export const registerDemo: CommandRegistration = (program: Command) => {
  program
    .command("demo")
    .summary("the whole loop on this machine: what npm start runs")
    .description(
      "what npm start runs, from the repository's root: the whole loop on this machine (sandbox, throwaway PostgreSQL/MariaDB): rotate database and IBKR secrets, replay an attack, page, respond (vigil incident) and report (vigil report)",
    )
    .option(
      "--keep",
      "keep the sandbox running afterwards, until Ctrl-C, and this run's folder (trail files, evidence, report)",
    )
    // --verbose is the program's option (it also shows a failure's stack): it prints the functions' logs.
    .action(async (_options: { keep?: boolean }, command: Command) => {
      await assertRepositoryRoot();
      process.exitCode = await runDemo({
        keep: false,
        ...command.optsWithGlobals<{ verbose: boolean; keep?: boolean }>(),
      });
    });
};
