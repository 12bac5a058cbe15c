import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { pathToFileURL } from "node:url";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutResourcePolicyCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import Table from "cli-table3";
import { SCRIPTED_STAGE_OPTIONS, stageIbkrCredentials } from "../cli/commands/ibkr-stage.ts";
import { describeError } from "../lib/errors.ts";
import { startMariaDb, type ThrowawayMariaDb } from "./databases/mariadb.ts";
import { startPostgres, type ThrowawayPostgres } from "./databases/postgres.ts";
import { findExecutable } from "./databases/process.ts";
import { SandboxError } from "./errors.ts";
import type { PagerDutyEventRecord, PagerDutyIncident } from "./pagerduty.ts";
import { type Sandbox, type SandboxIdentity, startSandbox } from "./sandbox.ts";

/**
 * `npm start`: the whole loop on one machine. Throwaway PostgreSQL (and MariaDB when installed), the
 * sandbox, the real built rotate and notify bundles; seeds database and IBKR secrets, rotates them
 * through RotateSecret, replays hostile access, delivers the outcomes through the notifier and prints
 * what was rotated and paged.
 */

const ROTATE_BUNDLE = resolve("dist/rotate/index.mjs");
const NOTIFY_BUNDLE = resolve("dist/notify/index.mjs");
const ROTATION_LAMBDA_ARN = "arn:aws:lambda:us-east-1:111122223333:function:vigil-demo-rotate";
const IBKR_ACCOUNT = "DU1234567";
// PagerDuty integration keys of the two demo services; the sandbox records keys by their last 4 characters.
const PAGING_KEY = "R0123456789ABCDEF0123456789APAGE";
const LOW_URGENCY_KEY = "L0123456789ABCDEF0123456789ALOWU";
const serviceName = (maskedKey: string | undefined) =>
  maskedKey === `…${PAGING_KEY.slice(-4)}`
    ? "the paging service"
    : maskedKey === `…${LOW_URGENCY_KEY.slice(-4)}`
      ? "the low-urgency service"
      : `service ${maskedKey ?? "?"}`;

const identities = {
  developer: { accessKeyId: "AKIAVIGILDEMOADMIN01", type: "IAMUser", name: "platform-admin" },
  rotation: {
    accessKeyId: "ASIAVIGILROTATION001",
    type: "AssumedRole",
    name: "vigil-demo-rotate",
    sessionName: "vigil-demo-rotate",
    userAgent: "vigil-rotate aws-sdk-js/3",
  },
  notifier: {
    accessKeyId: "ASIAVIGILNOTIFIER001",
    type: "AssumedRole",
    name: "vigil-demo-notify",
    sessionName: "vigil-demo-notify",
  },
  application: {
    accessKeyId: "ASIAVIGILORDERROUTER",
    type: "AssumedRole",
    name: "order-router",
    sessionName: "i-0123456789abcdef0",
    sourceIp: "10.0.1.15",
  },
  intruder: {
    accessKeyId: "AKIAVIGILCONTRACTOR1",
    type: "IAMUser",
    name: "contractor-laptop",
    sourceIp: "203.0.113.50",
    userAgent: "curl/8.5.0",
  },
} satisfies Record<string, SandboxIdentity>;

export interface DemoOptions {
  /** Print the functions' JSON logs too. */
  verbose: boolean;
  /** Keep the sandbox running afterwards (Ctrl-C stops it). */
  keep: boolean;
}

type Say = (line: string) => void;

interface RotationRow {
  secret: string;
  strategy: string;
  outcome: string;
  detail: string;
}

/** Runs the demo; returns the process exit code (0 when every expected outcome happened). */
export async function runDemo(
  options: DemoOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const say: Say = (line) => out.write(`${line}\n`);
  for (const bundle of [ROTATE_BUNDLE, NOTIFY_BUNDLE]) {
    if (!existsSync(bundle)) throw new SandboxError(`${bundle} is missing: run \`npm run build\` first`);
  }
  if (!options.verbose) process.env.LOG_LEVEL = "SILENT";

  const work = await mkdtemp(join(tmpdir(), "vigil-demo-"));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(work, { recursive: true, force: true })];
  let failures = 0;
  const rows: RotationRow[] = [];
  try {
    say("Vigil demo: everything below runs on 127.0.0.1, no AWS account involved.\n");

    say("▸ starting throwaway database servers (TLS, password authentication)");
    const postgres = await startPostgres({ tls: true });
    cleanups.push(() => postgres.stop());
    say(`  PostgreSQL on 127.0.0.1:${postgres.port}`);
    let mariadb: ThrowawayMariaDb | undefined;
    if (await findExecutable("mariadbd")) {
      mariadb = await startMariaDb({ tls: true });
      cleanups.push(() => (mariadb as ThrowawayMariaDb).stop());
      say(`  MariaDB on 127.0.0.1:${mariadb.port}`);
    } else {
      say("  MariaDB not installed (Debian package mariadb-server): skipping the MySQL rotation");
    }
    const caBundle = join(work, "ca-bundle.pem");
    await writeFile(caBundle, [postgres.tls?.caPem, mariadb?.tls?.caPem].filter(Boolean).join("\n"));

    say("▸ starting the sandbox (Secrets Manager, CloudTrail, SQS, SNS, PagerDuty, IB Gateway)");
    const sandbox = await startSandbox({
      identities: Object.values(identities),
      rotationLambda: ROTATE_BUNDLE,
      ibGateway: { accounts: [IBKR_ACCOUNT] },
      snsTopics: ["vigil-demo-alerts"],
      sqsQueues: ["vigil-demo-findings"],
      rotationTimeoutMs: 60_000,
    });
    cleanups.push(() => sandbox.stop());
    say(`  ${sandbox.endpoint}  (IB Gateway peer on ${sandbox.ibGateway?.host}:${sandbox.ibGateway?.port})`);
    const queueUrl = sandbox.sqsQueues().find((queue) => queue.name === "vigil-demo-findings")!.url;
    const topicArn = `arn:aws:sns:${sandbox.region}:${sandbox.accountId}:vigil-demo-alerts`;

    // The functions run in this process and build their SDK clients from its environment, as on Lambda.
    Object.assign(process.env, sandbox.env, {
      AWS_ACCESS_KEY_ID: identities.rotation.accessKeyId,
      AWS_SECRET_ACCESS_KEY: "sandbox",
      FINDINGS_QUEUE_URL: queueUrl,
      DB_CA_BUNDLE_PATH: caBundle,
      ALERTS_TOPIC_ARN: topicArn,
      PAGERDUTY_ROUTING_KEY_SECRET_ID: "vigil/demo/pagerduty",
      PAGERDUTY_LOW_URGENCY_ROUTING_KEY_SECRET_ID: "vigil/demo/pagerduty-low-urgency",
    });
    const admin = new SecretsManagerClient(sandbox.clientConfig(identities.developer.accessKeyId));
    await admin.send(
      new CreateSecretCommand({
        Name: "vigil/demo/pagerduty",
        SecretString: PAGING_KEY,
      }),
    );
    await admin.send(
      new CreateSecretCommand({
        Name: "vigil/demo/pagerduty-low-urgency",
        SecretString: JSON.stringify({ routing_key: LOW_URGENCY_KEY }),
      }),
    );

    const secrets = await seedSecrets(admin, sandbox, postgres, mariadb);
    say("▸ seeded secrets: " + Object.values(secrets).filter(Boolean).join(", "));

    say("\n▸ rotating database credentials through RotateSecret -> the rotate bundle's four steps");
    rows.push(await rotateDatabase(admin, sandbox, secrets.postgres, "postgres-single", postgres, say));
    if (mariadb && secrets.mariadb) {
      rows.push(await rotateDatabase(admin, sandbox, secrets.mariadb, "mysql-alternating", mariadb, say));
    }

    say("\n▸ IBKR: the scheduled rotation finds nothing staged and asks Trading Ops to act");
    rows.push(await rotate(admin, sandbox, secrets.ibkr, "ibkr (unstaged)", say));
    say("\n▸ delivering the findings queue through the notify bundle (PagerDuty + SNS)");
    await deliverFindings(sandbox, queueUrl, say);
    say("\n▸ IBKR: Trading Ops changed the password in the portal and runs `vigil ibkr stage`");
    rows.push(await stageIbkr(admin, sandbox, secrets.ibkr, say));

    say("\n▸ replaying hostile access (recorded in CloudTrail)");
    await hostileAccess(sandbox, secrets.ibkr, say);

    say("\n▸ delivering the findings queue through the notify bundle (PagerDuty + SNS)");
    await deliverFindings(sandbox, queueUrl, say);

    failures = rows.filter((row) => row.outcome === "unexpected").length;
    printSummary(sandbox, rows, say);
    if (options.keep) {
      say(`\nSandbox still running on ${sandbox.endpoint}; press Ctrl-C to stop.`);
      await new Promise<void>((done) => process.once("SIGINT", () => done()));
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
  return failures === 0 ? 0 : 1;
}

async function seedSecrets(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  postgres: ThrowawayPostgres,
  mariadb: ThrowawayMariaDb | undefined,
): Promise<{ postgres: string; mariadb?: string; ibkr: string }> {
  const pg = await postgres.connect();
  await pg.query("CREATE ROLE trading_app LOGIN PASSWORD 'Initial-Pg-Password-1'");
  await pg.end();
  await admin.send(
    new CreateSecretCommand({
      Name: "algo-trade/demo/postgres",
      SecretString: JSON.stringify({
        engine: "postgres",
        host: "127.0.0.1",
        port: postgres.port,
        username: "trading_app",
        password: "Initial-Pg-Password-1",
        dbname: "postgres",
      }),
    }),
  );
  let mariadbSecret: string | undefined;
  if (mariadb) {
    const master = await admin.send(
      new CreateSecretCommand({
        Name: "algo-trade/demo/mariadb-admin",
        SecretString: JSON.stringify({
          engine: "mariadb",
          host: "127.0.0.1",
          port: mariadb.port,
          username: mariadb.adminUser,
          password: mariadb.adminPassword,
        }),
      }),
    );
    const connection = await mariadb.connect();
    await connection.query("CREATE DATABASE orders");
    await connection.query("CREATE USER 'order_writer'@'%' IDENTIFIED BY 'Initial-Maria-Password-1'");
    await connection.query("GRANT SELECT, INSERT, UPDATE ON orders.* TO 'order_writer'@'%'");
    await connection.end();
    await admin.send(
      new CreateSecretCommand({
        Name: "algo-trade/demo/mariadb",
        SecretString: JSON.stringify({
          engine: "mariadb",
          host: "127.0.0.1",
          port: mariadb.port,
          username: "order_writer",
          password: "Initial-Maria-Password-1",
          dbname: "orders",
          masterarn: master.ARN,
        }),
      }),
    );
    mariadbSecret = "algo-trade/demo/mariadb";
  }
  await admin.send(
    new CreateSecretCommand({
      Name: "algo-trade/demo/ibkr",
      SecretString: JSON.stringify({
        username: "demotrader",
        password: "Initial-Ibkr-1",
        account: IBKR_ACCOUNT,
        host: sandbox.ibGateway!.host,
        port: sandbox.ibGateway!.port,
        paper: true,
        client_id: 7,
      }),
    }),
  );
  return {
    postgres: "algo-trade/demo/postgres",
    ...(mariadbSecret ? { mariadb: mariadbSecret } : {}),
    ibkr: "algo-trade/demo/ibkr",
  };
}

/** RotateSecret with the demo's rotation function; the sandbox drives the four steps before answering. */
async function rotate(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  secretId: string,
  label: string,
  say: Say,
): Promise<RotationRow> {
  try {
    await admin.send(
      new RotateSecretCommand({
        SecretId: secretId,
        RotationLambdaARN: ROTATION_LAMBDA_ARN,
        RotationRules: { AutomaticallyAfterDays: 30 },
      }),
    );
  } catch (error) {
    say(`  ${secretId}: RotateSecret refused: ${describeError(error)}`);
  }
  await sandbox.rotationsSettled();
  const record = sandbox
    .rotations()
    .filter((rotation) => rotation.secretArn.includes(`:secret:${secretId}-`))
    .at(-1);
  const steps = record?.steps
    .map((step) => `${step.step} ${step.ok ? "✔" : "✘"} ${step.durationMs} ms`)
    .join(", ");
  const failed = record?.failure ? `failed at ${record.failure.step}: ${record.failure.message}` : "";
  say(`  ${secretId} [${label}]: ${record?.status ?? "not started"}${steps ? ` (${steps})` : ""}`);
  if (failed) say(`    ${failed}`);
  const expectedFailure = label.includes("unstaged");
  const ok = expectedFailure ? record?.status === "failed" : record?.status === "succeeded";
  return {
    secret: secretId,
    strategy: label,
    outcome: ok ? (expectedFailure ? "failed as expected" : "rotated") : "unexpected",
    detail: failed || (steps ?? ""),
  };
}

async function rotateDatabase(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  secretId: string,
  strategy: string,
  server: ThrowawayPostgres | ThrowawayMariaDb,
  say: Say,
): Promise<RotationRow> {
  const row = await rotate(admin, sandbox, secretId, strategy, say);
  if (row.outcome !== "rotated") return row;
  const current = JSON.parse(
    (await admin.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString ?? "{}",
  ) as { username: string; password: string };
  const previous = JSON.parse(
    (await admin.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: "AWSPREVIOUS" })))
      .SecretString ?? "{}",
  ) as { username: string; password: string };
  const logsIn = async (login: { username: string; password: string }) => {
    try {
      const connection = await server.connect({ user: login.username, password: login.password });
      await connection.end();
      return true;
    } catch {
      return false;
    }
  };
  const currentWorks = await logsIn(current);
  const previousWorks = await logsIn(previous);
  const expectedPrevious = strategy.endsWith("alternating");
  say(
    `    AWSCURRENT (${current.username}) logs in: ${currentWorks ? "yes" : "NO"}; AWSPREVIOUS (${previous.username}) logs in: ${previousWorks ? "yes" : "no"} (${expectedPrevious ? "kept until the next rotation" : "old password revoked"})`,
  );
  if (!currentWorks || previousWorks !== expectedPrevious) row.outcome = "unexpected";
  return row;
}

async function stageIbkr(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  secretId: string,
  say: Say,
): Promise<RotationRow> {
  const input = new PassThrough();
  input.end("Portal-Changed-2026\n");
  const progress = new PassThrough();
  progress.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) say(`    ${line}`);
  });
  try {
    await stageIbkrCredentials(
      { ...SCRIPTED_STAGE_OPTIONS, secretId },
      {
        secretsManager: admin,
        input,
        output: progress,
        prompts: new PassThrough(),
        sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
        now: () => new Date(),
        operator: () => "trading-ops@demo",
        env: process.env,
      },
    );
  } catch (error) {
    say(`    vigil ibkr stage failed: ${describeError(error)}`);
  }
  await sandbox.rotationsSettled();
  const record = sandbox
    .rotations()
    .filter((rotation) => rotation.secretArn.includes(`:secret:${secretId}-`))
    .at(-1);
  const ok = record?.status === "succeeded";
  return {
    secret: secretId,
    strategy: "ibkr (staged)",
    outcome: ok ? "rotated" : "unexpected",
    detail: ok
      ? `gateway handshake listed ${IBKR_ACCOUNT}; staged password promoted`
      : (record?.failure?.message ?? "no rotation"),
  };
}

async function hostileAccess(sandbox: Sandbox, ibkrSecret: string, say: Say): Promise<void> {
  const intruder = new SecretsManagerClient({
    ...sandbox.clientConfig(identities.intruder.accessKeyId),
    maxAttempts: 1,
  });
  const application = new SecretsManagerClient(sandbox.clientConfig(identities.application.accessKeyId));
  await application.send(new GetSecretValueCommand({ SecretId: ibkrSecret }));
  await intruder.send(new GetSecretValueCommand({ SecretId: ibkrSecret }));
  for (const guess of ["prod/ibkr", "algo-trade/prod/ibkr", "algo-trade/prod/postgres"]) {
    await intruder.send(new GetSecretValueCommand({ SecretId: guess })).catch(() => undefined);
  }
  // Secrets Manager blocks public policies by default; the attempt itself is what the scanner looks for.
  await intruder
    .send(
      new PutResourcePolicyCommand({
        SecretId: ibkrSecret,
        ResourcePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: "*", Action: "secretsmanager:GetSecretValue", Resource: "*" },
          ],
        }),
      }),
    )
    .catch(() => undefined);
  const records = sandbox.cloudTrailRecords();
  const hostile = records.filter((record) =>
    String(record.userIdentity.arn ?? "").includes("contractor-laptop"),
  );
  say(
    `  contractor-laptop (203.0.113.50): ${hostile.length} calls, ${hostile.filter((r) => r.errorCode).length} failed`,
  );
  // A folder of this run's own (kept after the demo), so trail files of earlier runs never mix in.
  const trailDir = await mkdtemp(join(tmpdir(), "vigil-demo-trail-"));
  const files = await sandbox.writeTrailFiles(trailDir);
  say(
    `  ${records.length} CloudTrail records in total, written as trail files under ${trailDir} (${files.length} file(s), kept)`,
  );
  say("  (the CloudTrail scanner that turns these into findings lands with its own issue)");
}

async function deliverFindings(sandbox: Sandbox, queueUrl: string, say: Say): Promise<void> {
  // The notifier's SDK clients are created on first use: let it sign as its own role.
  const rotationKey = process.env.AWS_ACCESS_KEY_ID;
  process.env.AWS_ACCESS_KEY_ID = identities.notifier.accessKeyId;
  const { handler } = (await import(pathToFileURL(NOTIFY_BUNDLE).href)) as {
    handler: (
      event: SQSEvent,
      context: Context,
    ) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
  };
  const sqs = new SQSClient(sandbox.clientConfig(identities.notifier.accessKeyId));
  let delivered = 0;
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) break;
    const records: SQSRecord[] = Messages.map((message) => ({
      messageId: message.MessageId!,
      receiptHandle: message.ReceiptHandle!,
      body: message.Body ?? "",
      attributes: {
        ApproximateReceiveCount: "1",
        SentTimestamp: String(Date.now()),
        SenderId: identities.rotation.accessKeyId,
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: message.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: `arn:aws:sqs:${sandbox.region}:${sandbox.accountId}:vigil-demo-findings`,
      awsRegion: sandbox.region,
    }));
    const started = Date.now();
    const context = { getRemainingTimeInMillis: () => 60_000 - (Date.now() - started) } as Context;
    const { batchItemFailures } = await handler({ Records: records }, context);
    const failed = new Set(batchItemFailures.map((failure) => failure.itemIdentifier));
    for (const message of Messages) {
      if (failed.has(message.MessageId!)) continue;
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
      delivered++;
    }
    if (failed.size > 0) {
      say(`  ${failed.size} message(s) left on the queue for redelivery`);
      break;
    }
  }
  process.env.AWS_ACCESS_KEY_ID = rotationKey;
  say(`  ${delivered} queue message(s) delivered`);
}

const tableStyle = () =>
  process.stdout.isTTY
    ? { head: ["cyan"], border: ["grey"] }
    : { head: [] as string[], border: [] as string[] };

function printSummary(sandbox: Sandbox, rows: RotationRow[], say: Say): void {
  const rotations = new Table({
    head: ["Secret", "Strategy", "Outcome", "Detail"],
    colWidths: [28, 22, 20, 60],
    wordWrap: true,
    style: tableStyle(),
  });
  for (const row of rows) rotations.push([row.secret, row.strategy, row.outcome, row.detail]);
  say(`\nRotations\n${rotations.toString()}`);

  const pages = new Table({
    head: ["Kind", "Action", "Severity", "Summary"],
    colWidths: [8, 10, 10, 82],
    wordWrap: true,
    style: tableStyle(),
  });
  for (const event of sandbox.pagerDutyEvents()) {
    const body = event.body as {
      event_action?: string;
      payload?: { severity?: string; summary?: string };
    };
    pages.push([
      event.kind,
      body.event_action ?? "change",
      body.payload?.severity ?? "-",
      body.payload?.summary ?? describeIncidentAction(event, sandbox.pagerDutyIncidents()),
    ]);
  }
  say(`\nPagerDuty events (${sandbox.pagerDutyEvents().length})\n${pages.toString()}`);
  const incidents = new Table({
    head: ["Incident", "Events", "Summary"],
    colWidths: [12, 8, 90],
    wordWrap: true,
    style: tableStyle(),
  });
  for (const incident of sandbox.pagerDutyIncidents()) {
    const summary = incident.summary.length > 160 ? `${incident.summary.slice(0, 159)}…` : incident.summary;
    incidents.push([incident.status, incident.eventCount, summary]);
  }
  say(`\nPagerDuty incidents (${sandbox.pagerDutyIncidents().length})\n${incidents.toString()}`);

  const sns = new Table({
    head: ["SNS subject", "severity", "rule"],
    colWidths: [70, 10, 26],
    wordWrap: true,
    style: tableStyle(),
  });
  for (const message of sandbox.snsMessages()) {
    const attribute = (name: string) => message.messageAttributes[name]?.StringValue ?? "-";
    sns.push([message.subject ?? "(no subject)", attribute("severity"), attribute("rule")]);
  }
  say(`\nSNS messages (${sandbox.snsMessages().length})\n${sns.toString()}`);
}

/**
 * What an acknowledge or resolve did: PagerDuty accepts one for a dedup_key with no incident on that
 * service and ignores it, so only one that matches an incident closes anything.
 */
function describeIncidentAction(event: PagerDutyEventRecord, incidents: PagerDutyIncident[]): string {
  const { routing_key: routingKey, event_action: action } = event.body as {
    routing_key?: string;
    event_action?: string;
  };
  const incident = incidents.find(
    (candidate) => candidate.dedupKey === event.dedupKey && candidate.routingKey === routingKey,
  );
  if (!incident) return `no incident on ${serviceName(routingKey)} under this dedup_key: ignored`;
  const summary = incident.summary.length > 60 ? `${incident.summary.slice(0, 59)}…` : incident.summary;
  return `${action === "acknowledge" ? "acknowledges" : "closes"} the incident on ${serviceName(routingKey)}: "${summary}"`;
}

/** The demo reads files from the repository root; run it from there. */
export async function assertRepositoryRoot(): Promise<void> {
  const pkg = JSON.parse(await readFile("package.json", "utf8").catch(() => "{}")) as { name?: string };
  if (pkg.name !== "vigil") {
    throw new SandboxError("run the demo from the repository root (where package.json is)");
  }
}
