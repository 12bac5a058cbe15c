import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { report } from "../../cli/commands/report.ts";
import type { ComplianceReport } from "../../functions/audit-scan/report/index.ts";
import { type RotationLambda, type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { ensureBuilt, root } from "../helpers/built.ts";
import { textSink as sink } from "../helpers/output.ts";

const run = promisify(execFile);
const DAY = 86_400_000;
const APP_KEY = "ASIATRADINGAPP000001";
const INTRUDER_KEY = "AKIAINTRUDER00000001";
const ROTATOR_KEY = "ASIAVIGILROTATE00001";
let sandbox: Sandbox;
let dir: string;
let policyPath: string;
let ledgerArn: string;
const from = new Date(Date.now() - 60 * DAY).toISOString();
const to = new Date(Date.now() + 3_600_000).toISOString();

const clients = () => ({
  secretsManager: () => new SecretsManagerClient(sandbox.clientConfig()),
  cloudTrail: () => new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 }),
});

function serviceEvent(eventName: string, secretArn: string, atMs: number, error?: string) {
  return {
    eventTime: new Date(atMs).toISOString().replace(/\.\d{3}Z$/, "Z"),
    eventSource: "secretsmanager.amazonaws.com",
    eventName,
    eventType: "AwsServiceEvent",
    userIdentity: { accountId: sandbox.accountId, invokedBy: "secretsmanager.amazonaws.com" },
    additionalEventData: { SecretId: secretArn },
    ...(error ? { errorCode: "InternalFailure", errorMessage: error } : {}),
  };
}

/** The four steps, as the vigil-rotate role: a new AWSPENDING value, then AWSCURRENT moved onto it. */
const rotate: RotationLambda = async (event) => {
  const client = new SecretsManagerClient(sandbox.clientConfig(ROTATOR_KEY));
  if (event.Step === "createSecret") {
    await client.send(
      new PutSecretValueCommand({
        SecretId: event.SecretId,
        ClientRequestToken: event.ClientRequestToken,
        SecretString: '{"password":"second-value"}',
        VersionStages: ["AWSPENDING"],
      }),
    );
  }
  if (event.Step === "finishSecret") {
    const { VersionIdsToStages: stages = {} } = await client.send(
      new DescribeSecretCommand({ SecretId: event.SecretId }),
    );
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: event.SecretId,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: event.ClientRequestToken,
        RemoveFromVersionId: Object.keys(stages).find((id) => stages[id]?.includes("AWSCURRENT")),
      }),
    );
  }
};

beforeAll(async () => {
  sandbox = await startSandbox({
    rotationLambda: rotate,
    identities: [
      { accessKeyId: ROTATOR_KEY, type: "AssumedRole", name: "vigil-rotate", sessionName: "rotation" },
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
  dir = await mkdtemp(join(tmpdir(), "vigil-report-"));
  policyPath = join(dir, "policy.yaml");
  await writeFile(
    policyPath,
    [
      "version: 1",
      `rotationRoles: ["arn:aws:iam::${sandbox.accountId}:role/vigil-rotate"]`,
      "secrets:",
      "  - match: prod/ledger-api",
      "    sensitivity: high",
      "    maxRotationDays: 30",
      `    readers: ["arn:aws:iam::${sandbox.accountId}:role/trading-app"]`,
      '  - match: "prod/*"',
      "    maxRotationDays: 90",
      "",
    ].join("\n"),
  );
  const admin = new SecretsManagerClient(sandbox.clientConfig());
  const orders = await admin.send(
    new CreateSecretCommand({
      Name: "prod/orders-db",
      SecretString: '{"password":"first-value"}',
      Tags: [
        { Key: "vigil:rotation", Value: "postgres-single" },
        { Key: "owner", Value: "payments" },
      ],
    }),
  );
  await admin.send(
    new RotateSecretCommand({
      SecretId: orders.ARN,
      RotationLambdaARN: `arn:aws:lambda:${sandbox.region}:${sandbox.accountId}:function:vigil-rotate`,
      RotationRules: { AutomaticallyAfterDays: 30 },
    }),
  );
  ledgerArn = (
    await admin.send(
      new CreateSecretCommand({
        Name: "prod/ledger-api",
        SecretString: '{"token":"ledger-token"}',
        Tags: [{ Key: "owner", Value: "ledger" }],
      }),
    )
  ).ARN!;
  await admin.send(new CreateSecretCommand({ Name: "prod/reporting-token", SecretString: "r3port" }));
  // The ledger secret last rotated 45 days ago (its policy allows 30); a later attempt failed.
  sandbox.injectCloudTrailRecords([
    serviceEvent("RotationSucceeded", ledgerArn, Date.now() - 45 * DAY),
    serviceEvent("RotationFailed", ledgerArn, Date.now() - 10 * DAY, "testSecret failed"),
  ]);
  const app = new SecretsManagerClient(sandbox.clientConfig(APP_KEY));
  for (let read = 0; read < 3; read++) await app.send(new GetSecretValueCommand({ SecretId: ledgerArn }));
  await new SecretsManagerClient(sandbox.clientConfig(INTRUDER_KEY)).send(
    new GetSecretValueCommand({ SecretId: "prod/ledger-api" }),
  );
});

afterAll(async () => {
  await sandbox?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const row = (built: ComplianceReport, name: string) => built.rotation.find((entry) => entry.name === name);

describe("vigil report against the sandbox", () => {
  it("judges each secret's rotations against the policy and marks the unexpected reader", async () => {
    const out = join(dir, "report.json");
    const output = sink();

    const { report: built } = await report(
      { from, to, policyPath, trail: [], format: "json", out, region: undefined },
      { ...clients(), output, now: () => new Date() },
    );

    expect(row(built, "prod/orders-db")).toMatchObject({
      owner: "payments",
      strategy: "postgres-single",
      maxRotationDays: 90,
      compliance: "compliant",
      daysSinceLast: 0,
    });
    expect(row(built, "prod/orders-db")?.rotations.map((rotation) => rotation.outcome)).toEqual([
      "succeeded",
    ]);
    expect(row(built, "prod/ledger-api")).toMatchObject({
      owner: "ledger",
      sensitivity: "high",
      compliance: "non-compliant",
      daysSinceLast: 45,
      longestGapDays: 45,
      reason: "45 days without a rotation (policy: 30)",
    });
    expect(row(built, "prod/ledger-api")?.rotations.map((rotation) => rotation.outcome)).toEqual([
      "succeeded",
      "failed",
    ]);
    expect(row(built, "prod/reporting-token")).toMatchObject({
      compliance: "non-compliant",
      reason: "never rotated",
      lastRotated: undefined,
    });
    const ledgerReads = built.access.filter((entry) => entry.secret === "prod/ledger-api");
    expect(
      ledgerReads.map((entry) => [entry.principal.split(":").at(-1), entry.reads, entry.unexpected]),
    ).toEqual([
      ["user/build-bot", 1, true],
      ["role/trading-app", 3, false],
    ]);
    expect(ledgerReads[0]?.origins).toEqual(["192.0.2.44"]);
    expect(built.findings.map((finding) => finding.rule)).toContain("unexpected-reader");
    expect(JSON.parse(await readFile(out, "utf8")).totals).toEqual(built.totals);
    expect(output.text()).toContain("3 secret(s), 2 not compliant, 1 unexpected reader(s)");
  });

  it("writes rotation.csv, access.csv and findings.csv as RFC 4180 files", async () => {
    const out = join(dir, "csv");

    await report(
      { from, to, policyPath, trail: [], format: "csv", out, region: undefined },
      { ...clients(), output: sink(), now: () => new Date() },
    );

    expect((await readdir(out)).sort()).toEqual(["access.csv", "findings.csv", "rotation.csv"]);
    const rotation = await readFile(join(out, "rotation.csv"), "utf8");
    expect(rotation.split("\r\n")[0]).toMatch(/^secret,arn,owner,sensitivity,strategy,/);
    expect(rotation).toMatch(/\r\nprod\/reporting-token,[^\r\n]*,non-compliant,never rotated\r\n/);
    const access = await readFile(join(out, "access.csv"), "utf8");
    expect(access).toContain(`prod/ledger-api,arn:aws:iam::${sandbox.accountId}:user/build-bot,IAMUser,1,0,`);
  });

  it("answers bad input with one line and exit code 2, writing nothing", async () => {
    const cli = await ensureBuilt("dist/cli/main.mjs", ["cli", "functions", "lib"]);
    const cwd = await mkdtemp(join(tmpdir(), "vigil-report-bad-"));
    const vigil = (...args: string[]) =>
      run(process.execPath, [join(cli, "..", "vigil.mjs"), "report", ...args], {
        cwd,
        env: { ...process.env, ...sandbox.env },
      }).catch((error: { code: number; stderr: string }) => error);

    const backwards = await vigil("--from", "2026-10-01", "--to", "2026-09-30");
    const badDate = await vigil("--from", "2026-02-30", "--to", "2026-03-31");
    const badFormat = await vigil("--from", "2026-10-01", "--to", "2026-12-31", "--format", "pdf");

    expect(backwards).toMatchObject({
      code: 2,
      stderr: "vigil: --to: the period ends (2026-09-30) before it starts (--from 2026-10-01)\n",
    });
    expect(badDate).toMatchObject({
      code: 2,
      stderr:
        'vigil: --from: expected a date (2026-10-01) or a UTC date-time (2026-10-01T00:00:00Z), got "2026-02-30"\n',
    });
    expect(badFormat).toMatchObject({
      code: 2,
      stderr: 'vigil: --format: expected html, csv or json, got "pdf"\n',
    });
    expect(await readdir(cwd)).toEqual([]);
    await rm(cwd, { recursive: true, force: true });
  });
});

describe("the HTML report in headless Chromium", () => {
  it("renders with no console errors or outside requests, the timelines visible; a screenshot is kept", async () => {
    const out = join(dir, "report.html");
    await report(
      { from, to, policyPath, trail: [], format: "html", out, region: undefined },
      { ...clients(), output: sink(), now: () => new Date() },
    );
    const artefacts = join(root, ".vigil", "artefacts");
    await mkdir(artefacts, { recursive: true });
    const screenshot = join(artefacts, "report-html.png");
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    const problems: string[] = [];
    const requests: string[] = [];
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      page.on("console", (message) => {
        if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
      });
      page.on("pageerror", (error) => problems.push(error.message));
      page.on("request", (request) => requests.push(request.url()));

      await page.goto(`file://${out}`);
      const timeline = page.locator('svg.timeline[data-secret="prod/ledger-api"]');
      const box = await timeline.boundingBox();
      const overdue = await timeline.locator("rect.overdue").boundingBox();
      const rotations = await timeline.locator("circle.rotation").count();
      const unexpected = await page.locator("td.unexpected").allTextContents();
      await page.screenshot({ path: screenshot, fullPage: true });
      await page.emulateMedia({ media: "print" });
      const printedTimelines = await page.locator("svg.timeline").count();

      expect(problems).toEqual([]);
      expect(requests).toEqual([`file://${out}`]);
      expect(box?.width).toBe(640);
      expect(overdue?.width).toBeGreaterThan(0);
      expect(rotations).toBe(2);
      expect(unexpected).toEqual(["NOT EXPECTED"]);
      expect(printedTimelines).toBe(3);
      expect((await stat(screenshot)).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});
