import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  ACCOUNT,
  assumedRole,
  awsService,
  CLI_AGENT,
  iamUser,
  type Json,
  REGION,
  record,
  SDK_AGENT,
} from "./records.ts";

/**
 * Generates CloudTrail trail files in CloudTrail's own layout and shape, for volume tests and the bench:
 * a realistic mix in which Secrets Manager, KMS and CloudTrail records are a minority among other
 * services' (EC2, S3, STS, Lambda, ...), or a Secrets-Manager-heavy mix.
 */

export interface TrailMix {
  /** Share of records from the services the scanner reads (Secrets Manager, KMS, CloudTrail). */
  scannedShare: number;
}

export const REALISTIC_MIX: TrailMix = { scannedShare: 0.05 };
export const SECRETS_HEAVY_MIX: TrailMix = { scannedShare: 0.8 };

const OTHER = [
  { source: "ec2", name: "DescribeInstances", request: { instancesSet: {}, filterSet: {} } },
  { source: "s3", name: "GetBucketAcl", request: { bucketName: "trading-data-archive", acl: "" } },
  {
    source: "sts",
    name: "AssumeRole",
    request: { roleArn: `arn:aws:iam::${ACCOUNT}:role/batch`, roleSessionName: "batch-1" },
  },
  { source: "lambda", name: "Invoke", request: { functionName: "pricing-feed", invocationType: "Event" } },
  {
    source: "logs",
    name: "CreateLogStream",
    request: { logGroupName: "/aws/lambda/pricing-feed", logStreamName: "2026/11/26/[$LATEST]abc" },
  },
  {
    source: "ecs",
    name: "DescribeServices",
    request: { cluster: "trading", services: ["order-router", "risk"] },
  },
] as const;

const APPS = ["order-router", "risk-engine", "pricing-feed", "reporting"];

/** The i-th record of a deterministic stream starting at startMs, one record every stepMs. */
export function generatedRecord(i: number, mix: TrailMix, startMs: number, stepMs = 50): Json {
  const time = new Date(startMs + i * stepMs).toISOString().replace(/\.\d{3}Z$/, "Z");
  const app = APPS[i % APPS.length] as string;
  const identity = assumedRole(app, `i-0${(i % 97).toString(16).padStart(16, "0")}`);
  // A deterministic spread: every 1/scannedShare-th record is one the scanner reads.
  const scanned = (i * 7919) % 1000 < mix.scannedShare * 1000;
  if (!scanned) {
    const other = OTHER[i % OTHER.length] as (typeof OTHER)[number];
    return record({
      time,
      name: other.name,
      source: other.source as "s3",
      identity: i % 11 === 0 ? awsService("ecs.amazonaws.com") : identity,
      request: other.request as Json,
      userAgent: SDK_AGENT,
      seq: i,
    });
  }
  const kind = i % 10;
  if (kind < 6) {
    return record({
      time,
      name: "GetSecretValue",
      identity,
      request: { secretId: `trading/${app}/db` },
      vpce: "vpce-0fedcba9876543210",
      seq: i,
    });
  }
  if (kind < 8) {
    return record({
      time,
      name: "Decrypt",
      source: "kms",
      identity: { ...identity, invokedBy: "secretsmanager.amazonaws.com" },
      sourceIp: "secretsmanager.amazonaws.com",
      userAgent: "secretsmanager.amazonaws.com",
      request: {
        encryptionContext: {
          SecretARN: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:trading/${app}/db-AbCdEf`,
        },
        encryptionAlgorithm: "SYMMETRIC_DEFAULT",
      },
      seq: i,
    });
  }
  if (kind === 8)
    return record({
      time,
      name: "DescribeSecret",
      identity,
      request: { secretId: `trading/${app}/db` },
      seq: i,
    });
  return record({
    time,
    name: "ListSecrets",
    identity: iamUser("ci"),
    userAgent: CLI_AGENT,
    request: { maxResults: 100 },
    seq: i,
  });
}

/** The JSON text of one trail file holding records [first, first + count). */
export function trailFileText(first: number, count: number, mix: TrailMix, startMs: number): string {
  const records: Json[] = [];
  for (let i = first; i < first + count; i++) records.push(generatedRecord(i, mix, startMs));
  return JSON.stringify({ Records: records });
}

/**
 * Writes files of recordsPerFile records under folder in the S3 layout
 * (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<time>_<id>.json.gz`);
 * returns their paths.
 */
export async function writeTrailTree(
  folder: string,
  options: { files: number; recordsPerFile: number; mix: TrailMix; startMs?: number },
): Promise<string[]> {
  const startMs = options.startMs ?? Date.parse("2026-11-01T00:00:00Z");
  const paths: string[] = [];
  for (let file = 0; file < options.files; file++) {
    const first = file * options.recordsPerFile;
    const at = new Date(startMs + first * 50);
    const day = at.toISOString().slice(0, 10).split("-");
    const dir = join(folder, "AWSLogs", ACCOUNT, "CloudTrail", REGION, ...day);
    await mkdir(dir, { recursive: true });
    const stamp = at.toISOString().replace(/[-:]/g, "").slice(0, 13);
    const path = join(
      dir,
      `${ACCOUNT}_CloudTrail_${REGION}_${stamp}Z_${String(file).padStart(6, "0")}.json.gz`,
    );
    await writeFile(path, gzipSync(trailFileText(first, options.recordsPerFile, options.mix, startMs)));
    paths.push(path);
  }
  return paths;
}

/**
 * One bulk-retrieval burst split across trail files, as CloudTrail splits one principal's calls between
 * the files it delivers: `secrets` distinct secrets read by one assumed role within two minutes (one
 * BatchGetSecretValue of four, GetSecretValue for the rest), dealt round-robin into `files` files, each
 * padded with `filler` records of other services and applications. Returns the records of each file.
 */
export function bulkRetrievalBurstFiles(options: {
  files: number;
  secrets: number;
  filler?: number;
  startMs?: number;
}): Json[][] {
  const startMs = options.startMs ?? Date.parse("2026-11-01T12:00:00Z");
  const stepMs = Math.floor(120_000 / options.secrets);
  const harvester = assumedRole("report-exporter", "stolen-session");
  const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const reads: Json[] = [
    record({
      time: time(startMs),
      name: "BatchGetSecretValue",
      identity: harvester,
      request: { secretIdList: [0, 1, 2, 3].map((i) => `trading/harvested-${i}/db`) },
      sourceIp: "198.51.100.23",
      userAgent: CLI_AGENT,
      seq: 0,
    }),
  ];
  for (let i = 4; i < options.secrets; i++) {
    reads.push(
      record({
        time: time(startMs + i * stepMs),
        name: "GetSecretValue",
        identity: harvester,
        request: { secretId: `trading/harvested-${i}/db` },
        sourceIp: "198.51.100.23",
        userAgent: CLI_AGENT,
        seq: i,
      }),
    );
  }
  const files: Json[][] = Array.from({ length: options.files }, () => []);
  for (const [index, read] of reads.entries()) files[index % options.files]?.push(read);
  const filler = options.filler ?? 200;
  for (const [file, records] of files.entries()) {
    for (let i = 0; i < filler; i++)
      records.push(generatedRecord(file * filler + i, REALISTIC_MIX, startMs, 120_000 / filler));
  }
  return files;
}
