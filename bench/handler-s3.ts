import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createGzip, gunzipSync } from "node:zlib";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { s3ClientOptions } from "../lib/aws.ts";
import { ACCOUNT, REGION } from "../test/unit/scenarios/records.ts";
import {
  generatedRecord,
  REALISTIC_MIX,
  SECRETS_HEAVY_MIX,
  type TrailMix,
  writeTrailTree,
} from "../test/unit/scenarios/trail-generator.ts";
import {
  createQueue,
  createStateTable,
  drainQueue,
  invokeInFreshProcess,
  type ProcessReport,
  scannerEnv,
  type TrailObject,
  trailQueueEvents,
  uploadTrailFiles,
} from "./function-harness.ts";
import { type SandboxProcess, withSandboxProcess } from "./sandbox-process.ts";

/**
 * The audit-scan function's S3 path: the built bundle, in a fresh Node process as in a Lambda container,
 * handed the SQS events the deployed trail-objects queue would deliver (10 ObjectCreated notifications per
 * event), reading the trail files from the sandbox's S3 over HTTP, with its state in the sandbox's DynamoDB
 * and its findings sent to the sandbox's SQS. The sandbox runs in a process of its own.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const RECORDS_PER_FILE = 1_000;
const BUCKET = "vigil-bench-trail";
/** The old-space cap the largest single file is scanned under once more (the live heap's bound). */
const OLD_SPACE_CAP_MIB = 64;

export interface HandlerThroughputRow {
  mix: string;
  files: number;
  records: number;
  megabytes: number;
  invocations: number;
  findings: number;
  /** Over the same number of other files first, in the same container (its first invocations). */
  newContainerRecordsPerSecond: number;
  /** Over the measured files, in a container that has just handled as many others (warm). */
  handlerRecordsPerSecond: number;
  bareRecordsPerSecond: number;
  /** The bare loop over the same objects in the sandbox's S3, through the handler's S3 client configuration. */
  bareS3RecordsPerSecond: number;
}

export interface HandlerMemoryRow {
  input: string;
  files: number;
  records: number;
  megabytes: number;
  peakRssMiB: number;
  seconds: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** The built audit-scan bundle (`npm run build`). */
export function scannerBundle(): string {
  const bundle = join(root, "dist", "audit-scan", "index.mjs");
  if (!existsSync(bundle)) throw new Error("dist/audit-scan/index.mjs is missing: run `npm run build` first");
  return bundle;
}

/** The sandbox and clients one measurement uses. */
interface Bench {
  sandbox: SandboxProcess;
  s3: S3Client;
  sqs: SQSClient;
  dynamo: DynamoDBClient;
  runs: number;
}

async function withSandbox<T>(
  given: SandboxProcess | undefined,
  work: (bench: Bench) => Promise<T>,
): Promise<T> {
  return withSandboxProcess(given, async (sandbox) => {
    const config = sandbox.clientConfig();
    const bench: Bench = {
      sandbox,
      s3: new S3Client({ ...config, forcePathStyle: true }),
      sqs: new SQSClient(config),
      dynamo: new DynamoDBClient(config),
      runs: 0,
    };
    try {
      return await work(bench);
    } finally {
      bench.s3.destroy();
      bench.sqs.destroy();
      bench.dynamo.destroy();
    }
  });
}

/**
 * One container's life over objects: a fresh state table and findings queue, a fresh process importing
 * the bundle, the objects' notifications in batches of 10 (after those of `warmUp`'s, when given, in
 * batches of their own). Returns the process's report, the findings it queued and the number of
 * invocations that were warm-up (the first ones).
 */
async function scanInFreshProcess(
  bench: Bench,
  objects: readonly TrailObject[],
  folder: string,
  nodeFlags: readonly string[] = [],
  warmUp: readonly TrailObject[] = [],
): Promise<{ report: ProcessReport; findings: number; invocations: number; warmUpInvocations: number }> {
  const run = `${process.pid}-${++bench.runs}-${Date.now()}`;
  const table = await createStateTable(bench.dynamo, `vigil-bench-state-${run}`);
  const queueUrl = await createQueue(bench.sqs, `vigil-bench-findings-${run}`);
  const warmUpEvents = trailQueueEvents(warmUp, bench.sandbox.region, bench.sandbox.accountId);
  const events = [
    ...warmUpEvents,
    ...trailQueueEvents(objects, bench.sandbox.region, bench.sandbox.accountId),
  ];
  const eventsFile = join(folder, `events-${run}.json`);
  await writeFile(eventsFile, JSON.stringify(events));
  const report = await invokeInFreshProcess(
    scannerBundle(),
    eventsFile,
    scannerEnv(bench.sandbox, table, queueUrl),
    nodeFlags,
  );
  for (const result of report.results as { batchItemFailures?: unknown[] }[]) {
    if (result.batchItemFailures?.length)
      throw new Error(`the scanner failed on ${result.batchItemFailures.length} trail file(s)`);
  }
  return {
    report,
    findings: (await drainQueue(bench.sqs, queueUrl)).length,
    invocations: events.length - warmUpEvents.length,
    warmUpInvocations: warmUpEvents.length,
  };
}

/** The bare loop over the same files: read, gunzip, JSON.parse; records/s and uncompressed MiB. */
function bareLoop(paths: readonly string[]): {
  recordsPerSecond: number;
  records: number;
  megabytes: number;
} {
  const started = performance.now();
  let records = 0;
  let bytes = 0;
  for (const path of paths) {
    const text = gunzipSync(readFileSync(path));
    bytes += text.length;
    records += (JSON.parse(text.toString("utf8")) as { Records: unknown[] }).Records.length;
  }
  return {
    recordsPerSecond: records / ((performance.now() - started) / 1000),
    records,
    megabytes: bytes / 1_048_576,
  };
}

/**
 * The bare loop over S3: the same objects from the same sandbox S3, one after another, through an S3 client
 * built with the handler's options (`s3ClientOptions`; endpoint, region and credentials as the handler's
 * environment gives them): GetObject, read the body, gunzip, JSON.parse. What reading from S3 through the
 * SDK costs, which the handler cannot avoid. A client per run, as a container starts with one.
 */
async function bareS3Loop(
  sandbox: SandboxProcess,
  objects: readonly TrailObject[],
): Promise<{ recordsPerSecond: number; records: number }> {
  const s3 = new S3Client({ ...s3ClientOptions, ...sandbox.clientConfig() });
  try {
    const started = performance.now();
    let records = 0;
    for (const object of objects) {
      const output = await s3.send(new GetObjectCommand({ Bucket: object.bucket, Key: object.key }));
      const body = await output.Body!.transformToByteArray();
      const text = gunzipSync(body);
      records += (JSON.parse(text.toString("utf8")) as { Records: unknown[] }).Records.length;
    }
    return { recordsPerSecond: records / ((performance.now() - started) / 1000), records };
  } finally {
    s3.destroy();
  }
}

/**
 * Records/s of the handler over `records` generated records of each mix (1,000 per file) against the bare
 * loop over the same files and the bare loop over the same objects in S3, alternated, median of `runs`. The
 * handler's time is its invocations only (the import is the cold start, measured on its own).
 */
export async function measureHandlerThroughput(
  records: number,
  runs: number,
  sandbox?: SandboxProcess,
): Promise<HandlerThroughputRow[]> {
  return withSandbox(sandbox, async (bench) => {
    const rows: HandlerThroughputRow[] = [];
    for (const [mix, shape] of [
      ["realistic (5 % Secrets Manager/KMS/CloudTrail)", REALISTIC_MIX],
      ["Secrets-Manager-heavy (80 %)", SECRETS_HEAVY_MIX],
    ] as [string, TrailMix][]) {
      const folder = await mkdtemp(join(tmpdir(), "vigil-bench-handler-"));
      try {
        const files = Math.ceil(records / RECORDS_PER_FILE);
        const paths = await writeTrailTree(folder, { files, recordsPerFile: RECORDS_PER_FILE, mix: shape });
        const objects = await uploadTrailFiles(bench.s3, BUCKET, folder, paths);
        // As many files of the day before, which each container handles first: a container on Lambda
        // lives through many batches, and V8 compiles the scanner's hot code during its first ones.
        const warmUpFolder = join(folder, "warm-up");
        const warmUpPaths = await writeTrailTree(warmUpFolder, {
          files,
          recordsPerFile: RECORDS_PER_FILE,
          mix: shape,
          startMs: Date.parse("2026-10-31T00:00:00Z"),
        });
        const warmUp = await uploadTrailFiles(bench.s3, BUCKET, warmUpFolder, warmUpPaths);
        const handler: number[] = [];
        const newContainer: number[] = [];
        const bare: number[] = [];
        const bareS3: number[] = [];
        let row: HandlerThroughputRow | undefined;
        for (let run = 0; run < runs; run++) {
          // Alternated, so drift in the machine's load hits both alike.
          const loop = bareLoop(paths);
          bare.push(loop.recordsPerSecond);
          const fromS3 = await bareS3Loop(bench.sandbox, objects);
          if (fromS3.records !== loop.records)
            throw new Error(
              `the bare loop over S3 read ${fromS3.records} records, from disk ${loop.records}`,
            );
          bareS3.push(fromS3.recordsPerSecond);
          const scanned = await scanInFreshProcess(bench, objects, folder, [], warmUp);
          const seconds = (from: number, to?: number) =>
            scanned.report.invocationMs.slice(from, to).reduce((sum, ms) => sum + ms, 0) / 1000;
          newContainer.push(loop.records / seconds(0, scanned.warmUpInvocations));
          handler.push(loop.records / seconds(scanned.warmUpInvocations));
          row = {
            mix,
            files,
            records: loop.records,
            megabytes: loop.megabytes,
            invocations: scanned.invocations,
            findings: scanned.findings,
            newContainerRecordsPerSecond: 0,
            handlerRecordsPerSecond: 0,
            bareRecordsPerSecond: 0,
            bareS3RecordsPerSecond: 0,
          };
        }
        rows.push({
          ...row!,
          newContainerRecordsPerSecond: median(newContainer),
          handlerRecordsPerSecond: median(handler),
          bareRecordsPerSecond: median(bare),
          bareS3RecordsPerSecond: median(bareS3),
        });
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    }
    return rows;
  });
}

/**
 * Writes one .json.gz trail file of about `megabytes` uncompressed in the S3 layout under folder,
 * streaming (a 1 GiB string cannot exist); returns its path and record count.
 */
async function writeLargeTrailObject(
  folder: string,
  megabytes: number,
): Promise<{ path: string; records: number }> {
  const path = join(folder, `${ACCOUNT}_CloudTrail_${REGION}_20261101T0000Z_${megabytes}mib.json.gz`);
  const gzip = createGzip({ level: 1 });
  const done = new Promise<void>((resolve, reject) =>
    gzip.pipe(createWriteStream(path)).on("finish", resolve).on("error", reject),
  );
  const limit = megabytes * 1_048_576;
  const startMs = Date.parse("2026-11-01T00:00:00Z");
  let written = 0;
  let records = 0;
  const write = async (text: string) => {
    written += Buffer.byteLength(text);
    if (!gzip.write(text)) await new Promise((resolve) => gzip.once("drain", resolve));
  };
  await write('{"Records":[');
  while (written < limit) {
    const chunk: string[] = [];
    for (let i = 0; i < 500; i++)
      chunk.push(JSON.stringify(generatedRecord(records + i, REALISTIC_MIX, startMs, 1)));
    await write((records > 0 ? "," : "") + chunk.join(","));
    records += chunk.length;
  }
  gzip.end("]}");
  await done;
  return { path, records };
}

/**
 * Peak RSS of the handler (a fresh process per input, as a new container) over single files of growing
 * uncompressed size and over growing numbers of 1,000-record files (one container handling every batch).
 */
export async function measureHandlerMemory(
  sizesMegabytes: readonly number[],
  fileCounts: readonly number[],
  sandbox?: SandboxProcess,
  capped = true,
): Promise<HandlerMemoryRow[]> {
  return withSandbox(sandbox, async (bench) => {
    const rows: HandlerMemoryRow[] = [];
    /**
     * One container over the objects: its row, and for the largest input the same again with V8's old
     * space capped. Completing under the cap shows the live heap's bound: for a file, whatever its size;
     * for a folder, also what a container keeps from one invocation to the next (caches, clients, state).
     */
    const measure = async (
      objects: readonly TrailObject[],
      folder: string,
      input: Omit<HandlerMemoryRow, "peakRssMiB" | "seconds">,
      largest: boolean,
    ) => {
      for (const cap of capped && largest ? [undefined, OLD_SPACE_CAP_MIB] : [undefined]) {
        const { report } = await scanInFreshProcess(
          bench,
          objects,
          folder,
          cap === undefined ? [] : [`--max-old-space-size=${cap}`],
        );
        rows.push({
          ...input,
          input: cap === undefined ? input.input : `${input.input}, old space capped at ${cap} MiB`,
          peakRssMiB: report.maxRssMiB,
          seconds: report.totalMs / 1000,
        });
      }
    };
    for (const megabytes of sizesMegabytes) {
      const folder = await mkdtemp(join(tmpdir(), "vigil-bench-handler-rss-"));
      try {
        const dated = join(folder, "AWSLogs", ACCOUNT, "CloudTrail", REGION, "2026", "11", "01");
        await mkdir(dated, { recursive: true });
        const { path, records } = await writeLargeTrailObject(dated, megabytes);
        const objects = await uploadTrailFiles(bench.s3, BUCKET, folder, [path]);
        await rm(path);
        await measure(
          objects,
          folder,
          { input: "one file", files: 1, records, megabytes },
          megabytes === Math.max(...sizesMegabytes),
        );
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    }
    for (const files of fileCounts) {
      const folder = await mkdtemp(join(tmpdir(), "vigil-bench-handler-rss-"));
      try {
        const paths = await writeTrailTree(folder, {
          files,
          recordsPerFile: RECORDS_PER_FILE,
          mix: REALISTIC_MIX,
        });
        let bytes = 0;
        for (const path of paths) bytes += gunzipSync(await readFile(path)).length;
        const objects = await uploadTrailFiles(bench.s3, BUCKET, folder, paths);
        await measure(
          objects,
          folder,
          { input: "folder", files, records: files * RECORDS_PER_FILE, megabytes: bytes / 1_048_576 },
          files === Math.max(...fileCounts),
        );
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    }
    return rows;
  });
}
