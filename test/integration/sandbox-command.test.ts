import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  CreateSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  functionHandlersFrom,
  readIdentities,
  SandboxCommandError,
  sandboxOptionsFrom,
} from "../../cli/commands/sandbox.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const exec = promisify(execFile);
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

  it("refuses a region that is not a region, naming --region", async () => {
    await expect(sandboxOptionsFrom({ region: "not a region" })).rejects.toThrow(
      '--region must be an AWS region such as us-east-1, got "not a region"',
    );
  });

  it("refuses an empty account list for the IB Gateway peer", async () => {
    await expect(sandboxOptionsFrom({ ibAccounts: "" })).rejects.toThrow(
      '--ib-accounts must be comma-separated IBKR account ids such as DU1234567, got ""',
    );
  });
});

describe("functionHandlersFrom", () => {
  it("refuses a handler module that does not exist, naming the option", async () => {
    await expect(functionHandlersFrom({ rotationHandler: "nope.mjs" })).rejects.toThrow(
      "--rotation-handler nope.mjs: no such file (expected a module exporting handler)",
    );
  });

  it("runs no function with --no-functions", async () => {
    expect(await functionHandlersFrom({ functions: false, rotationHandler: "nope.mjs" })).toEqual({});
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

/** Runs `vigil sandbox ARGS` until it exits; its exit code and stderr. */
async function sandboxExit(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "cli/vigil.ts", "sandbox", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stderr };
}

describe("vigil sandbox", () => {
  it("exits 2 with one line when --region is not a region", async () => {
    expect(await sandboxExit("--region", "not a region")).toEqual({
      code: 2,
      stderr: 'vigil: --region must be an AWS region such as us-east-1, got "not a region"\n',
    });
  });

  it("exits 2 with one line when --rotation-handler does not exist", async () => {
    expect(await sandboxExit("--rotation-handler", "nope.mjs")).toEqual({
      code: 2,
      stderr: "vigil: --rotation-handler nope.mjs: no such file (expected a module exporting handler)\n",
    });
  });

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
      [
        "--import",
        "tsx",
        "cli/vigil.ts",
        "sandbox",
        "--port",
        "0",
        "--data",
        data,
        "--no-functions",
        "--write-env",
        join(data, "..", `${basename(data)}.env`),
      ],
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

/** Starts `vigil sandbox ARGS` and resolves once it says it is ready; its output so far grows as it prints. */
async function startSandboxCommand(...args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", "cli/vigil.ts", "sandbox", ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => {
    output.stdout += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output.stderr += chunk.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", () => output.stdout.includes("Press Ctrl-C") && resolve());
    child.on("exit", () => reject(new Error(`vigil sandbox exited early: ${output.stdout}${output.stderr}`)));
  });
  return { child, output, exited };
}

/** Polls `check` until it returns a value (a subprocess does its work in its own time). */
async function eventually<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe("vigil sandbox with Vigil's functions inside", () => {
  beforeAll(async () => {
    await exec(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
  }, 180_000);

  it("writes an env file the AWS CLI works with, and pages the sandbox's PagerDuty when a rotation fails", async () => {
    const envFile = join(await tempDirectory(), "sandbox.env");
    const { child, output, exited } = await startSandboxCommand("--write-env", envFile);
    const rotationArn = /as (arn:aws:lambda:\S+) /.exec(output.stdout)?.[1];

    const { stdout } = await exec(
      "bash",
      ["-c", `source '${envFile}' && aws --endpoint-url "$AWS_ENDPOINT_URL" secretsmanager list-secrets`],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "/tmp",
          AWS_CONFIG_FILE: "/dev/null",
          AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        },
      },
    );
    const env = Object.fromEntries(
      [...(await readFile(envFile, "utf8")).matchAll(/^export (\w+)='([^']*)'$/gm)].map((match) => [
        match[1],
        match[2],
      ]),
    );
    const secrets = new SecretsManagerClient({
      endpoint: env.AWS_ENDPOINT_URL,
      region: env.AWS_REGION,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    });
    await secrets.send(
      new CreateSecretCommand({
        Name: "cli/orders-db",
        SecretString: JSON.stringify({
          engine: "postgres",
          host: "127.0.0.1",
          port: 1,
          username: "app",
          password: "old-password-1",
          dbname: "orders",
        }),
      }),
    );
    await secrets.send(
      new RotateSecretCommand({ SecretId: "cli/orders-db", RotationLambdaARN: rotationArn }),
    );
    secrets.destroy();
    const incident = await eventually(async () => {
      const incidents = (await (
        await fetch(`${env.AWS_ENDPOINT_URL}/_sandbox/pagerduty/incidents`)
      ).json()) as {
        summary: string;
      }[];
      return incidents.find((candidate) => candidate.summary.startsWith("Rotation of cli/orders-db failed"));
    }, "the rotation failure's PagerDuty incident");
    await eventually(
      async () => (/PAGE \(/.test(output.stdout) ? true : undefined),
      "the page's console line",
    );
    child.kill("SIGINT");

    expect(rotationArn).toBe("arn:aws:lambda:us-east-1:111122223333:function:vigil-local-rotate");
    expect(
      (JSON.parse(stdout) as { SecretList: { Name: string }[] }).SecretList.map((secret) => secret.Name),
    ).toContain("vigil/local/pagerduty-routing-key");
    expect(incident.summary).toMatch(/^Rotation of cli\/orders-db failed at setSecret/);
    expect(output.stdout).toMatch(/^\d{2}:\d{2}:\d{2} rotation FAILED: cli\/orders-db at setSecret: /m);
    expect(output.stdout).toMatch(
      /^\d{2}:\d{2}:\d{2} PAGE \(\w+\): Rotation of cli\/orders-db failed at setSecret/m,
    );
    expect(output.stdout).not.toContain("old-password-1");
    expect(await exited).toBe(0);
    expect(existsSync(envFile)).toBe(false);
  }, 180_000);
});
