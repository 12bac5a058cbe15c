import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** The manifest's name in the evidence folder; `sha256sum -c SHA256SUMS` checks the folder against it. */
export const MANIFEST_NAME = "SHA256SUMS";

/** SHA-256 of some bytes, as lower-case hex. */
export function sha256Hex(content: string | Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

/** The manifest text in `sha256sum`'s format ("<hex>  <name>", one file a line, sorted by name). */
export function manifestText(files: ReadonlyMap<string, string | Buffer>): string {
  return [...files.keys()]
    .sort()
    .map((name) => `${sha256Hex(files.get(name)!)}  ${name}\n`)
    .join("");
}

/** The manifest of every file in `dir` but the manifest itself. */
export async function folderManifest(dir: string): Promise<string> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile() && entry.name !== MANIFEST_NAME && !entry.name.endsWith(".partial"))
    .map((entry) => entry.name);
  const files = new Map<string, Buffer>();
  for (const name of names) files.set(name, await readFile(join(dir, name)));
  return manifestText(files);
}

/** Checks a folder against its manifest: the names of files that differ, are missing or are not listed. */
export async function verifyFolder(dir: string): Promise<string[]> {
  const listed = parseManifest(await readFile(join(dir, MANIFEST_NAME), "utf8"));
  const actual = parseManifest(await folderManifest(dir));
  const problems: string[] = [];
  for (const [name, hash] of listed) {
    if (!actual.has(name)) problems.push(`${name}: missing`);
    else if (actual.get(name) !== hash) problems.push(`${name}: changed`);
  }
  for (const name of actual.keys()) if (!listed.has(name)) problems.push(`${name}: not in the manifest`);
  return problems;
}

function parseManifest(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match) entries.set(match[2]!, match[1]!);
  }
  return entries;
}
