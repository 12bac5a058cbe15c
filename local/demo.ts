import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutResourcePolicyCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { findingOutcomeLines, scanDeliveredTrailFiles } from "../functions/audit-scan/sources/demo-scan.ts";
import { describeError } from "../lib/errors.ts";
import { startMariaDb, type ThrowawayMariaDb } from "./databases/mariadb.ts";
import { startPostgres, type ThrowawayPostgres } from "./databases/postgres.ts";
import { findExecutable } from "./databases/process.ts";
import {
  type DemoHostileAccess,
  type DemoKept,
  type DemoRotation,
  keptLine,
  printStory,
  printTables,
  printWhatNext,
  wrap,
} from "./demo-report.ts";
import { type DemoReport, reportQuarter, respondToIntrusion, responseStory } from "./demo-response.ts";
import { IBKR_ACCOUNT, rotateDatabase, rotateIbkrUnstaged, stageIbkr } from "./demo-rotations.ts";
import { DemoError, SandboxError } from "./errors.ts";
import { type Sandbox, type SandboxIdentity, startSandbox } from "./sandbox.ts";
import { removeSandboxEnvFile, sourceCommand, writeSandboxEnvFile } from "./sandbox-env.ts";

/**
 * `npm start`: the whole loop on one machine. Throwaway PostgreSQL (and MariaDB when installed), the
 * sandbox, the real built rotate and notify bundles; seeds database and IBKR secrets, rotates them
 * through RotateSecret, replays hostile access, delivers the outcomes through the notifier, responds to
 * the intrusion (local/demo-response.ts: the incident module), writes the quarterly compliance report (the
 * report module) and prints what was rotated, paged, done and reported.
 */

const ROTATE_BUNDLE = resolve("dist/rotate/index.mjs");
const NOTIFY_BUNDLE = resolve("dist/notify/index.mjs");
const AUDIT_SCAN_BUNDLE = resolve("dist/audit-scan/index.mjs");
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
  responder: {
    accessKeyId: "ASIAVIGILRESPONDER01",
    type: "AssumedRole",
    name: "security-responder",
    sessionName: "on-call",
  },
} satisfies Record<string, SandboxIdentity>;

export interface DemoOptions {
  /** Print the functions' JSON logs too. */
  verbose: boolean;
  /** Keep the sandbox running afterwards (Ctrl-C stops it). */
  keep: boolean;
}

type Say = (line: string) => void;

/** Runs the demo; returns the process exit code (0 when every expected outcome happened). */
export async function runDemo(
  options: DemoOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const say: Say = (line) => {
    for (const wrapped of wrap(line)) out.write(`${wrapped}\n`);
  };
  for (const bundle of [ROTATE_BUNDLE, NOTIFY_BUNDLE]) {
    if (!existsSync(bundle)) throw new SandboxError(`${bundle} is missing: run \`npm run build\` first`);
  }
  if (!options.verbose) {
    // The functions' JSON logs and metric (EMF) lines are for CloudWatch; the demo prints its own story.
    process.env.LOG_LEVEL = "SILENT";
    process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
  }

  const work = await mkdtemp(join(tmpdir(), "vigil-demo-"));
  // Undone in reverse order, whether the demo succeeds or stops half-way.
  const cleanups: { what: string; run: () => Promise<unknown> }[] = [
    { what: `the demo's temporary folder ${work}`, run: () => rm(work, { recursive: true, force: true }) },
  ];
  const kept: DemoKept[] = [];
  let stage = "starting";
  const begin = (what: string, title: string) => {
    stage = what;
    say(`\n▸ ${title}`);
  };
  let failures = 0;
  const rotations: DemoRotation[] = [];
  let failed: unknown;
  try {
    say("Vigil demo: the whole loop on this machine (127.0.0.1 only, no AWS account).");
    say(
      "It rotates a PostgreSQL, a MariaDB and an IBKR secret, replays an attack, pages, responds to it and writes the quarterly compliance report.",
    );

    begin("starting PostgreSQL", "starting throwaway database servers (TLS, password authentication)");
    const postgres = await startPostgres({ tls: true });
    cleanups.push({ what: "PostgreSQL", run: () => postgres.stop() });
    say(`  PostgreSQL on 127.0.0.1:${postgres.port}`);
    let mariadb: ThrowawayMariaDb | undefined;
    stage = "starting MariaDB";
    if (await findExecutable("mariadbd")) {
      mariadb = await startMariaDb({ tls: true });
      cleanups.push({ what: "MariaDB", run: () => (mariadb as ThrowawayMariaDb).stop() });
      say(`  MariaDB on 127.0.0.1:${mariadb.port}`);
    } else {
      say("  MariaDB not installed (Debian package mariadb-server): skipping the MySQL rotation");
    }
    const caBundle = join(work, "ca-bundle.pem");
    await writeFile(caBundle, [postgres.tls?.caPem, mariadb?.tls?.caPem].filter(Boolean).join("\n"));

    begin(
      "starting the sandbox",
      "starting the sandbox: local Secrets Manager, CloudTrail, SQS, SNS, PagerDuty and an IB Gateway",
    );
    const sandbox = await startSandbox({
      identities: Object.values(identities),
      rotationLambda: ROTATE_BUNDLE,
      ibGateway: { accounts: [IBKR_ACCOUNT] },
      snsTopics: ["vigil-demo-alerts"],
      sqsQueues: ["vigil-demo-findings"],
      rotationTimeoutMs: 60_000,
    });
    cleanups.push({ what: "the sandbox", run: () => sandbox.stop() });
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
    stage = "seeding the secrets";
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
    say(`  seeded secrets: ${Object.values(secrets).filter(Boolean).join(", ")}`);

    begin(
      "rotating the database secrets",
      "rotating database passwords: RotateSecret runs the rotate function's four steps",
    );
    rotations.push(await rotateDatabase(admin, sandbox, secrets.postgres, "postgres-single", postgres, say));
    if (mariadb && secrets.mariadb) {
      rotations.push(
        await rotateDatabase(admin, sandbox, secrets.mariadb, "mysql-alternating", mariadb, say),
      );
    }

    begin(
      "rotating the IBKR secret",
      "IBKR: the scheduled rotation finds no new password and asks Trading Ops",
    );
    rotations.push(await rotateIbkrUnstaged(admin, sandbox, secrets.ibkr, say));
    begin("delivering the findings", "the notifier delivers the findings queue to PagerDuty and SNS");
    await deliverFindings(sandbox, queueUrl, say);
    begin(
      "staging the IBKR password",
      "IBKR: Trading Ops changed the password in the portal and runs `vigil ibkr stage`",
    );
    rotations.push(await stageIbkr(admin, sandbox, secrets.ibkr, say));

    begin("replaying the attack", "an attacker's calls, recorded in CloudTrail");
    const hostile = await hostileAccess(sandbox, secrets.postgres, secrets.ibkr, say);
    // This run's files (trail files, evidence, report): removed with the rest, or kept with --keep.
    const runDir = options.keep ? await mkdtemp(join(tmpdir(), "vigil-demo-run-")) : work;
    const trailDir = join(runDir, "trail");
    const files = await sandbox.writeTrailFiles(trailDir);
    const keptRun: DemoKept = {
      what: `this run's files (${files.length} CloudTrail trail file(s) in trail/)`,
      path: runDir,
      next: [
        `Run Vigil's scanner rules over its trail files: node dist/cli/vigil.mjs scan --policy ${join(runDir, "policy.yaml")} ${trailDir}`,
      ],
    };
    if (options.keep) kept.push(keptRun);

    begin("scanning CloudTrail", "the audit scanner reads the trail files CloudTrail delivered to S3");
    const iam = `arn:aws:iam::${sandbox.accountId}`;
    const policyPath = join(runDir, "policy.yaml");
    await writeFile(
      policyPath,
      `version: 1\nrotationRoles: [${iam}:role/${identities.rotation.name}]\nsecrets:\n` +
        `  - { match: "algo-trade/demo/*", sensitivity: critical, readers: [${iam}:role/${identities.application.name}, ${iam}:user/${identities.developer.name}], writers: [${iam}:user/${identities.developer.name}] }\n`,
    );
    const scanned = await scanDeliveredTrailFiles({
      policyPath,
      bundle: AUDIT_SCAN_BUNDLE,
      bucket: sandbox.env.TRAIL_BUCKET_NAME!,
      keys: await sandbox.deliverTrailFiles(),
      sqs: new SQSClient(sandbox.clientConfig()),
      queueUrl,
      accessKeyId: "AKIAVIGILDEMOSCANNER",
    });
    say(
      `  ${scanned.files} trail file(s): ${scanned.findings.length} finding(s), ${scanned.resolved} resolving`,
    );

    begin("delivering the findings", "the notifier delivers the findings queue to PagerDuty and SNS");
    await deliverFindings(sandbox, queueUrl, say);
    for (const line of findingOutcomeLines(scanned.findings, sandbox.pagerDutyIncidents())) say(`  ${line}`);

    const intruderArn = `${iam}:user/${identities.intruder.name}`;
    begin(
      "responding to the incident",
      `on-call responds: vigil incident --secret ${secrets.postgres} --deny ${intruderArn} --yes`,
    );
    const responder = {
      sandbox,
      intruderArn,
      responderAccessKeyId: identities.responder.accessKeyId,
      policyPath,
      runDir,
    };
    const response = await respondToIntrusion(
      {
        ...responder,
        secretId: secrets.postgres,
        env: {
          PAGERDUTY_ROUTING_KEY_SECRET_ID: process.env.PAGERDUTY_ROUTING_KEY_SECRET_ID,
          PAGERDUTY_EVENTS_URL: sandbox.env.PAGERDUTY_EVENTS_URL,
          ALERTS_TOPIC_ARN: topicArn,
        },
      },
      say,
    );
    keptRun.what = `this run's files (trail files, policy, incident evidence, compliance report)`;
    keptRun.next?.push(`Check the incident's evidence: cd ${response.outDir} && sha256sum -c SHA256SUMS`);

    begin("writing the compliance report", "the quarterly compliance report: vigil report");
    // The trail files gain the calls since the scan (the response's among them): the whole run.
    await sandbox.writeTrailFiles(trailDir);
    const report: DemoReport = await reportQuarter({ ...responder, trailDir }, new Date());
    say(
      `  ${report.path}\n  ${report.totals.secrets} secret(s), ${report.totals.nonCompliant} not compliant, ${report.totals.unexpectedReaders} unexpected reader(s), ${report.totals.findings} finding(s)`,
    );
    keptRun.next?.push(`Open the compliance report: ${report.path}`);

    stage = "printing the summary";
    failures =
      rotations.filter((rotation) => !rotation.expected).length +
      Number(!response.expected) +
      Number(!report.expected);
    const services = { serviceName, ibkrAccount: IBKR_ACCOUNT };
    printStory(sandbox, rotations, hostile, services, say);
    for (const line of responseStory(response, report, options.keep)) say(line);
    printTables(sandbox, rotations, services, say);
    // With --keep, the AWS CLI and SDK reach this sandbox from another shell through the env file.
    let sourceLine: string | undefined;
    if (options.keep) {
      const envFile = await writeSandboxEnvFile(sandbox.env);
      cleanups.push({ what: `the environment file ${envFile}`, run: () => removeSandboxEnvFile(envFile) });
      sourceLine = sourceCommand(relative(process.cwd(), envFile));
    }
    printWhatNext(sourceLine, kept, say);
    if (options.keep) {
      say(`\nSandbox still running on ${sandbox.endpoint}; press Ctrl-C to stop.`);
      await new Promise<void>((done) => process.once("SIGINT", () => done()));
    }
  } catch (error) {
    failed = error;
  } finally {
    const left: string[] = [];
    for (const cleanup of cleanups.reverse()) {
      await cleanup.run().catch((error: unknown) => left.push(`${cleanup.what} (${oneLine(error)})`));
    }
    if (failed !== undefined) {
      say(`\nThe demo stopped while ${stage}; it stopped the servers it had started and removed its files.`);
    }
    for (const line of left) say(`Could not clean up ${line}.`);
    for (const item of kept) say(keptLine(item));
  }
  if (failed !== undefined) {
    throw new DemoError(`the demo stopped while ${stage}: ${oneLine(failed)}`, { cause: failed });
  }
  return failures === 0 ? 0 : 1;
}

/** A thrown value's message on one line (redacted), short enough for a terminal. */
function oneLine(error: unknown): string {
  const text = describeError(error).replace(/\s*\n\s*/g, "; ");
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
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
      // The order router reads it at start-up: a rotation restarts it (docs/rotation.md).
      Tags: [{ Key: "vigil:ecs-services", Value: "trading/order-router" }],
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
        // The admin secret's owner binds it to the secrets that may use it (docs/rotation.md); a
        // literal key keeps the database strategies out of the CLI bundle.
        Tags: [{ Key: "vigil:rotation-admin-for", Value: "algo-trade/demo/mariadb" }],
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

const GUESSED_SECRETS = ["prod/ibkr", "algo-trade/prod/ibkr", "algo-trade/prod/postgres"];

/** The application reads its secrets; the intruder reads the database secret, guesses others and tries to publish it. */
async function hostileAccess(
  sandbox: Sandbox,
  target: string,
  ibkrSecret: string,
  say: Say,
): Promise<DemoHostileAccess> {
  const intruder = new SecretsManagerClient({
    ...sandbox.clientConfig(identities.intruder.accessKeyId),
    maxAttempts: 1,
  });
  const application = new SecretsManagerClient(sandbox.clientConfig(identities.application.accessKeyId));
  await application.send(new GetSecretValueCommand({ SecretId: ibkrSecret }));
  await application.send(new GetSecretValueCommand({ SecretId: target }));
  await intruder.send(new GetSecretValueCommand({ SecretId: target }));
  for (const guess of GUESSED_SECRETS) {
    await intruder.send(new GetSecretValueCommand({ SecretId: guess })).catch(() => undefined);
  }
  // Secrets Manager blocks public policies by default; the attempt itself is what the scanner looks for.
  await intruder
    .send(
      new PutResourcePolicyCommand({
        SecretId: target,
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
    String(record.userIdentity.arn ?? "").includes(identities.intruder.name),
  );
  const refused = hostile.filter((record) => record.errorCode).length;
  say(
    `  ${identities.intruder.name} (${identities.intruder.sourceIp}): ${hostile.length} calls, ${refused} refused; ${records.length} CloudTrail records in this run`,
  );
  return {
    principal: identities.intruder.name,
    sourceIp: identities.intruder.sourceIp,
    userAgent: identities.intruder.userAgent.split("/")[0] ?? identities.intruder.userAgent,
    secret: target,
    guesses: GUESSED_SECRETS.length,
    calls: hostile.length,
    refused,
    records: records.length,
  };
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

/** The demo reads files from the repository root; run it from there. */
export async function assertRepositoryRoot(): Promise<void> {
  const pkg = JSON.parse(await readFile("package.json", "utf8").catch(() => "{}")) as { name?: string };
  if (pkg.name !== "vigil") {
    throw new SandboxError("run the demo from the repository root (where package.json is)");
  }
}
