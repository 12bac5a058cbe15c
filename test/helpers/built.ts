// Builds the bundles (scripts/build.mjs) when one is missing or older than the sources it comes from.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const root = new URL("../..", import.meta.url).pathname;

function newestFile(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((entry) =>
      entry.isDirectory() ? newestFile(join(dir, entry.name)) : statSync(join(dir, entry.name)).mtimeMs,
    ),
  );
}

/** Returns the bundle's path (relative to the repository), after building it if any source is newer. */
export async function ensureBuilt(bundle: string, sources: readonly string[]): Promise<string> {
  const path = join(root, bundle);
  const newest = Math.max(...sources.map((source) => newestFile(join(root, source))));
  if (!existsSync(path) || statSync(path).mtimeMs < newest) {
    await run(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
  }
  return path;
}
