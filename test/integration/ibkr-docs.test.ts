// docs/ibkr.md's sandbox recipe, run as written: its first block starts `vigil sandbox`, its second runs in
// another shell (bash, the AWS CLI, the built `vigil`) from the same folder.
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, root } from "../helpers/built.ts";

const SOURCES = ["functions", "lib", "cli", "local"];
let folder: string;

/** The shell blocks of one `## ` section of a markdown file, in order. */
function shellBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  const end = markdown.indexOf("\n## ", start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!.trim());
}

beforeAll(async () => {
  await ensureBuilt("dist/cli/vigil.mjs", SOURCES);
  await ensureBuilt("dist/rotate/index.mjs", SOURCES);
  // A newcomer's checkout: the recipe's relative paths (dist/, .vigil/) resolve in this folder.
  folder = await mkdtemp(join(tmpdir(), "vigil-ibkr-docs-"));
  await symlink(join(root, "dist"), join(folder, "dist"));
});

afterAll(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe("docs/ibkr.md", () => {
  it("rotates an IBKR secret in the sandbox exactly as 'Try it against the sandbox' says", async () => {
    // Arrange: the first block in one process, until it is ready
    const [start, second] = shellBlocks(
      readFileSync(join(root, "docs/ibkr.md"), "utf8"),
      "Try it against the sandbox",
    );
    expect(start).toBe("node dist/cli/vigil.mjs sandbox");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: folder };
    const sandbox = spawn(process.execPath, ["dist/cli/vigil.mjs", "sandbox"], {
      cwd: folder,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => sandbox.on("exit", resolve));
    let printed = "";
    let complained = "";
    sandbox.stderr.on("data", (chunk: Buffer) => {
      complained += chunk.toString("utf8");
    });
    await new Promise<void>((resolve, reject) => {
      sandbox.stdout.on("data", (chunk: Buffer) => {
        printed += chunk.toString("utf8");
        if (printed.includes("Ctrl-C")) resolve();
      });
      sandbox.on("exit", (code) =>
        reject(new Error(`vigil sandbox exited (${code}) before it was ready: ${complained.trim()}`)),
      );
    });

    try {
      // Act: the second block in a shell of its own
      const shell = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          "bash",
          ["-e", "-c", second!],
          { cwd: folder, env, timeout: 90_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
        ),
      );

      // Assert
      expect(shell.stderr).toBe("");
      expect(shell.code).toBe(0);
      expect(shell.stdout).toContain("Rotated: algo-trade/paper/ibkr AWSCURRENT is now version");
      expect(shell.stdout).not.toContain("N3w-Passw0rd-2026");
      expect(printed).toMatch(/rotation FAILED: algo-trade\/paper\/ibkr at createSecret: IBKR rotation due/);
      expect(printed).toMatch(/rotation succeeded: algo-trade\/paper\/ibkr/);
    } finally {
      sandbox.kill("SIGINT");
      expect(await exited).toBe(0);
    }
  });
});
