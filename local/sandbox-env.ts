import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";

/** Where `vigil sandbox` (and `vigil demo --keep`) write the sandbox's environment by default. */
export const defaultSandboxEnvFile = ".vigil/sandbox.env";

/** A POSIX shell file exporting `env`: `export NAME='value'`, one a line, single-quoted. */
export function sandboxEnvFileText(env: Readonly<Record<string, string>>): string {
  const quote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`;
  const lines = Object.entries(env).map(([name, value]) => `export ${name}=${quote(value)}`);
  return `# Written by Vigil for a running sandbox (local only; the credentials are dummies).\n${lines.join("\n")}\n`;
}

/**
 * Writes the sandbox's environment (endpoint, region, dummy credentials, ...) to `path` so that
 * `source <path>` makes the AWS CLI and SDK talk to the sandbox; returns the absolute path.
 */
export async function writeSandboxEnvFile(
  env: Readonly<Record<string, string>>,
  path: string = defaultSandboxEnvFile,
): Promise<string> {
  const absolute = resolve(path);
  await mkdir(dirname(absolute), { recursive: true });
  await writeFile(absolute, sandboxEnvFileText(env), { mode: 0o600 });
  return absolute;
}

/** Removes the env file of a sandbox that has stopped, so nobody sources a dead endpoint. */
export async function removeSandboxEnvFile(path: string = defaultSandboxEnvFile): Promise<void> {
  await rm(resolve(path), { force: true });
}

/** The line telling a person how to use the file, e.g. "source .vigil/sandbox.env". */
export function sourceCommand(path: string = defaultSandboxEnvFile): string {
  return `source ${/^[\w./-]+$/.test(path) ? path : `'${path.replace(/'/g, "'\\''")}'`}`;
}
