import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  removeSandboxEnvFile,
  sandboxEnvFileText,
  sourceCommand,
  writeSandboxEnvFile,
} from "../../local/sandbox-env.ts";

const env = { AWS_ENDPOINT_URL: "http://127.0.0.1:4566", AWS_REGION: "us-east-1" };
let directory: string;
let running: ChildProcess | undefined;

/** A process that stays alive until the test ends: another sandbox's stand-in. */
function otherProcess(): number {
  running = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  return running.pid!;
}

/** The pid of a process that has already exited. */
async function exitedProcess(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((done) => child.on("exit", done));
  return child.pid!;
}

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "vigil-sandbox-env-"));
});

afterEach(async () => {
  running?.kill();
  running = undefined;
  await rm(directory, { recursive: true, force: true });
});

describe("sandboxEnvFileText", () => {
  it("exports each variable single-quoted and names the owning process", () => {
    const text = sandboxEnvFileText({ A: "it's" }, 42);

    expect(text).toContain("# vigil-sandbox-pid: 42\n");
    expect(text).toContain("export A='it'\\''s'\n");
  });
});

describe("writeSandboxEnvFile", () => {
  it("writes the requested file when nobody else owns it", async () => {
    const path = join(directory, "sandbox.env");

    const written = await writeSandboxEnvFile(env, path);

    expect(written).toBe(path);
    expect(await readFile(path, "utf8")).toContain(`# vigil-sandbox-pid: ${process.pid}`);
  });

  it("leaves a running sandbox's file alone and writes beside it", async () => {
    const path = join(directory, "sandbox.env");
    const other = sandboxEnvFileText({ AWS_ENDPOINT_URL: "http://127.0.0.1:1" }, otherProcess());
    await writeFile(path, other);

    const written = await writeSandboxEnvFile(env, path);

    expect(written).toBe(join(directory, `sandbox-${process.pid}.env`));
    expect(await readFile(path, "utf8")).toBe(other);
    expect(await readFile(written, "utf8")).toContain("http://127.0.0.1:4566");
  });

  it("replaces the file of a sandbox that has exited", async () => {
    const path = join(directory, "sandbox.env");
    await writeFile(
      path,
      sandboxEnvFileText({ AWS_ENDPOINT_URL: "http://127.0.0.1:1" }, await exitedProcess()),
    );

    const written = await writeSandboxEnvFile(env, path);

    expect(written).toBe(path);
    expect(await readFile(path, "utf8")).toContain("http://127.0.0.1:4566");
  });
});

describe("removeSandboxEnvFile", () => {
  it("removes its own file", async () => {
    const path = await writeSandboxEnvFile(env, join(directory, "sandbox.env"));

    await removeSandboxEnvFile(path);

    await expect(readFile(path, "utf8")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("keeps a file another running sandbox wrote since", async () => {
    const path = join(directory, "sandbox.env");
    await writeFile(path, sandboxEnvFileText(env, otherProcess()));

    await removeSandboxEnvFile(path);

    expect(await readFile(path, "utf8")).toContain("vigil-sandbox-pid");
  });
});

describe("sourceCommand", () => {
  it("quotes a path with spaces", () => {
    expect(sourceCommand("my dir/sandbox.env")).toBe("source 'my dir/sandbox.env'");
  });
});
