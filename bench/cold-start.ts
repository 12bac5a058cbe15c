import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import {
  CreateSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { build } from "esbuild";
import { parse as parseYaml } from "yaml";
import { ACCOUNT, iamUser, REGION, record } from "../test/unit/scenarios/records.ts";
import { generatedRecord, REALISTIC_MIX } from "../test/unit/scenarios/trail-generator.ts";
import {
  createQueue,
  createStateTable,
  invokeInFreshProcess,
  scannerEnv,
  trailQueueEvents,
  uploadTrailFiles,
} from "./function-harness.ts";
import { type SandboxProcess, withSandboxProcess } from "./sandbox-process.ts";

/**
 * Cold start of each function bundle: a fresh Node process running `await import(bundle)` and one
 * representative first invocation against the sandbox (in its own process), next to a bundle built the
 * same way holding only the AWS SDK clients the function uses, which constructs them and makes the same
 * AWS calls as the function, in its order and concurrency. Every process runs with the NODE_OPTIONS the
 * functions are deployed with. For audit-scan, a bundle making one call per client (the comparison
 * before its SDK-only bundle replayed the 17 state updates of a first file) is measured beside them.
 */

const root = fileURLToPath(new URL("..", import.meta.url));

export interface ColdStartRow {
  name: string;
  /** What the first invocation does. */
  invocation: string;
  bytes: number;
  gzipBytes: number;
  sdkOnlyBytes: number;
  /** Medians over fresh processes. */
  importMs: number;
  coldStartMs: number;
  sdkOnlyImportMs: number;
  sdkOnlyColdStartMs: number;
  /** CPU time of import + first invocation (less sensitive to a loaded machine than wall time). */
  coldStartCpuMs: number;
  sdkOnlyColdStartCpuMs: number;
  /** The AWS calls each made (from the sandbox's CloudTrail, first run), e.g. "dynamodb UpdateItem ×17". */
  awsCalls: string[];
  sdkOnlyAwsCalls: string[];
  /** The NODE_OPTIONS every process ran with: the functions' as deployed (serverless.yml). */
  nodeOptions: string;
  /** An SDK-only bundle making one call per client, when the case has one (medians, its calls). */
  sdkOnlyMinimal?: { coldStartMs: number; coldStartCpuMs: number; awsCalls: string[] };
}

// The request handler settings lib/aws.ts gives the functions' clients.
const REQUEST_HANDLER = "{ connectionTimeout: 3000, requestTimeout: 10000, throwOnRequestTimeout: true }";

/** One function: the SDK-only module doing its calls, and how to prepare one run in the sandbox. */
export interface ColdStartCase {
  name: "audit-scan" | "notify" | "rotate";
  invocation: string;
  sdkOnlySource: string;
  /** Measured beside it when given: an SDK-only bundle making one call per client (audit-scan's old comparison). */
  sdkOnlyMinimalSource?: string;
  /** A fresh run: state the function would otherwise find done (a claim, a pending version) is new. */
  prepare(run: string): Promise<{ event: unknown; env: Record<string, string> }>;
  /** Throws unless the invocation did its work (a cold start that failed fast would look good). */
  check(result: unknown): void;
}

/**
 * The NODE_OPTIONS the functions are deployed with (serverless.yml, provider.environment; no function
 * sets its own): every measured process, function or SDK-only, runs with them, as on Lambda.
 */
export function deployedNodeOptions(): string {
  const text = readFileSync(join(root, "serverless.yml"), "utf8");
  // CloudFormation's short tags (!Ref, !GetAtt) are kept as plain values: only the environment is read.
  const config = parseYaml(text, { logLevel: "silent" }) as {
    provider?: { environment?: Record<string, unknown> };
    functions?: Record<string, { environment?: Record<string, unknown> }>;
  };
  for (const [name, fn] of Object.entries(config.functions ?? {}))
    if (fn.environment && "NODE_OPTIONS" in fn.environment)
      throw new Error(
        `serverless.yml: function ${name} sets NODE_OPTIONS of its own; the bench uses one for all`,
      );
  return String(config.provider?.environment?.NODE_OPTIONS ?? "");
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const QUIET = {
  POWERTOOLS_LOG_LEVEL: "WARN",
  POWERTOOLS_METRICS_DISABLED: "true",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

/** A trail file of 999 ordinary records and one StopLogging (which the scanner reports), in the S3 layout. */
async function trailFileWithFinding(folder: string): Promise<string> {
  const startMs = Date.parse("2026-11-01T00:00:00Z");
  const records = Array.from({ length: 999 }, (_, i) => generatedRecord(i, REALISTIC_MIX, startMs));
  records.push(
    record({
      time: "2026-11-01T00:00:30Z",
      name: "StopLogging",
      source: "cloudtrail",
      identity: iamUser("build-bot"),
      request: { name: `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/main-trail` },
    }),
  );
  const dated = join(folder, "AWSLogs", ACCOUNT, "CloudTrail", REGION, "2026", "11", "01");
  await mkdir(dated, { recursive: true });
  const path = join(dated, `${ACCOUNT}_CloudTrail_${REGION}_20261101T0000Z_cold.json.gz`);
  await writeFile(path, gzipSync(JSON.stringify({ Records: records })));
  return path;
}

function noBatchItemFailures(result: unknown): void {
  const failures = (result as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures;
  if (!Array.isArray(failures) || failures.length > 0)
    throw new Error(`the invocation reported ${JSON.stringify(result)}`);
}

export function coldStartCases(sandbox: SandboxProcess, folder: string): ColdStartCase[] {
  const config = sandbox.clientConfig();
  const dynamo = new DynamoDBClient(config);
  const sqs = new SQSClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const sns = new SNSClient(config);
  const secrets = new SecretsManagerClient(config);
  let trailEvent: unknown;
  let findingsQueueUrl = "";
  let alertsTopicArn = "";
  const routingKeySecret = "vigil/bench/pagerduty";
  return [
    {
      name: "audit-scan",
      invocation:
        "SQS event with one ObjectCreated notification: a 1,000-record trail file with one finding (S3 GetObject, DynamoDB state, SQS SendMessageBatch)",
      // The function's calls on this file, in its order and concurrency (functions/audit-scan/engine.ts,
      // state-dynamodb.ts): the account's earliest time (an update returning the stored one), then the
      // batch's pending findings decided at once (the handler allows 16 state calls in flight; these share
      // no key): per reader a first sighting and its origin (updates returning the old item), a
      // bulk-retrieval window (its bucket, then its half-bucket: two updates one after the other), and
      // the finding's claim (a conditional put); then the finding on the findings queue.
      sdkOnlySource: `
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";
import { DynamoDBClient, UpdateItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { SQSClient, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { gunzipSync } from "node:zlib";
const requestHandler = ${REQUEST_HANDLER};
const dynamo = new DynamoDBClient({ requestHandler });
const sqs = new SQSClient({ requestHandler });
export const lookupClient = () => new CloudTrailClient({ requestHandler, maxAttempts: 1 });
const ARN = "arn:aws:iam::111122223333:role/";
const SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:trading/";
const key = (pk) => ({ pk: { S: pk }, sk: { S: "state" } });
export const handler = async (event) => {
  const s3 = new S3Client({ requestHandler });
  new SecretsManagerClient({ requestHandler });
  const TableName = process.env.STATE_TABLE_NAME;
  const { bucket, object } = JSON.parse(event.Records[0].body).Records[0].s3;
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket.name, Key: decodeURIComponent(object.key) }));
  const { Records } = JSON.parse(gunzipSync(await got.Body.transformToByteArray()).toString("utf8"));
  const now = Math.ceil(Date.now() / 1000);
  await dynamo.send(new UpdateItemCommand({ TableName, Key: key("meta#earliest"), UpdateExpression: "SET #value = if_not_exists(#value, :value)",
    ExpressionAttributeNames: { "#value": "earliestMs" }, ExpressionAttributeValues: { ":value": { N: String(Date.parse(Records[0].eventTime)) } },
    ReturnValues: "ALL_NEW" }));
  const seen = (pk) => dynamo.send(new UpdateItemCommand({ TableName, Key: key(pk),
    UpdateExpression: "SET firstSeenMs = if_not_exists(firstSeenMs, :at), expiresAt = :expiresAt",
    ExpressionAttributeValues: { ":at": { N: "1761955200000" }, ":expiresAt": { N: String(now + 34560000) } }, ReturnValues: "ALL_OLD" }));
  const add = (pk, member) => dynamo.send(new UpdateItemCommand({ TableName, Key: key(pk),
    UpdateExpression: "ADD members :member SET expiresAt = :expiresAt",
    ExpressionAttributeValues: { ":member": { SS: [member] }, ":expiresAt": { N: String(now + 87000) } }, ReturnValues: "UPDATED_NEW" }));
  const decisions = [];
  for (const reader of ["order-router", "pricing-feed", "reporting", "risk-engine"]) {
    const secret = SECRET + reader + "/db";
    decisions.push(seen("baseline#baseline#reader#" + ARN + reader + "#" + secret));
    decisions.push(add("window#window#bulk-retrieval#" + ARN + reader + "#2989152", secret)
      .then(() => add("window#window#bulk-retrieval#" + ARN + reader + "#h2989152", secret + "\\u0000h")));
    decisions.push(seen("baseline#baseline#origin#" + ARN + reader + "#" + secret + "#vpce-0fedcba9876543210 (aws-sdk-js)"));
  }
  decisions.push(dynamo.send(new PutItemCommand({ TableName, Item: { ...key("claim#" + "0".repeat(32)), expiresAt: { N: String(now + 86400) } },
    ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now", ExpressionAttributeValues: { ":now": { N: String(now) } } })));
  await Promise.all(decisions);
  const finding = { id: "0".repeat(32), rule: "trail-tampering", severity: "critical", title: "CloudTrail logging stopped",
    summary: ARN + "build-bot called StopLogging on main-trail", region: "us-east-1", account: "111122223333",
    eventIds: [Records.at(-1).eventID], firstSeen: Records.at(-1).eventTime, lastSeen: Records.at(-1).eventTime, count: 1,
    groupKey: "trail-tampering:main-trail", details: { eventName: "StopLogging" }, runbook: "docs/detections.md#trail-tampering" };
  await sqs.send(new SendMessageBatchCommand({ QueueUrl: process.env.FINDINGS_QUEUE_URL,
    Entries: [{ Id: "0", MessageBody: JSON.stringify(finding) }] }));
  return { batchItemFailures: [] };
};`,
      // The comparison before 2026-12-03: one call per client, the function's 17 state updates counted
      // against it. Measured beside the bundle above so that figure stays visible.
      sdkOnlyMinimalSource: `
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";
import { DynamoDBClient, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { SQSClient, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { gunzipSync } from "node:zlib";
const requestHandler = ${REQUEST_HANDLER};
const dynamo = new DynamoDBClient({ requestHandler });
const sqs = new SQSClient({ requestHandler });
export const lookupClient = () => new CloudTrailClient({ requestHandler, maxAttempts: 1 });
export const handler = async (event) => {
  const s3 = new S3Client({ requestHandler });
  new SecretsManagerClient({ requestHandler });
  const { bucket, object } = JSON.parse(event.Records[0].body).Records[0].s3;
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket.name, Key: decodeURIComponent(object.key) }));
  JSON.parse(gunzipSync(await got.Body.transformToByteArray()).toString("utf8"));
  await dynamo.send(new UpdateItemCommand({ TableName: process.env.STATE_TABLE_NAME,
    Key: { pk: { S: "meta#earliest" }, sk: { S: "state" } }, UpdateExpression: "SET earliestMs = :at",
    ExpressionAttributeValues: { ":at": { N: "1" } } }));
  await sqs.send(new SendMessageBatchCommand({ QueueUrl: process.env.FINDINGS_QUEUE_URL,
    Entries: [{ Id: "0", MessageBody: "{}" }] }));
  return { batchItemFailures: [] };
};`,
      async prepare(run) {
        if (!trailEvent) {
          const trail = join(folder, "trail");
          const objects = await uploadTrailFiles(s3, "vigil-bench-cold", trail, [
            await trailFileWithFinding(trail),
          ]);
          trailEvent = trailQueueEvents(objects, sandbox.region, sandbox.accountId)[0];
          findingsQueueUrl = await createQueue(sqs, "vigil-bench-cold-findings");
        }
        const table = await createStateTable(dynamo, `vigil-bench-cold-${run}`);
        return { event: trailEvent, env: scannerEnv(sandbox, table, findingsQueueUrl) };
      },
      check: noBatchItemFailures,
    },
    {
      name: "notify",
      invocation:
        "SQS event with one high finding (Secrets Manager routing key, DynamoDB alert state, PagerDuty over fetch, SNS Publish)",
      sdkOnlySource: `
import { SNSClient, PublishCommand } from "@aws-sdk/client-sns";
import { SecretsManagerClient, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
const requestHandler = ${REQUEST_HANDLER};
const sns = new SNSClient({ requestHandler });
const secrets = new SecretsManagerClient({ requestHandler });
const dynamo = new DynamoDBClient({ requestHandler });
export const handler = async (event) => {
  const finding = JSON.parse(event.Records[0].body);
  const routingKey = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.PAGERDUTY_ROUTING_KEY_SECRET_ID }));
  const key = { pk: { S: "alert#" + finding.groupKey }, sk: { S: "state" } };
  await dynamo.send(new GetItemCommand({ TableName: process.env.STATE_TABLE_NAME, Key: key, ConsistentRead: true }));
  // The notifier's lease on the group, then its state after paging: two conditional writes.
  await dynamo.send(new PutItemCommand({ TableName: process.env.STATE_TABLE_NAME, Item: { ...key, version: { N: "1" } },
    ConditionExpression: "attribute_not_exists(pk)" }));
  const page = await fetch(process.env.PAGERDUTY_EVENTS_URL, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ routing_key: routingKey.SecretString, event_action: "trigger", dedup_key: finding.id,
      payload: { summary: finding.title, source: finding.account, severity: "error" } }) });
  await page.text();
  await sns.send(new PublishCommand({ TopicArn: process.env.ALERTS_TOPIC_ARN, Subject: finding.title, Message: finding.summary }));
  await dynamo.send(new PutItemCommand({ TableName: process.env.STATE_TABLE_NAME, Item: { ...key, version: { N: "2" } },
    ConditionExpression: "version = :one", ExpressionAttributeValues: { ":one": { N: "1" } } }));
  return { batchItemFailures: [] };
};`,
      async prepare(run) {
        if (!alertsTopicArn) {
          alertsTopicArn = (await sns.send(new CreateTopicCommand({ Name: "vigil-bench-alerts" }))).TopicArn!;
          await secrets.send(
            new CreateSecretCommand({
              Name: routingKeySecret,
              SecretString: "VIGILBENCHROUTINGKEY000000000001",
            }),
          );
        }
        const table = await createStateTable(dynamo, `vigil-bench-cold-notify-${run}`);
        const secretArn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:algo-trade/prod/ibkr`;
        const finding = {
          id: randomUUID(),
          rule: "unexpected-reader",
          severity: "high",
          title: "Unexpected principal read algo-trade/prod/ibkr",
          summary: `arn:aws:iam::${ACCOUNT}:role/analytics read the production IBKR secret.`,
          secretArn,
          principal: `arn:aws:iam::${ACCOUNT}:role/analytics`,
          sourceIp: "203.0.113.10",
          region: REGION,
          account: ACCOUNT,
          eventIds: [randomUUID()],
          firstSeen: "2026-11-27T10:00:00Z",
          lastSeen: "2026-11-27T10:00:00Z",
          count: 1,
          groupKey: `unexpected-reader:${secretArn}:analytics:${run}`,
          status: "firing",
          details: { eventName: "GetSecretValue" },
          runbook: "docs/detections.md#unexpected-reader",
        };
        const event = {
          Records: [
            {
              messageId: randomUUID(),
              receiptHandle: "bench",
              body: JSON.stringify(finding),
              attributes: { ApproximateReceiveCount: "1", SentTimestamp: String(Date.now()) },
              messageAttributes: {},
              md5OfBody: "",
              eventSource: "aws:sqs",
              eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:vigil-bench-findings`,
              awsRegion: REGION,
            },
          ],
        };
        return {
          event,
          env: {
            ...sandbox.env,
            ...QUIET,
            STATE_TABLE_NAME: table,
            ALERTS_TOPIC_ARN: alertsTopicArn,
            PAGERDUTY_ROUTING_KEY_SECRET_ID: routingKeySecret,
          },
        };
      },
      check: noBatchItemFailures,
    },
    {
      name: "rotate",
      invocation:
        "createSecret of a postgres-single secret whose rotation RotateSecret started (DescribeSecret, two GetSecretValue, GetRandomPassword, PutSecretValue)",
      sdkOnlySource: `
import { SecretsManagerClient, DescribeSecretCommand, GetSecretValueCommand, GetRandomPasswordCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { ECSClient } from "@aws-sdk/client-ecs";
const requestHandler = ${REQUEST_HANDLER};
export const later = { sns: () => new SNSClient({ requestHandler }), sqs: () => new SQSClient({ requestHandler }), ecs: () => new ECSClient({ requestHandler }) };
export const handler = async (event) => {
  const secrets = new SecretsManagerClient({ requestHandler });
  await secrets.send(new DescribeSecretCommand({ SecretId: event.SecretId }));
  const current = await secrets.send(new GetSecretValueCommand({ SecretId: event.SecretId, VersionStage: "AWSCURRENT" }));
  try {
    await secrets.send(new GetSecretValueCommand({ SecretId: event.SecretId, VersionId: event.ClientRequestToken, VersionStage: "AWSPENDING" }));
  } catch (error) {
    if (error.name !== "ResourceNotFoundException") throw error;
  }
  const { RandomPassword } = await secrets.send(new GetRandomPasswordCommand({ PasswordLength: 32, ExcludeCharacters: ":/@\\"'\\\\\`" }));
  await secrets.send(new PutSecretValueCommand({ SecretId: event.SecretId, ClientRequestToken: event.ClientRequestToken,
    SecretString: JSON.stringify({ ...JSON.parse(current.SecretString), password: RandomPassword }), VersionStages: ["AWSPENDING"] }));
};`,
      async prepare(run) {
        // RotateSecret leaves the pending version (its stub rotation function fails createSecret): the
        // measured process then runs createSecret as Secrets Manager would invoke it.
        const name = `trading/bench-${run}-${randomUUID().slice(0, 8)}/db`;
        const created = await secrets.send(
          new CreateSecretCommand({
            Name: name,
            SecretString: JSON.stringify({
              engine: "postgres",
              host: "127.0.0.1",
              port: 5432,
              username: "app",
              password: "bench-current-password",
              dbname: "app",
            }),
            Tags: [{ Key: "vigil:rotation", Value: "postgres-single" }],
          }),
        );
        const token = randomUUID();
        await secrets
          .send(
            new RotateSecretCommand({
              SecretId: created.ARN,
              ClientRequestToken: token,
              RotationLambdaARN: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:vigil-bench-rotate`,
            }),
          )
          .catch(() => undefined);
        return {
          event: { SecretId: created.ARN, ClientRequestToken: token, Step: "createSecret" },
          env: { ...sandbox.env, ...QUIET },
        };
      },
      // A failed step throws, which fails the process.
      check: () => undefined,
    },
  ];
}

// Set VIGIL_BENCH_PROFILE=<dir> to write a CPU profile of each measured process there.
function profileFlags(name: string, label: "own" | "sdk" | "sdk-minimal"): string[] {
  const dir = process.env.VIGIL_BENCH_PROFILE;
  const suffix = { own: "", sdk: "-sdk-only", "sdk-minimal": "-sdk-only-minimal" }[label];
  return dir ? ["--cpu-prof", "--cpu-prof-interval=200", `--cpu-prof-dir=${dir}/${name}${suffix}`] : [];
}

/** The AWS calls the sandbox recorded for an access key, counted: ["dynamodb UpdateItem ×17", "s3 GetObject"]. */
async function awsCallsBy(sandbox: SandboxProcess, accessKeyId: string): Promise<string[]> {
  const response = await fetch(`${sandbox.endpoint}/_sandbox/cloudtrail`);
  const { Records } = (await response.json()) as {
    Records: { eventSource: string; eventName: string; userIdentity?: { accessKeyId?: string } }[];
  };
  const counts = new Map<string, number>();
  for (const record of Records) {
    if (record.userIdentity?.accessKeyId !== accessKeyId) continue;
    const call = `${record.eventSource.split(".")[0]} ${record.eventName}`;
    counts.set(call, (counts.get(call) ?? 0) + 1);
  }
  return [...counts].map(([call, count]) => (count > 1 ? `${call} ×${count}` : call));
}

/** Builds the SDK-only module as scripts/build.mjs builds a function (minified ESM for Node, split); returns its entry. */
export async function buildSdkOnly(source: string, outdir: string): Promise<string> {
  await build({
    stdin: { contents: source, resolveDir: root, sourcefile: "index.mjs", loader: "js" },
    outdir,
    entryNames: "index",
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    bundle: true,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    platform: "node",
    // Built as the functions are (scripts/build.mjs): the SDK's clients from their ES modules.
    mainFields: ["module", "main"],
    target: "node20",
    format: "esm",
    // As scripts/build.mjs does: the SDK's CommonJS modules require() Node built-ins.
    banner: {
      js: "import { createRequire as __vigilCreateRequire } from 'node:module'; const require = __vigilCreateRequire(import.meta.url);",
    },
    legalComments: "none",
    logLevel: "warning",
  });
  return join(outdir, "index.mjs");
}

/** Cold start of every function bundle in dist/ and of its SDK-only counterpart, median of `runs` each. */
export async function measureColdStarts(runs = 5, given?: SandboxProcess): Promise<ColdStartRow[]> {
  const folder = await mkdtemp(join(tmpdir(), "vigil-bench-cold-"));
  try {
    return await withSandboxProcess(given, async (sandbox) => {
      const rows: ColdStartRow[] = [];
      const nodeOptions = deployedNodeOptions();
      let processes = 0;
      for (const entry of coldStartCases(sandbox, folder)) {
        const bundle = join(root, "dist", entry.name, "index.mjs");
        if (!existsSync(bundle))
          throw new Error(`dist/${entry.name}/index.mjs is missing: run \`npm run build\` first`);
        const sdkOnly = await buildSdkOnly(entry.sdkOnlySource, join(folder, `${entry.name}-sdk-only`));
        const sdkOnlyMinimal = entry.sdkOnlyMinimalSource
          ? await buildSdkOnly(entry.sdkOnlyMinimalSource, join(folder, `${entry.name}-sdk-only-minimal`))
          : undefined;
        const samplesOf = (module: string) => ({
          module,
          importMs: [] as number[],
          coldStartMs: [] as number[],
          cpuMs: [] as number[],
          calls: [] as string[],
        });
        const own = samplesOf(bundle);
        const bare = samplesOf(sdkOnly);
        const minimal = sdkOnlyMinimal ? samplesOf(sdkOnlyMinimal) : undefined;
        for (let run = 0; run < runs; run++) {
          // Alternated, so drift in the machine's load hits all alike.
          for (const [label, samples] of [
            ["own", own],
            ["sdk", bare],
            ...(minimal ? [["sdk-minimal", minimal] as const] : []),
          ] as const) {
            const { event, env } = await entry.prepare(`${run}-${label}`);
            const eventsFile = join(folder, "event.json");
            await writeFile(eventsFile, JSON.stringify([event]));
            // Its own access key, so the sandbox's CloudTrail tells which calls this process made.
            const accessKeyId = `AKIABENCH${String(++processes).padStart(11, "0")}`;
            const report = await invokeInFreshProcess(
              samples.module,
              eventsFile,
              { ...env, NODE_OPTIONS: nodeOptions, AWS_ACCESS_KEY_ID: accessKeyId },
              profileFlags(entry.name, label),
            );
            if (run === 0) samples.calls = await awsCallsBy(sandbox, accessKeyId);
            entry.check(report.results[0]);
            samples.importMs.push(report.importMs);
            samples.coldStartMs.push(report.importMs + report.firstInvocationMs);
            samples.cpuMs.push(report.importCpuMs + report.firstInvocationCpuMs);
          }
        }
        rows.push({
          name: entry.name,
          invocation: entry.invocation,
          bytes: statSync(bundle).size,
          gzipBytes: gzipSync(readFileSync(bundle)).length,
          sdkOnlyBytes: statSync(sdkOnly).size,
          importMs: median(own.importMs),
          coldStartMs: median(own.coldStartMs),
          sdkOnlyImportMs: median(bare.importMs),
          sdkOnlyColdStartMs: median(bare.coldStartMs),
          coldStartCpuMs: median(own.cpuMs),
          sdkOnlyColdStartCpuMs: median(bare.cpuMs),
          awsCalls: own.calls,
          sdkOnlyAwsCalls: bare.calls,
          nodeOptions,
          ...(minimal && {
            sdkOnlyMinimal: {
              coldStartMs: median(minimal.coldStartMs),
              coldStartCpuMs: median(minimal.cpuMs),
              awsCalls: minimal.calls,
            },
          }),
        });
      }
      return rows;
    });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
