import { Command } from "commander";
import { describeError, VigilError } from "../lib/errors.ts";
import type { CommandRegistration } from "./command.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerIbkrStage } from "./commands/ibkr-stage.ts";
import { registerSandbox } from "./commands/sandbox.ts";

// One line per command; each command lives in cli/commands/<name>.ts.
const commands: CommandRegistration[] = [registerDemo, registerIbkrStage, registerSandbox];

const program = new Command("vigil")
  .description("Vigil: secrets rotation and access alerting for AWS Secrets Manager")
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)");

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Expected failures print one clear line; anything else is a bug and keeps its stack.
  if (error instanceof VigilError) {
    process.stderr.write(`vigil: ${describeError(error)}\n`);
  } else {
    process.stderr.write(
      `vigil: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exitCode = 2;
}
