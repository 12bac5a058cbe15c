import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { readIdentities, SandboxCommandError, sandboxOptionsFrom } from "../../cli/commands/sandbox.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const directories: string[] = [];

async function tempDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "vigil-sandbox-cli-"));
  directories.push(directory);
  return directory;
}

afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

describe("sandboxOptionsFrom", () => {
  it("maps the command-line options to sandbox options", async () => {
    const options = await sandboxOptionsFrom({
      port: "0",
      ibAccounts: "DU1, DU2",
      lookupRate: "0",
      account: "444455556666",
    });

    expect(options).toMatchObject({
      port: 0,
      accountId: "444455556666",
      lookupEventsPerSecond: 0,
      ibGateway: { accounts: ["DU1", "DU2"] },
    });
  });

  it("refuses a port that is not a port", async () => {
    await expect(sandboxOptionsFrom({ port: "http" })).rejects.toBeInstanceOf(SandboxCommandError);
  });
});

describe("readIdentities", () => {
  it("reads a YAML list of identities", async () => {
    const path = join(await tempDirectory(), "identities.yaml");
    await writeFile(
      path,
      "identities:\n  - accessKeyId: ASIAROTATION00000001\n    type: AssumedRole\n    name: vigil-rotate\n    sessionName: rotation\n",
    );

    expect(await readIdentities(path)).toEqual([
      {
        accessKeyId: "ASIAROTATION00000001",
        type: "AssumedRole",
        name: "vigil-rotate",
        sessionName: "rotation",
      },
    ]);
  });

  it("names the field that is wrong", async () => {
    const path = join(await tempDirectory(), "identities.json");
    await writeFile(path, JSON.stringify([{ accessKeyId: "AKIA1", type: "Robot", name: "x" }]));

    await expect(readIdentities(path)).rejects.toThrow(/0\.type/);
  });
});

describe("vigil sandbox", () => {
  it("exits 2 with one line naming --port when the port is taken", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as AddressInfo;

    const child = spawn(
      process.execPath,
      ["--import", "tsx", "cli/vigil.ts", "sandbox", "--port", String(port)],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    await new Promise((resolve) => taken.close(resolve));

    expect(code).toBe(2);
    expect(stderr).toBe(
      `vigil: --port ${port}: cannot listen on 127.0.0.1:${port} (EADDRINUSE); choose another port, or leave --port out for a free one\n`,
    );
  });

  it("exits 2 at once naming --data when trail files could not be written there", async () => {
    const file = join(await tempDirectory(), "not-a-folder");
    await writeFile(file, "");

    const child = spawn(
      process.execPath,
      ["--import", "tsx", "cli/vigil.ts", "sandbox", "--data", join(file, "trail")],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));

    expect(code).toBe(2);
    expect(stderr).toBe(`vigil: --data ${join(file, "trail")}: cannot write trail files there (ENOTDIR)\n`);
  });

  it("prints the endpoint and exports, serves until SIGINT, then writes trail files and exits 0", async () => {
    const data = await tempDirectory();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "cli/vigil.ts", "sandbox", "--port", "0", "--data", data],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", () => output.includes("Press Ctrl-C") && resolve());
      child.on("exit", () => reject(new Error(`vigil sandbox exited early: ${output}`)));
    });
    const endpoint = /export AWS_ENDPOINT_URL='([^']+)'/.exec(output)?.[1];

    const health = await fetch(`${endpoint}/_sandbox/health`);
    await fetch(endpoint!, {
      method: "POST",
      headers: {
        "x-amz-target": "secretsmanager.ListSecrets",
        "content-type": "application/x-amz-json-1.1",
        authorization:
          "AWS4-HMAC-SHA256 Credential=AKIACOMMANDTEST00001/20261127/us-east-1/secretsmanager/aws4_request",
      },
      body: "{}",
    });
    child.kill("SIGINT");

    expect(health.status).toBe(200);
    expect(output).toMatch(/export AWS_REGION='us-east-1'/);
    expect(output).toMatch(/export PAGERDUTY_EVENTS_URL='http:\/\/127\.0\.0\.1:\d+\/v2\/enqueue'/);
    expect(await exited).toBe(0);
    expect(output).toContain("Sandbox stopped");
    expect(await readdir(data)).toEqual(["AWSLogs"]);
  });
});
