// A newcomer's first hour, run the way they run it: the built `vigil` (dist/cli/vigil.mjs) in a fresh
// process, on a machine with no AWS configuration (HOME is an empty folder, no AWS_* variables).
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "dist", "cli", "vigil.mjs");
let home: string;

/** Newest modification time of the sources the CLI bundle is built from. */
function newestSource(): number {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return Math.max(
    ...["cli", "lib", "local"].flatMap((dir) => files(join(root, dir))).map((file) => statSync(file).mtimeMs),
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI in cwd with only PATH and an empty HOME, plus env; stdin is empty. */
function vigil(args: string[], env: Record<string, string> = {}, cwd = root): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cli, ...args],
      { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: unknown }).code as number) : 0;
        resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

beforeAll(async () => {
  if (!existsSync(cli) || statSync(cli).mtimeMs < newestSource()) {
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }
  home = await mkdtemp(join(tmpdir(), "vigil-newcomer-home-"));
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("vigil on a machine without AWS configuration", () => {
  it("says in one line that no region is configured, without a stack trace or SDK warning", async () => {
    // Act
    const run = await vigil(["ibkr", "stage", "--secret-id", "algo-trade/prod/ibkr"]);

    // Assert
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "vigil: no AWS region configured: set AWS_REGION (e.g. `export AWS_REGION=us-east-1`) or a region in your AWS profile\n",
    );
  });

  it("shows the stack with --verbose, its frames naming the TypeScript sources", async () => {
    // Act: the demo refuses to run outside the repository
    const run = await vigil(["--verbose", "demo"], {}, home);

    // Assert
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^vigil: run the demo from the repository root/);
    expect(run.stderr).toMatch(/\n {4}at .*local\/demo\.ts:\d+/);
  });
});

describe("vigil --help", () => {
  it.each([[[]], [["demo"]], [["sandbox"]], [["ibkr", "stage"]]])(
    "explains %j with no warning",
    async (command) => {
      // Act
      const run = await vigil([...command, "--help"]);

      // Assert
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: vigil/);
      expect(run.stdout).toContain("--verbose");
      expect(run.stderr).toBe("");
    },
  );
});
