import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Finding } from "../lib/finding.ts";
import { ACCOUNT, REGION } from "../test/unit/scenarios/records.ts";
import { bulkRetrievalBurstFiles } from "../test/unit/scenarios/trail-generator.ts";
import {
  createQueue,
  createStateTable,
  drainQueue,
  invokeInFreshProcess,
  scannerEnv,
  type TrailObject,
  trailQueueEvents,
} from "./function-harness.ts";
import { scannerBundle } from "./handler-s3.ts";
import { type SandboxProcess, withSandboxProcess } from "./sandbox-process.ts";

/**
 * Windowed-rule state under concurrency: one bulk-retrieval burst (one principal reading 40 distinct
 * secrets in two minutes; the rule fires at 10 within 10 minutes) split across N trail files, each file's
 * notification handed to its own fresh process of the built audit-scan bundle (N Lambda containers), all
 * invoked at the same moment against one state table in the sandbox's DynamoDB. "One finding" is one
 * message for the rule on the findings queue (one firing finding id, so one group key and one page).
 */

export interface WindowedConcurrencyResult {
  invocations: number;
  rounds: number;
  secrets: number;
  /** bulk-retrieval findings queued in each round (each must be 1). */
  bulkFindingsPerRound: number[];
  /** Findings of any other rule, all rounds together (the burst is built to raise none). */
  otherFindings: number;
}

const BUCKET = "vigil-bench-burst";

/** Runs `rounds` rounds of `invocations` concurrent containers over one burst; counts the findings queued. */
export async function measureWindowedConcurrency(
  invocations = 8,
  rounds = 3,
  secrets = 40,
  given?: SandboxProcess,
): Promise<WindowedConcurrencyResult> {
  return withSandboxProcess(given, (sandbox) => burstRounds(sandbox, invocations, rounds, secrets));
}

async function burstRounds(
  sandbox: SandboxProcess,
  invocations: number,
  rounds: number,
  secrets: number,
): Promise<WindowedConcurrencyResult> {
  const config = sandbox.clientConfig();
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const sqs = new SQSClient(config);
  const dynamo = new DynamoDBClient(config);
  const folder = await mkdtemp(join(tmpdir(), "vigil-bench-burst-"));
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch((error: { name?: string }) => {
      if (error.name !== "BucketAlreadyOwnedByYou") throw error;
    });
    const files = bulkRetrievalBurstFiles({ files: invocations, secrets });
    const objects: TrailObject[] = [];
    for (const [index, records] of files.entries()) {
      const key = `AWSLogs/${ACCOUNT}/CloudTrail/${REGION}/2026/11/01/${ACCOUNT}_CloudTrail_${REGION}_20261101T1200Z_burst${index}.json.gz`;
      const body = gzipSync(JSON.stringify({ Records: records }));
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      objects.push({ bucket: BUCKET, key, size: body.length });
    }
    // One SQS event per file: the queue's messages spread over as many containers as Lambda scales to.
    const events = trailQueueEvents(objects, sandbox.region, sandbox.accountId).flatMap((event) =>
      event.Records.map((message) => ({ Records: [message] })),
    );
    const eventFiles = await Promise.all(
      events.map(async (event, index) => {
        const path = join(folder, `event-${index}.json`);
        await writeFile(path, JSON.stringify([event]));
        return path;
      }),
    );
    const bulkFindingsPerRound: number[] = [];
    let otherFindings = 0;
    for (let round = 1; round <= rounds; round++) {
      const table = await createStateTable(dynamo, `vigil-bench-burst-state-${round}-${Date.now()}`);
      const queueUrl = await createQueue(sqs, `vigil-bench-burst-findings-${round}-${Date.now()}`);
      // Every process imports first, then all invoke at this moment.
      const env = { ...scannerEnv(sandbox, table, queueUrl), BENCH_START_AT: String(Date.now() + 2_500) };
      await Promise.all(eventFiles.map((file) => invokeInFreshProcess(scannerBundle(), file, env)));
      const findings = (await drainQueue(sqs, queueUrl)).map((body) => JSON.parse(body) as Finding);
      bulkFindingsPerRound.push(findings.filter((finding) => finding.rule === "bulk-retrieval").length);
      otherFindings += findings.filter((finding) => finding.rule !== "bulk-retrieval").length;
    }
    return { invocations, rounds, secrets, bulkFindingsPerRound, otherFindings };
  } finally {
    s3.destroy();
    sqs.destroy();
    dynamo.destroy();
    await rm(folder, { recursive: true, force: true });
  }
}
