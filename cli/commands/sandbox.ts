import { constants } from "node:fs";
import { access, mkdir, readFile, stat } from "node:fs/promises";
import { relative, resolve } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { describeError, VigilError } from "../../lib/errors.ts";
import { redact, redactText } from "../../lib/redaction.ts";
import { loadLambdaHandler } from "../../local/lambda.ts";
import type { SandboxEvent, SandboxIdentity, SandboxOptions } from "../../local/sandbox.ts";
import {
  defaultSandboxEnvFile,
  removeSandboxEnvFile,
  sandboxEnvFileText,
  sourceCommand,
  writeSandboxEnvFile,
} from "../../local/sandbox-env.ts";
import {
  builtBundles,
  type SandboxWithFunctions,
  startSandboxWithFunctions,
} from "../../local/sandbox-functions.ts";
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
  notifyHandler?: string;
  scannerHandler?: string;
  /** False with --no-functions. */
  functions?: boolean;
  lookupRate?: string;
  writeEnv?: string;
  format?: string;
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

/** Turns the command-line options into SandboxOptions; throws SandboxCommandError naming a bad option. */
export async function sandboxOptionsFrom(options: SandboxCommandOptions): Promise<SandboxOptions> {
  if (options.account !== undefined && !/^\d{12}$/.test(options.account)) {
    throw new SandboxCommandError(`--account must be a 12-digit account id, got "${options.account}"`);
  }
  if (options.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(options.region)) {
    throw new SandboxCommandError(
      `--region must be an AWS region such as us-east-1, got "${options.region}"`,
    );
  }
  let ibAccounts: string[] | undefined;
  if (options.ibAccounts !== undefined) {
    ibAccounts = options.ibAccounts
      .split(",")
      .map((account) => account.trim())
      .filter(Boolean);
    const bad = ibAccounts.find((account) => !/^[A-Za-z0-9]{2,20}$/.test(account));
    if (ibAccounts.length === 0 || bad !== undefined) {
      throw new SandboxCommandError(
        `--ib-accounts must be comma-separated IBKR account ids such as DU1234567, got "${options.ibAccounts}"`,
      );
    }
  }
  return {
    port: integerOption("port", options.port, 0, 65_535),
    dataDir: options.data,
    region: options.region,
    accountId: options.account,
    identities: options.identities ? await readIdentities(options.identities) : undefined,
    lookupEventsPerSecond: integerOption("lookup-rate", options.lookupRate, 0, 1000),
    ibGateway: ibAccounts ? { accounts: ibAccounts } : undefined,
  };
}

/** The handler modules to run: those given (which must exist), else the built bundles (none with --no-functions). */
export async function functionHandlersFrom(
  options: SandboxCommandOptions,
): Promise<{ rotate?: string; notify?: string; scanner?: string }> {
  if (options.functions === false) return {};
  const built = builtBundles();
  const chosen = async (option: string, given: string | undefined, fallback: string | undefined) => {
    if (given === undefined) return fallback;
    const path = resolve(given);
    const isFile = await stat(path).then(
      (found) => found.isFile(),
      () => false,
    );
    if (!isFile) {
      throw new SandboxCommandError(
        `--${option} ${given}: no such file (expected a module exporting handler)`,
      );
    }
    return path;
  };
  const rotate = await chosen("rotation-handler", options.rotationHandler, built.rotate);
  const notify = await chosen("notify-handler", options.notifyHandler, built.notify);
  const scanner = await chosen("scanner-handler", options.scannerHandler, built.scanner);
  return { ...(rotate ? { rotate } : {}), ...(notify ? { notify } : {}), ...(scanner ? { scanner } : {}) };
}

/** The lines `vigil sandbox` prints: where it listens, what runs inside, how to use it. */
export function describeSandbox(
  started: SandboxWithFunctions,
  envFile?: string,
  ibAccount = "DU1234567",
): string {
  const { sandbox, functions, rotationLambdaArn } = started;
  const gateway = sandbox.ibGateway;
  const ibkrSecret = gateway
    ? JSON.stringify({
        username: "paper-trader",
        password: "Sandbox1pass",
        account: ibAccount,
        host: gateway.host,
        port: gateway.port,
        paper: true,
      })
    : undefined;
  const lines = [
    `Vigil sandbox listening on ${sandbox.endpoint} (account ${sandbox.accountId}, region ${sandbox.region}; loopback only, for development and tests)`,
    `Inspect: ${sandbox.endpoint}/_sandbox (cloudtrail, sns, sqs, pagerduty, rotations, dynamodb, s3, scanner, faults)`,
    functions.rotate
      ? `Rotation function: ${functions.rotate}, as ${rotationLambdaArn} (give RotateSecret --rotation-lambda-arn this ARN)`
      : "Rotation function: none (npm run build, or --rotation-handler MODULE); RotateSecret fails without one",
    functions.notify
      ? `Notifier: ${functions.notify}, consuming ${started.env.FINDINGS_QUEUE_URL}, paging this sandbox's PagerDuty`
      : "Notifier: not running (npm run build, or --notify-handler MODULE)",
    functions.scanner
      ? `Scanner: ${functions.scanner}, fed by the trail bucket ${sandbox.env.TRAIL_BUCKET_NAME} and EventBridge`
      : "Scanner: not running (its bundle dist/audit-scan/index.mjs is not built)",
    gateway && ibkrSecret
      ? `IB Gateway peer on ${gateway.host}:${gateway.port}; an IBKR secret it matches: '${ibkrSecret}'`
      : undefined,
    "",
    ...(envFile
      ? [`Environment written to ${envFile}; in another shell: ${sourceCommand(envFile)}`, ""]
      : []),
    ...sandboxEnvFileText(started.env)
      .split("\n")
      .filter((line) => line.startsWith("export ")),
    "",
    "Press Ctrl-C to stop.",
  ];
  return `${lines.filter((line) => line !== undefined).join("\n")}\n`;
}

/** One readable line for what happened in the sandbox (a rotation outcome, a page); undefined to stay quiet. */
export function describeSandboxEvent(event: SandboxEvent): string | undefined {
  const time = new Date().toISOString().slice(11, 19);
  if (event.type === "rotation") {
    const { rotation } = event;
    const secret = rotation.secretArn
      .replace(/^arn:[^:]+:secretsmanager:[^:]+:\d+:secret:/, "")
      .replace(/-[A-Za-z0-9]{6}$/, "");
    const seconds = rotation.steps.reduce((total, step) => total + step.durationMs, 0) / 1000;
    if (rotation.status === "succeeded") {
      return `${time} rotation succeeded: ${secret} (version ${rotation.versionId}, ${seconds.toFixed(1)} s)`;
    }
    return redactText(
      `${time} rotation FAILED: ${secret} at ${rotation.failure?.step ?? "?"}: ${rotation.failure?.message ?? "no message"}`,
    );
  }
  if (event.type === "pagerduty") {
    const { event: page } = event;
    const body = (page.body ?? {}) as {
      event_action?: string;
      payload?: { summary?: string; severity?: string };
      summary?: string;
    };
    if (page.status !== 202)
      return `${time} PagerDuty answered ${page.status} to an event${page.status === 0 ? " (connection dropped)" : ""}`;
    if (page.kind === "change")
      return redactText(`${time} PagerDuty change event: ${body.payload?.summary ?? ""}`);
    if (body.event_action === "trigger") {
      return redactText(`${time} PAGE (${body.payload?.severity ?? "?"}): ${body.payload?.summary ?? ""}`);
    }
    return `${time} PagerDuty ${body.event_action ?? "event"}: incident ${page.dedupKey ?? "?"}`;
  }
  const { invocation } = event;
  if (invocation.status !== "failed") return undefined;
  return redactText(
    `${time} ${invocation.functionName} failed on ${invocation.subject}: ${invocation.error ?? "unknown error"}`,
  );
}

/** Runs the sandbox until SIGINT or SIGTERM, then stops it (writing trail files when --data is set). */
export async function runSandbox(options: SandboxCommandOptions, verbose = false): Promise<void> {
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
  const sandboxOptions = await sandboxOptionsFrom(options);
  const handlers = await functionHandlersFrom(options);
  const format = options.format ?? "text";
  if (format !== "text" && format !== "json") {
    throw new SandboxCommandError(`--format must be text or json, got "${format}"`);
  }
  if (!verbose) {
    // The functions' JSON logs and metrics would drown the console's one line per event.
    process.env.LOG_LEVEL = "SILENT";
    process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
  }
  const started = await startSandboxWithFunctions(sandboxOptions, handlers).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE" || code === "EACCES") {
      throw new SandboxCommandError(
        `--port ${options.port}: cannot listen on 127.0.0.1:${options.port} (${code}); choose another port, or leave --port out for a free one`,
        { cause: error },
      );
    }
    throw error;
  });
  const { sandbox } = started;
  // A handler that cannot be imported fails now, with its option named, not at the first rotation.
  for (const [option, path] of [
    ["rotation-handler", handlers.rotate],
    ["notify-handler", handlers.notify],
    ["scanner-handler", handlers.scanner],
  ] as const) {
    if (!path) continue;
    await loadLambdaHandler(path, `--${option}`).catch(async (error: unknown) => {
      await sandbox.stop();
      throw new SandboxCommandError(describeError(error), { cause: error });
    });
  }
  // Another running sandbox may own the default file; the one written is then named beside it.
  const envFile = relative(
    process.cwd(),
    await writeSandboxEnvFile(started.env, options.writeEnv ?? defaultSandboxEnvFile),
  );
  sandbox.onEvent((event) => {
    if (format === "json") {
      process.stdout.write(`${JSON.stringify(redact(event))}\n`);
      return;
    }
    const line = describeSandboxEvent(event);
    if (line) process.stdout.write(`${line}\n`);
  });
  process.stdout.write(describeSandbox(started, envFile, sandboxOptions.ibGateway?.accounts[0]));
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
  await removeSandboxEnvFile(envFile);
  process.stdout.write(
    options.data ? `Sandbox stopped; trail files written under ${options.data}\n` : "Sandbox stopped.\n",
  );
}

export const registerSandbox: CommandRegistration = (program: Command) => {
  program
    .command("sandbox")
    .description(
      "start the local sandbox (Secrets Manager, CloudTrail, SNS, SQS, DynamoDB, S3, PagerDuty) with Vigil's functions inside, and keep it running",
    )
    .option("--port <port>", "port on 127.0.0.1 (default: a free port)")
    .option("--data <dir>", "write CloudTrail trail files (S3 layout) to this folder on stop")
    .option("--region <region>", "AWS region to emulate", "us-east-1")
    .option("--account <id>", "AWS account id to emulate", "111122223333")
    .option("--ib-accounts <list>", "comma-separated accounts the IB Gateway peer manages", "DU1234567")
    .option(
      "--identities <file>",
      "YAML/JSON list of identities (accessKeyId, type, name, sessionName, sourceIp, ...)",
    )
    .option(
      "--rotation-handler <module>",
      "module exporting the rotation handler (default: dist/rotate/index.mjs)",
    )
    .option(
      "--notify-handler <module>",
      "module exporting the notifier handler (default: dist/notify/index.mjs)",
    )
    .option(
      "--scanner-handler <module>",
      "module exporting the scanner handler (default: dist/audit-scan/index.mjs)",
    )
    .option("--no-functions", "run none of Vigil's functions inside the sandbox")
    .option("--lookup-rate <n>", "LookupEvents requests per second before throttling (0 = no limit)", "2")
    .option("--write-env <path>", "where to write the environment to source", defaultSandboxEnvFile)
    .option(
      "--format <format>",
      "text: one line per rotation and page; json: one JSON object per event",
      "text",
    )
    .action((options: SandboxCommandOptions, command: Command) =>
      runSandbox(options, command.optsWithGlobals<{ verbose?: boolean }>().verbose === true),
    );
};
