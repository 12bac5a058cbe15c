import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

/** Where `vigil sandbox` (and `vigil demo --keep`) write the sandbox's environment by default. */
export const defaultSandboxEnvFile = ".vigil/sandbox.env";

/** The comment line naming the process whose sandbox the file describes. */
const ownerLine = /^# vigil-sandbox-pid: (\d+)$/m;

/** A POSIX shell file exporting `env`: `export NAME='value'`, one a line, single-quoted. */
export function sandboxEnvFileText(env: Readonly<Record<string, string>>, ownerPid = process.pid): string {
  const quote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;
  const lines = Object.entries(env).map(([name, value]) => `export ${name}=${quote(value)}`);
  return [
    "# Written by Vigil for a running sandbox (local only; the credentials are dummies).",
    `# vigil-sandbox-pid: ${ownerPid}`,
    ...lines,
    "",
  ].join("\n");
}

/** The pid recorded in an env file, or undefined when the file is missing or has none. */
async function ownerOf(path: string): Promise<number | undefined> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  const match = text === undefined ? null : ownerLine.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** True when `pid` is a running process (signal 0 checks without sending anything). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Writes the sandbox's environment (endpoint, region, dummy credentials, ...) to `path` so that
 * `source <path>` makes the AWS CLI and SDK talk to the sandbox; returns the absolute path written.
 * When `path` describes another sandbox that is still running, that file is left alone and the
 * environment goes to `sandbox-<pid>.env` beside it, so two sandboxes never point one file at each other.
 */
export async function writeSandboxEnvFile(
  env: Readonly<Record<string, string>>,
  path: string = defaultSandboxEnvFile,
): Promise<string> {
  let absolute = resolve(path);
  const owner = await ownerOf(absolute);
  if (owner !== undefined && owner !== process.pid && isRunning(owner)) {
    absolute = join(dirname(absolute), `${basename(absolute, ".env")}-${process.pid}.env`);
  }
  await mkdir(dirname(absolute), { recursive: true });
  await writeFile(absolute, sandboxEnvFileText(env), { mode: 0o600 });
  return absolute;
}

/** Removes the env file of a sandbox that has stopped, unless another running sandbox has since written it. */
export async function removeSandboxEnvFile(path: string = defaultSandboxEnvFile): Promise<void> {
  const absolute = resolve(path);
  const owner = await ownerOf(absolute);
  if (owner !== undefined && owner !== process.pid && isRunning(owner)) return;
  await rm(absolute, { force: true });
}

/** The line telling a person how to use the file, e.g. "source .vigil/sandbox.env". */
export function sourceCommand(path: string = defaultSandboxEnvFile): string {
  return `source ${/^[\w./-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`}`;
}
