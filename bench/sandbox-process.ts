import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { SandboxOptions } from "../local/sandbox.ts";

/** A sandbox running in a child process (bench/sandbox-host.ts), reached over HTTP like AWS. */
export interface SandboxProcess {
  endpoint: string;
  region: string;
  accountId: string;
  /** AWS_ENDPOINT_URL, AWS_REGION, credentials, STATE_TABLE_NAME, ... */
  env: Record<string, string>;
  /** SDK v3 client configuration for it. */
  clientConfig(): {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** The child's pid (its RSS is not the function's). */
  pid: number;
  stop(): Promise<void>;
}

const host = fileURLToPath(new URL("./sandbox-host.ts", import.meta.url));
/** A rotation function for the sandbox's RotateSecret that leaves every step to the caller (it fails them). */
const rotationLeftToCaller = fileURLToPath(new URL("./rotation-left-to-caller.mjs", import.meta.url));

/** Runs work with the sandbox given, or with one started for it (and stopped after). */
export async function withSandboxProcess<T>(
  given: SandboxProcess | undefined,
  work: (sandbox: SandboxProcess) => Promise<T>,
): Promise<T> {
  if (given) return work(given);
  const sandbox = await startSandboxProcess();
  try {
    return await work(sandbox);
  } finally {
    await sandbox.stop();
  }
}

/**
 * Starts the sandbox in its own Node process, so what a benchmark measures in this process (CPU, heap,
 * peak RSS) is the function's alone, as on Lambda where S3, SQS and DynamoDB are elsewhere.
 */
export async function startSandboxProcess(options: SandboxOptions = {}): Promise<SandboxProcess> {
  // RotateSecret then leaves the pending version for a measured process to run createSecret on.
  const withRotation = { rotationLambda: rotationLeftToCaller, ...options };
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", host, JSON.stringify(withRotation)],
    {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, LOG_LEVEL: "SILENT", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const first = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`the sandbox process exited (${code}) before listening`)));
  });
  const started = JSON.parse(first) as Pick<SandboxProcess, "endpoint" | "region" | "accountId" | "env">;
  return {
    ...started,
    pid: child.pid ?? 0,
    clientConfig: () => ({
      endpoint: started.endpoint,
      region: started.region,
      credentials: {
        accessKeyId: started.env.AWS_ACCESS_KEY_ID!,
        secretAccessKey: started.env.AWS_SECRET_ACCESS_KEY!,
      },
    }),
    stop: async () => {
      child.stdin?.end();
      await exited;
    },
  };
}
