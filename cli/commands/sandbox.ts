import { constants } from "node:fs";
import { access, mkdir, readFile } from "node:fs/promises";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { describeError, VigilError } from "../../lib/errors.ts";
import {
  type Sandbox,
  type SandboxIdentity,
  type SandboxOptions,
  startSandbox,
} from "../../local/sandbox.ts";
import type { CommandRegistration } from "../command.ts";

/** Thrown when `vigil sandbox` options or the identities file are invalid (exit 2). */
export class SandboxCommandError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SandboxCommandError";
  }
}

export interface SandboxCommandOptions {
  port?: string;
  data?: string;
  region?: string;
  account?: string;
  ibAccounts?: string;
  identities?: string;
  rotationHandler?: string;
  lookupRate?: string;
}

const identitySchema = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().optional(),
  type: z.enum(["IAMUser", "AssumedRole", "Root"]),
  name: z.string().min(1),
  sessionName: z.string().optional(),
  accountId: z
    .string()
    .regex(/^\d{12}$/, "must be a 12-digit account id")
    .optional(),
  sourceIp: z.string().optional(),
  userAgent: z.string().optional(),
});
const identitiesSchema = z.array(identitySchema);

/** Reads an identities file: a YAML or JSON list of identities, or `{identities: [...]}`. */
export async function readIdentities(path: string): Promise<SandboxIdentity[]> {
  let parsed: unknown;
  try {
    parsed = parseYaml(await readFile(path, "utf8"));
  } catch (error) {
    throw new SandboxCommandError(`cannot read identities file ${path}: ${describeError(error)}`, {
      cause: error,
    });
  }
  const list =
    parsed && typeof parsed === "object" && !Array.isArray(parsed) && "identities" in parsed
      ? (parsed as { identities: unknown }).identities
      : parsed;
  const result = identitiesSchema.safeParse(list);
  if (!result.success) {
    const issues = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new SandboxCommandError(`identities file ${path} is invalid: ${issues.join("; ")}`);
  }
  return result.data;
}

function integerOption(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new SandboxCommandError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

/** Turns the command-line options into SandboxOptions. */
export async function sandboxOptionsFrom(options: SandboxCommandOptions): Promise<SandboxOptions> {
  const ibAccounts = options.ibAccounts
    ?.split(",")
    .map((account) => account.trim())
    .filter(Boolean);
  if (options.account !== undefined && !/^\d{12}$/.test(options.account)) {
    throw new SandboxCommandError(`--account must be a 12-digit account id, got "${options.account}"`);
  }
  return {
    port: integerOption("port", options.port, 0, 65_535),
    dataDir: options.data,
    region: options.region,
    accountId: options.account,
    identities: options.identities ? await readIdentities(options.identities) : undefined,
    rotationLambda: options.rotationHandler,
    lookupEventsPerSecond: integerOption("lookup-rate", options.lookupRate, 0, 1000),
    ibGateway: ibAccounts && ibAccounts.length > 0 ? { accounts: ibAccounts } : undefined,
  };
}

/** The lines `vigil sandbox` prints: where it listens and what to export. */
export function describeSandbox(sandbox: Sandbox): string {
  const quote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;
  const lines = [
    `Vigil sandbox listening on ${sandbox.endpoint} (account ${sandbox.accountId}, region ${sandbox.region}; loopback only, for development and tests)`,
    sandbox.ibGateway ? `IB Gateway peer on ${sandbox.ibGateway.host}:${sandbox.ibGateway.port}` : undefined,
    `Inspect: ${sandbox.endpoint}/_sandbox (cloudtrail, sns, sqs, pagerduty, rotations)`,
    "",
    ...Object.entries(sandbox.env).map(([name, value]) => `export ${name}=${quote(value)}`),
    "",
    "Press Ctrl-C to stop.",
  ];
  return `${lines.filter((line) => line !== undefined).join("\n")}\n`;
}

/** Runs the sandbox until SIGINT or SIGTERM, then stops it (writing trail files when --data is set). */
export async function runSandbox(options: SandboxCommandOptions): Promise<void> {
  // Trail files are written on stop: a folder that cannot be written must fail now, not after the session.
  if (options.data !== undefined) {
    const data = options.data;
    await mkdir(data, { recursive: true })
      .then(() => access(data, constants.W_OK))
      .catch((error: unknown) => {
        throw new SandboxCommandError(
          `--data ${data}: cannot write trail files there (${(error as NodeJS.ErrnoException).code ?? describeError(error)})`,
          { cause: error },
        );
      });
  }
  const sandbox = await startSandbox(await sandboxOptionsFrom(options)).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES") {
      throw new SandboxCommandError(
        `--port ${options.port}: cannot listen on 127.0.0.1:${options.port} (${code}); choose another port, or leave --port out for a free one`,
        { cause: error },
      );
    }
    throw error;
  });
  // An in-process rotation handler builds its SDK clients from this process's environment.
  Object.assign(process.env, sandbox.env);
  process.stdout.write(describeSandbox(sandbox));
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await sandbox.stop();
  process.stdout.write(
    options.data ? `Sandbox stopped; trail files written under ${options.data}\n` : "Sandbox stopped.\n",
  );
}

export const registerSandbox: CommandRegistration = (program: Command) => {
  program
    .command("sandbox")
    .description(
      "start the local sandbox (Secrets Manager, CloudTrail, SNS, SQS, PagerDuty) and keep it running",
    )
    .option("--port <port>", "port on 127.0.0.1 (default: a free port)")
    .option("--data <dir>", "write CloudTrail trail files (S3 layout) to this folder on stop")
    .option("--region <region>", "AWS region to emulate", "us-east-1")
    .option("--account <id>", "AWS account id to emulate", "111122223333")
    .option("--ib-accounts <list>", "start an IB Gateway peer listing these comma-separated accounts")
    .option(
      "--identities <file>",
      "YAML/JSON list of identities (accessKeyId, type, name, sessionName, sourceIp, ...)",
    )
    .option("--rotation-handler <module>", "module exporting the rotation `handler` RotateSecret drives")
    .option("--lookup-rate <n>", "LookupEvents requests per second before throttling (0 = no limit)", "2")
    .action((options: SandboxCommandOptions) => runSandbox(options));
};
