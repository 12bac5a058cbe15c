import { type ChildProcess, execFile, spawn } from "node:child_process";
import { constants, existsSync } from "node:fs";
import { access, chown, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

/** A user id to run database servers as: PostgreSQL refuses to run as root, and CI runs as root. */
export async function unprivilegedUser(): Promise<{ name: string; uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ["postgres", "nobody"]) {
    try {
      const { stdout } = await exec("id", ["-u", name]);
      const { stdout: gid } = await exec("id", ["-g", name]);
      return { name, uid: Number(stdout.trim()), gid: Number(gid.trim()) };
    } catch {
      // try the next candidate
    }
  }
  throw new Error("running as root and found no unprivileged user (postgres, nobody) to run the server as");
}

/** Makes a temporary directory owned by `owner` (when given). */
export async function tempDir(prefix: string, owner?: { uid: number; gid: number }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (owner) await chown(dir, owner.uid, owner.gid);
  return dir;
}

/** Gives `path` and everything below it to `owner`. */
export async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(path, owner.uid, owner.gid);
  if ((await stat(path)).isDirectory()) {
    for (const entry of await readdir(path)) await chownTree(join(path, entry), owner);
  }
}

/** Runs a command (as `user` when given) and returns its output; the error carries stderr. */
export async function run(
  command: string,
  args: readonly string[],
  user?: string,
): Promise<{ stdout: string; stderr: string }> {
  const [file, argv] = user ? ["runuser", ["-u", user, "--", command, ...args]] : [command, [...args]];
  try {
    return await exec(file, argv, { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${stderr || stdout || String(error)}`);
  }
}

/**
 * Finds a server binary on the PATH or in the sbin folders, which an ordinary user's PATH lacks on
 * Debian (mariadbd is in /usr/sbin). Returns undefined when it is not installed.
 */
export async function findExecutable(name: string): Promise<string | undefined> {
  const folders = [
    ...(process.env.PATH ?? "").split(":").filter(Boolean),
    "/usr/sbin",
    "/usr/local/sbin",
    "/sbin",
  ];
  for (const folder of folders) {
    const candidate = join(folder, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * Starts a long-running server process (as `user` when given) that is killed if this process exits.
 * A failure to start (e.g. a missing binary) is kept on `startError` rather than crashing the process,
 * so that `waitFor` can report it.
 */
export function startDaemon(
  command: string,
  args: readonly string[],
  user?: string,
): ChildProcess & { startError?: Error } {
  const [file, argv] = user ? ["runuser", ["-u", user, "--", command, ...args]] : [command, [...args]];
  const child: ChildProcess & { startError?: Error } = spawn(file, argv, { stdio: "ignore" });
  child.once("error", (error) => {
    child.startError = error;
  });
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  child.once("exit", () => process.off("exit", kill));
  return child;
}

/** Stops a daemon with SIGTERM, then SIGKILL after `timeoutMs`. */
export async function stopDaemon(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Removes a directory tree if it exists. */
export async function removeDir(dir: string): Promise<void> {
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
}

/** Stops a server's daemon and removes its directory: the one way every throwaway server is torn down. */
export async function stopServer(daemon: ChildProcess, dir: string): Promise<void> {
  await stopDaemon(daemon);
  await removeDir(dir);
}

/**
 * Starts a server whose files live in `dir` (`start` reports its daemon through `track`). On any failure it
 * stops the daemon, removes `dir` (which may hold a password file) and says so in the error, or says
 * where it was left and how to remove it.
 */
export async function cleanUpOnFailure<T>(
  what: string,
  dir: string,
  start: (track: (daemon: ChildProcess) => void) => Promise<T>,
): Promise<T> {
  let daemon: ChildProcess | undefined;
  try {
    return await start((started) => {
      daemon = started;
    });
  } catch (error) {
    if (daemon) await stopDaemon(daemon).catch(() => undefined);
    const removed = await removeDir(dir).then(
      () => !existsSync(dir),
      () => false,
    );
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      removed
        ? `${message} (removed ${what}'s temporary directory ${dir})`
        : `${message}; ${what}'s temporary directory ${dir} was left behind: remove it with rm -rf ${dir}`,
      { cause: error },
    );
  }
}

/**
 * Polls `probe` until it resolves, or throws the last error after `timeoutMs`. With `daemon`, fails at
 * once when the server could not start or exited, instead of polling a dead server until the timeout.
 */
export async function waitFor<T>(
  probe: () => Promise<T>,
  timeoutMs: number,
  what: string,
  daemon?: ChildProcess & { startError?: Error },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (daemon?.startError) throw new Error(`${what} could not start: ${daemon.startError.message}`);
    if (daemon && (daemon.exitCode !== null || daemon.signalCode !== null)) {
      throw new Error(
        `${what} exited (${daemon.exitCode ?? daemon.signalCode}) before accepting connections`,
      );
    }
    try {
      return await probe();
    } catch (error) {
      last = error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms: ${String(last)}`);
}
