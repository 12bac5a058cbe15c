import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { missingFolderOf, writeFileAtomically } from "../../lib/write-atomically.ts";

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), "vigil-write-atomically-"));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("writeFileAtomically", () => {
  it("replaces the file whole and leaves nothing beside it", async () => {
    const path = join(folder, "state.json");
    await writeFile(path, "old\n");

    await writeFileAtomically(path, "new\n");

    expect(await readFile(path, "utf8")).toBe("new\n");
    expect(await readdir(folder)).toEqual(["state.json"]);
  });

  it("creates the file with the mode asked for", async () => {
    const path = join(folder, "evidence.json");

    await writeFileAtomically(path, "{}\n", { mode: 0o600 });

    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  // The link is removed before the write; O_EXCL (a link planted between the two) is not exercised here.
  it("removes a link left in the .partial's place instead of writing through it, and gives the file its mode", async () => {
    const path = join(folder, "evidence.json");
    const elsewhere = join(folder, "elsewhere.txt");
    await writeFile(elsewhere, "untouched");
    await symlink(elsewhere, `${path}.partial`);

    await writeFileAtomically(path, "{}\n", { mode: 0o600 });

    expect(await readFile(path, "utf8")).toBe("{}\n");
    expect((await lstat(path)).isFile()).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(elsewhere, "utf8")).toBe("untouched");
  });

  it("takes its .partial away when the rename fails, and leaves what was there", async () => {
    // A folder where the file should go: the write beside it succeeds, the rename over it cannot.
    const path = join(folder, "report.html");
    await mkdir(path);
    await writeFile(join(path, "kept.txt"), "kept");

    await expect(writeFileAtomically(path, "<html>")).rejects.toThrow();

    expect(await readdir(folder)).toEqual(["report.html"]);
    expect(await readFile(join(path, "kept.txt"), "utf8")).toBe("kept");
  });

  it("fails with the write's own error when its .partial cannot be replaced", async () => {
    const path = join(folder, "out.json");
    await mkdir(`${path}.partial`);

    await expect(writeFileAtomically(path, "{}")).rejects.toThrow(/^EEXIST: file already exists, open/);
    expect(await readdir(folder)).toEqual(["out.json.partial"]);
  });
});

describe("missingFolderOf", () => {
  it("names the folder a file would be written in when it does not exist, or is a file", async () => {
    await writeFile(join(folder, "a-file"), "");

    expect(await missingFolderOf(join(folder, "state.json"))).toBeUndefined();
    expect(await missingFolderOf(join(folder, "missing", "state.json"))).toBe(join(folder, "missing"));
    expect(await missingFolderOf(join(folder, "a-file", "state.json"))).toBe(join(folder, "a-file"));
  });
});
