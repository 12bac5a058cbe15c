import { Command, CommanderError } from "commander";
import { describeError, VigilError } from "../lib/errors.ts";
import packageJson from "../package.json" with { type: "json" };
import type { CommandRegistration } from "./command.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerIbkrStage } from "./commands/ibkr-stage.ts";
import { registerSandbox } from "./commands/sandbox.ts";

// One line per command; each command lives in cli/commands/<name>.ts.
const commands: CommandRegistration[] = [registerDemo, registerIbkrStage, registerSandbox];

const program = new Command("vigil")
  .description("Vigil: secrets rotation and access alerting for AWS Secrets Manager")
  .version(packageJson.version)
  .showHelpAfterError("(run with --help for usage)")
  // Usage errors come back here (commander would exit 1, which `vigil scan` uses for "findings").
  .exitOverride();

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has printed the help, the version or the usage error already.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    // Expected failures print one clear line; anything else is a bug and keeps its stack.
    const detail =
      error instanceof VigilError
        ? describeError(error)
        : `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    process.stderr.write(`vigil: ${detail}\n`);
    process.exitCode = 2;
  }
}
