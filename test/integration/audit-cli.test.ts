import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "../../cli/commands/status.ts";
import { who } from "../../cli/commands/who.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { ensureBuilt } from "../helpers/built.ts";

const run = promisify(execFile);
const APP_KEY = "ASIATRADINGAPP000001";
const INTRUDER_KEY = "AKIAINTRUDER00000001";
let sandbox: Sandbox;
let appArn: string;
let dbArn: string;
let trailDir: string;

/** A stream that keeps what is written to it. */
function sink(): Writable & { text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(stream, { text: () => chunks.join("") });
}

const clients = () => ({
  secretsManager: () => new SecretsManagerClient(sandbox.clientConfig()),
  cloudTrail: () => new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 }),
});

beforeAll(async () => {
  sandbox = await startSandbox({
    identities: [
      {
        accessKeyId: APP_KEY,
        type: "AssumedRole",
        name: "trading-app",
        sessionName: "task-1",
        sourceIp: "10.0.1.15",
      },
      { accessKeyId: INTRUDER_KEY, type: "IAMUser", name: "build-bot", sourceIp: "192.0.2.44" },
    ],
  });
  const admin = new SecretsManagerClient(sandbox.clientConfig());
  appArn = (
    await admin.send(
      new CreateSecretCommand({ Name: "algo-trade/prod/app", SecretString: '{"token":"t0ken-value"}' }),
    )
  ).ARN!;
  dbArn = (
    await admin.send(
      new CreateSecretCommand({
        Name: "algo-trade/prod/db",
        SecretString: '{"engine":"postgres"}',
        Tags: [{ Key: "vigil:rotation", Value: "postgres-single" }],
      }),
    )
  ).ARN!;
  // A rotation that stopped after createSecret: a version labelled only AWSPENDING.
  await admin.send(
    new PutSecretValueCommand({
      SecretId: dbArn,
      SecretString: '{"engine":"postgres"}',
      VersionStages: ["AWSPENDING"],
    }),
  );
  const app = new SecretsManagerClient(sandbox.clientConfig(APP_KEY));
  for (let read = 0; read < 3; read++)
    await app.send(new GetSecretValueCommand({ SecretId: "algo-trade/prod/app" }));
  await new SecretsManagerClient(sandbox.clientConfig(INTRUDER_KEY)).send(
    new GetSecretValueCommand({ SecretId: appArn }),
  );
  sandbox.injectCloudTrailRecords([
    {
      eventTime: new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      eventSource: "secretsmanager.amazonaws.com",
      eventName: "RotationFailed",
      eventType: "AwsServiceEvent",
      userIdentity: { accountId: sandbox.accountId, invokedBy: "secretsmanager.amazonaws.com" },
      additionalEventData: { SecretId: dbArn },
      errorCode: "InternalFailure",
      errorMessage: "testSecret failed",
    },
  ]);
  trailDir = await mkdtemp(join(tmpdir(), "vigil-who-"));
  await sandbox.writeTrailFiles(trailDir);
});

afterAll(async () => {
  await sandbox?.stop();
  if (trailDir) await rm(trailDir, { recursive: true, force: true });
});

describe("vigil who", () => {
  it("groups the secret's calls by principal and origin from LookupEvents", async () => {
    const output = sink();

    const report = await who(
      { secretId: "algo-trade/prod/app", since: "1d", region: undefined, format: "table", trail: [] },
      { ...clients(), output, now: () => new Date() },
    );

    const reads = report.rows.filter((row) => row.eventName === "GetSecretValue");
    expect(reads.map((row) => [row.principal, row.origin, row.count])).toEqual([
      [`arn:aws:iam::${sandbox.accountId}:role/trading-app`, "10.0.1.15", 3],
      [`arn:aws:iam::${sandbox.accountId}:user/build-bot`, "192.0.2.44", 1],
    ]);
    expect(reads[0]?.sessions).toEqual(["task-1"]);
    const lines = output.text().trimEnd().split("\n");
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/^algo-trade\/prod\/app: \d+ event\(s\) from /);
  });

  it("gives the same answer from trail files, one JSON object per line", async () => {
    const output = sink();

    await who(
      { secretId: appArn, since: "1d", region: undefined, format: "json", trail: [trailDir] },
      { ...clients(), output, now: () => new Date() },
    );

    const rows = output
      .text()
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(rows.filter((row) => row.eventName === "GetSecretValue").map((row) => row.count)).toEqual([3, 1]);
  });
});

describe("vigil status", () => {
  it("shows each secret's strategy, stale pending version and last failure within 80 columns", async () => {
    const output = sink();
    const errors = sink();
    const inTwoDays = new Date(Date.now() + 2 * 86_400_000);

    const report = await status(
      { format: "table", policyPath: undefined, region: undefined },
      { ...clients(), output, errors, now: () => inTwoDays },
    );

    const db = report.secrets.find((secret) => secret.name === "algo-trade/prod/db");
    expect(db).toMatchObject({ strategy: "postgres-single", managed: true, rotationEnabled: false });
    expect(db?.pending?.stale).toBe(true);
    expect(db?.lastFailure).toMatchObject({ event: "RotationFailed", error: "testSecret failed" });
    const text = output.text();
    expect(text).toMatch(/algo-trade\/prod\/db\s+postgres-single\s+never\s+-\s+disabled,/);
    expect(
      Math.max(
        ...text
          .trimEnd()
          .split("\n")
          .map((line) => line.length),
      ),
    ).toBeLessThanOrEqual(80);
    expect(errors.text()).toBe("");
  });
});

describe("the built CLI", () => {
  it("answers bad input with one line and exit code 2", async () => {
    const cli = await ensureBuilt("dist/cli/main.mjs", ["cli", "functions", "lib"]);

    const failure = await run(
      process.execPath,
      [join(cli, "..", "vigil.mjs"), "who", "--secret", "x", "--trail", join(trailDir, "missing")],
      {
        env: { ...process.env, ...sandbox.env },
      },
    ).catch((error: { code: number; stderr: string }) => error);

    expect(failure).toMatchObject({
      code: 2,
      stderr: `vigil: --trail: ${join(trailDir, "missing")} does not exist\n`,
    });
  });
});

describe("vigil scan", () => {
  it("draws its progress bar and the findings table on a terminal, from the built CLI", async () => {
    const cli = await ensureBuilt("dist/cli/main.mjs", ["cli", "functions", "lib"]);
    // Beside the sandbox's trail files, a folder of its own with one certain finding: logging stopped.
    const own = await mkdtemp(join(tmpdir(), "vigil-scan-tty-"));
    const stopped = join(own, "stop-logging.json");
    const record = {
      eventVersion: "1.09",
      userIdentity: { type: "IAMUser", arn: "arn:aws:iam::111122223333:user/bob", accountId: "111122223333" },
      eventTime: "2026-11-26T14:00:00Z",
      eventSource: "cloudtrail.amazonaws.com",
      eventName: "StopLogging",
      awsRegion: "us-east-1",
      sourceIPAddress: "198.51.100.7",
      requestParameters: { name: "main-trail" },
      eventID: "5f1e0000-0000-4000-8000-000000000001",
      eventType: "AwsApiCall",
      recipientAccountId: "111122223333",
    };
    await writeFile(stopped, JSON.stringify({ Records: [record] }));
    const command = [process.execPath, join(cli, "..", "vigil.mjs"), "scan", trailDir, own]
      .map((word) => JSON.stringify(word))
      .join(" ");

    // script (util-linux) runs it on a pseudo-terminal, as from a person's shell; -e keeps its exit code.
    const result = await run("script", ["-qec", command, "/dev/null"])
      .catch((error: { code: number; stdout: string }) => error)
      .finally(() => rm(own, { recursive: true, force: true }));

    expect(result.stdout).toContain("scanning");
    expect(result.stdout).toMatch(/│ critical +│ trail-tampering +│/);
    expect(result.stdout).toMatch(/Scanned \d+ file\(s\)/);
    expect(result.stdout).not.toContain("vigil: unexpected error");
  });
});
