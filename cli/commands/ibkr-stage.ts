import { hostname, userInfo } from "node:os";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Command } from "commander";
import {
  type IbkrStageDependencies,
  IbkrStageError,
  type IbkrStageOptions,
  stageIbkrCredentials,
} from "../../functions/rotate/strategies/ibkr/index.ts";
import type { CommandRegistration } from "../command.ts";
import { hiddenPrompter } from "../prompt.ts";

/** The person at the keyboard as user@host, recorded with what they staged or did. */
export function defaultOperator(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `unknown@${hostname()}`;
  }
}

/** Builds the `vigil ibkr stage` command; tests pass their own streams and client. */
export function ibkrStageCommand(
  overrides: () => Partial<IbkrStageDependencies> = () => ({}),
): CommandRegistration {
  return (program: Command) => {
    const ibkr =
      program.commands.find((command) => command.name() === "ibkr") ??
      program.command("ibkr").description("Interactive Brokers credentials");
    ibkr
      .command("stage")
      .description(
        "Stage new IBKR credentials (after changing them in the IBKR portal) and rotate the secret to them",
      )
      .requiredOption("--secret-id <id>", "the IBKR secret (name or ARN), e.g. algo-trade/prod/ibkr")
      .option("--api-key", "also set a new api_key", false)
      .option("--stdin", "read the password (line 1) and api_key (line 2) from standard input", false)
      .option("--no-rotate", "only stage; do not start the rotation")
      .option(
        "--resume",
        "retry a rotation that failed after staging, without entering the values again",
        false,
      )
      .option("--discard-pending", "drop a failed rotation's pending version and stage new values", false)
      .option(
        "--kms-key-id <key>",
        "KMS key for the staging secret (default: VIGIL_STAGING_KMS_KEY_ID, then the secret's own key)",
      )
      .option("--timeout <seconds>", "how long to follow the rotation", positive("--timeout"), 300)
      .option(
        "--poll-interval <seconds>",
        "how often to check the rotation's progress",
        positive("--poll-interval"),
        2,
      )
      .action(async (flags: Record<string, unknown>) => {
        const deps: IbkrStageDependencies = {
          secretsManager: new SecretsManagerClient({}),
          input: process.stdin,
          output: process.stdout,
          // Prompts go to stderr, so stdout can be piped.
          askHidden: hiddenPrompter(process.stdin, process.stderr),
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
          now: () => new Date(),
          operator: defaultOperator,
          env: process.env,
          ...overrides(),
        };
        const options: IbkrStageOptions = {
          secretId: String(flags.secretId),
          apiKey: flags.apiKey === true,
          stdin: flags.stdin === true,
          rotate: flags.rotate !== false,
          resume: flags.resume === true,
          discardPending: flags.discardPending === true,
          kmsKeyId: typeof flags.kmsKeyId === "string" ? flags.kmsKeyId : undefined,
          timeoutSeconds: Number(flags.timeout),
          pollSeconds: Number(flags.pollInterval),
        };
        await stageIbkrCredentials(options, deps);
      });
  };
}

/** A commander parser for a positive number of seconds whose error names the option. */
function positive(option: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isFinite(number) || number <= 0)
      throw new IbkrStageError(`${option} expects a positive number of seconds, got "${value}"`);
    return number;
  };
}

/** `vigil ibkr stage`, as registered in cli/vigil.ts. */
export const registerIbkrStage: CommandRegistration = ibkrStageCommand();
