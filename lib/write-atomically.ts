import { rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Writes a file beside its place (`PATH.partial`) and renames it over the target: a reader never sees half
 * a file, and an interrupted write leaves the old one whole. The `.partial` is always a new file (one left
 * by a crash is removed first, and a link found in its place is not followed), so it gets `mode`. A write
 * that fails takes its `.partial` away.
 */
export async function writeFileAtomically(
  path: string,
  content: string,
  options: { mode?: number } = {},
): Promise<void> {
  const partial = `${path}.partial`;
  // One that cannot be removed (a folder) makes the write below fail, saying so.
  await rm(partial, { force: true }).catch(() => undefined);
  try {
    await writeFile(partial, content, { ...options, flag: "wx" });
    await rename(partial, path);
  } catch (error) {
    // What failed is the write's error, not the clean-up's.
    await rm(partial, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * The folder a file is to be written in, when it does not exist (or is not a folder); undefined when it
 * does. Asked before a command's work, so that a run does not end by losing what it was to write.
 */
export async function missingFolderOf(path: string): Promise<string | undefined> {
  const folder = dirname(path);
  const info = await stat(folder).catch(() => undefined);
  return info?.isDirectory() ? undefined : folder;
}
