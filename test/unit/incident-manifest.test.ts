import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { folderManifest, MANIFEST_NAME, manifestText, verifyFolder } from "../../incident/manifest.ts";

const run = promisify(execFile);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vigil-manifest-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("manifestText", () => {
  it("lists each file's SHA-256 in sha256sum's format, sorted by name", () => {
    expect(
      manifestText(
        new Map([
          ["b.txt", "b"],
          ["a.txt", ""],
        ]),
      ),
    ).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.txt\n" +
        "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  b.txt\n",
    );
  });
});

describe("folderManifest and verifyFolder", () => {
  it("writes a manifest that sha256sum -c accepts and that catches a changed, missing or added file", async () => {
    await writeFile(join(dir, "evidence.json"), '{"a":1}\n');
    await writeFile(join(dir, "timeline.md"), "# t\n");
    await writeFile(join(dir, MANIFEST_NAME), await folderManifest(dir));

    const checked = await run("sha256sum", ["-c", MANIFEST_NAME], { cwd: dir });
    expect(checked.stdout).toBe("evidence.json: OK\ntimeline.md: OK\n");
    expect(await verifyFolder(dir)).toEqual([]);

    await writeFile(join(dir, "evidence.json"), '{"a":2}\n');
    await writeFile(join(dir, "extra.txt"), "x");
    expect(await verifyFolder(dir)).toEqual(["evidence.json: changed", "extra.txt: not in the manifest"]);
    await rm(join(dir, "timeline.md"));
    expect(await verifyFolder(dir)).toContain("timeline.md: missing");
  });
});
