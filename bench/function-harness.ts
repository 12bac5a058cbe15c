import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { CreateTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { stateTableDefinition } from "../local/dynamodb.ts";
import type { SandboxProcess } from "./sandbox-process.ts";

/**
 * What the handler benchmarks share: fresh state tables and queues in a sandbox, trail files uploaded to
 * its S3, the SQS events Lambda's event source mapping would hand the scanner, and a fresh Node process
 * that imports a bundle and invokes it the way Lambda does.
 */

const run = promisify(execFile);

/** The deployed trail-objects queue's event source mapping hands the function 10 messages at a time. */
export const TRAIL_QUEUE_BATCH = 10;

/** Creates a state table with Vigil's schema; a fresh one per measurement. */
export async function createStateTable(dynamo: DynamoDBClient, name: string): Promise<string> {
  await dynamo.send(new CreateTableCommand(stateTableDefinition(name)));
  return name;
}

/** Creates a queue; returns its URL. */
export async function createQueue(sqs: SQSClient, name: string): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  return QueueUrl!;
}

/** Every message on the queue (received with a long visibility timeout, so each is read once). */
export async function drainQueue(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 3600 }),
    );
    if (!Messages?.length) return bodies;
    bodies.push(...Messages.map((message) => message.Body ?? ""));
  }
}

/** One uploaded trail file. */
export interface TrailObject {
  bucket: string;
  key: string;
  size: number;
}

/** Uploads files to bucket under their path relative to folder (the S3 layout the generator writes). */
export async function uploadTrailFiles(
  s3: S3Client,
  bucket: string,
  folder: string,
  paths: readonly string[],
): Promise<TrailObject[]> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: { name?: string }) => {
    if (error.name !== "BucketAlreadyOwnedByYou") throw error;
  });
  const objects: TrailObject[] = [];
  for (const path of paths) {
    const key = relative(folder, path).split(sep).join("/");
    const body = await readFile(path);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    objects.push({ bucket, key, size: body.length });
  }
  return objects;
}

/** The S3 event notification S3 sends for one new object (event structure version 2.1). */
export function objectCreatedNotification(object: TrailObject, region: string): Record<string, unknown> {
  return {
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: region,
        eventTime: new Date().toISOString(),
        eventName: "ObjectCreated:Put",
        userIdentity: { principalId: "AWS:cloudtrail.amazonaws.com" },
        s3: {
          s3SchemaVersion: "1.0",
          configurationId: "vigil-trail-objects",
          bucket: { name: object.bucket, arn: `arn:aws:s3:::${object.bucket}` },
          // S3 URL-encodes the key in notifications, with "+" for a space.
          object: {
            key: encodeURIComponent(object.key).replace(/%2F/g, "/").replace(/%20/g, "+"),
            size: object.size,
          },
        },
      },
    ],
  };
}

/**
 * The SQS events the deployed stack hands the scanner: the trail bucket notifies the trail-objects queue,
 * whose event source mapping invokes the function with up to TRAIL_QUEUE_BATCH messages.
 */
export function trailQueueEvents(objects: readonly TrailObject[], region: string, accountId: string) {
  const events: { Records: Record<string, unknown>[] }[] = [];
  for (let start = 0; start < objects.length; start += TRAIL_QUEUE_BATCH) {
    events.push({
      Records: objects.slice(start, start + TRAIL_QUEUE_BATCH).map((object, index) => ({
        messageId: `bench-${start + index}`,
        receiptHandle: `bench-receipt-${start + index}`,
        body: JSON.stringify(objectCreatedNotification(object, region)),
        attributes: {
          ApproximateReceiveCount: "1",
          SentTimestamp: String(Date.now()),
          SenderId: "AIDAS3NOTIFICATIONS",
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: "",
        eventSource: "aws:sqs",
        eventSourceARN: `arn:aws:sqs:${region}:${accountId}:vigil-bench-trail-objects`,
        awsRegion: region,
      })),
    });
  }
  return events;
}

/** The audit-scan function's environment against a sandbox: its endpoint, a state table and a findings queue. */
export function scannerEnv(
  sandbox: SandboxProcess,
  stateTableName: string,
  findingsQueueUrl: string,
): Record<string, string> {
  return {
    ...sandbox.env,
    STATE_TABLE_NAME: stateTableName,
    FINDINGS_QUEUE_URL: findingsQueueUrl,
    // One log line per file and one metrics line per invocation would only fill the bench's output.
    POWERTOOLS_LOG_LEVEL: "WARN",
    POWERTOOLS_METRICS_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
}

/** What one fresh function process reports. */
export interface ProcessReport {
  /** `await import(bundle)`, from the process's first line of code. */
  importMs: number;
  /** The first invocation, after the import. */
  firstInvocationMs: number;
  /** CPU time (user + system, every thread) of the import and of the first invocation. */
  importCpuMs: number;
  firstInvocationCpuMs: number;
  /** Import plus every invocation, wall time and CPU time. */
  totalMs: number;
  totalCpuMs: number;
  /** Each invocation's wall time, in order. */
  invocationMs: number[];
  /** Peak resident set size of the process: VmHWM (see the invoker), else getrusage's. */
  maxRssMiB: number;
  results: unknown[];
}

// Lambda's container: import the bundle once, call handler(event, context) per event, one at a time.
export const invoker = `
import { readFileSync } from "node:fs";
const [bundle, eventsFile] = process.argv.slice(1);
const events = JSON.parse(readFileSync(eventsFile, "utf8"));
const cpu = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; };
const startedCpu = cpu();
const started = performance.now();
const { handler } = await import(bundle);
const imported = performance.now();
const importedCpu = cpu();
// Processes started together wait for one moment, so their invocations overlap (BENCH_START_AT, epoch ms).
const startAt = Number(process.env.BENCH_START_AT ?? 0);
if (startAt > Date.now()) await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
const waited = performance.now() - imported;
let firstInvocationMs = 0;
let firstInvocationCpuMs = 0;
const results = [];
const invocationMs = [];
for (const [index, event] of events.entries()) {
  const invocationStarted = performance.now();
  const deadline = Date.now() + 300000;
  const context = {
    functionName: "vigil-bench", functionVersion: "$LATEST", memoryLimitInMB: "512",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:111122223333:function:vigil-bench",
    awsRequestId: "bench-" + process.pid + "-" + index, logGroupName: "bench", logStreamName: "bench",
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  results.push(await handler(event, context));
  invocationMs.push(performance.now() - invocationStarted);
  if (index === 0) {
    firstInvocationMs = performance.now() - imported - waited;
    firstInvocationCpuMs = cpu() - importedCpu;
  }
}
const totalMs = performance.now() - started - waited;
// The peak of this process's own memory. Not getrusage's maxRSS: Linux carries the parent's resident size
// at fork through exec into it, so a child of a large bench process reported the parent's size.
const status = (() => { try { return readFileSync("/proc/self/status", "utf8"); } catch { return ""; } })();
const hwm = /^VmHWM:\\s+(\\d+) kB$/m.exec(status);
const maxRssMiB = hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
process.stdout.write("BENCH " + JSON.stringify({ importMs: imported - started, firstInvocationMs, totalMs,
  importCpuMs: importedCpu - startedCpu, firstInvocationCpuMs, totalCpuMs: cpu() - startedCpu,
  invocationMs, maxRssMiB, results }) + "\\n");
`;

/** Imports a bundle in a fresh Node process (with nodeFlags, env), invokes it with each event of eventsFile in turn. */
export async function invokeInFreshProcess(
  bundle: string,
  eventsFile: string,
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
): Promise<ProcessReport> {
  const { stdout } = await run(
    process.execPath,
    [...nodeFlags, "--input-type=module", "-e", invoker, pathToFileURL(bundle).href, eventsFile],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      maxBuffer: 64 * 1_048_576,
    },
  ).catch((error: { stderr?: string; message: string }) => {
    throw new Error(
      `${bundle}: the function process failed: ${(error.stderr ?? error.message).slice(-1500)}`,
    );
  });
  const line = stdout.split("\n").find((text) => text.startsWith("BENCH "));
  if (!line) throw new Error(`${bundle}: the function process reported nothing: ${stdout.slice(-500)}`);
  return JSON.parse(line.slice("BENCH ".length)) as ProcessReport;
}
