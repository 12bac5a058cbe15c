import { spawnSync } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createGzip, gunzipSync } from "node:zlib";
import { defaultPolicy } from "../functions/audit-scan/policy.ts";
import { listTrailFiles, scanTrailFiles } from "../functions/audit-scan/scan-files.ts";
import { MemoryScanState } from "../functions/audit-scan/state.ts";
import {
  generatedRecord,
  REALISTIC_MIX,
  SECRETS_HEAVY_MIX,
  type TrailMix,
  writeTrailTree,
} from "../test/unit/scenarios/trail-generator.ts";

/**
 * Trail-file benchmarks: records/s of the scanner (`vigil scan`'s module, one thread) against a bare loop
 * that only gunzips and JSON.parses the same files, and peak RSS of the built `vigil scan` over inputs of
 * growing size.
 */

const root = fileURLToPath(new URL("..", import.meta.url));
const RECORDS_PER_FILE = 1_000;

export interface ThroughputRow {
  mix: string;
  files: number;
  records: number;
  megabytes: number;
  scannerRecordsPerSecond: number;
  bareRecordsPerSecond: number;
}

export interface MemoryRow {
  megabytes: number;
  records: number;
  peakRssMiB: number;
  seconds: number;
}

export interface WorkersRow {
  workers: number;
  seconds: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** A temporary folder of generated trail files in the S3 layout, RECORDS_PER_FILE records each. */
async function generatedFolder(records: number, mix: TrailMix): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "vigil-bench-scan-"));
  const files = Math.ceil(records / RECORDS_PER_FILE);
  await writeTrailTree(folder, { files, recordsPerFile: RECORDS_PER_FILE, mix });
  return folder;
}

/** Scanner vs bare gunzip + JSON.parse over `records` generated records of each mix, median of `runs`. */
export async function measureScanThroughput(records: number, runs: number): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const [mix, shape] of [
    ["realistic (5 % Secrets Manager/KMS/CloudTrail)", REALISTIC_MIX],
    ["Secrets-Manager-heavy (80 %)", SECRETS_HEAVY_MIX],
  ] as [string, TrailMix][]) {
    const folder = await generatedFolder(records, shape);
    try {
      const files = await listTrailFiles([folder]);
      let megabytes = 0;
      const scanned: number[] = [];
      const bare: number[] = [];
      let count = 0;
      for (let run = 0; run < runs; run++) {
        // Alternated, so drift in the machine's load hits both loops alike.
        let started = performance.now();
        let bareRecords = 0;
        let bytes = 0;
        for (const file of files) {
          const text = gunzipSync(readFileSync(file.path));
          bytes += text.length;
          bareRecords += (JSON.parse(text.toString("utf8")) as { Records: unknown[] }).Records.length;
        }
        bare.push(bareRecords / ((performance.now() - started) / 1000));
        megabytes = bytes / 1_048_576;
        started = performance.now();
        const result = await scanTrailFiles(files, {
          policy: defaultPolicy(),
          state: new MemoryScanState(),
          workers: 0,
        });
        scanned.push(result.records / ((performance.now() - started) / 1000));
        if (result.records !== bareRecords)
          throw new Error(`scan read ${result.records} of ${bareRecords} records`);
        count = result.records;
      }
      rows.push({
        mix,
        files: files.length,
        records: count,
        megabytes,
        scannerRecordsPerSecond: median(scanned),
        bareRecordsPerSecond: median(bare),
      });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }
  return rows;
}

/** Writes one .json.gz trail file of about `megabytes` uncompressed, streaming (a 1 GB string cannot exist). */
async function writeLargeTrailFile(path: string, megabytes: number): Promise<number> {
  const gzip = createGzip({ level: 1 });
  const out = gzip.pipe(createWriteStream(path));
  const limit = megabytes * 1_048_576;
  const startMs = Date.parse("2026-11-01T00:00:00Z");
  let written = 0;
  let count = 0;
  const write = (text: string) =>
    new Promise<void>((resolve) => {
      written += Buffer.byteLength(text);
      if (gzip.write(text)) resolve();
      else gzip.once("drain", resolve);
    });
  await write('{"Records":[');
  let chunk: string[] = [];
  while (written < limit) {
    chunk.push(JSON.stringify(generatedRecord(count, REALISTIC_MIX, startMs, 1)));
    count++;
    if (chunk.length === 500) {
      await write((count > 500 ? "," : "") + chunk.join(","));
      chunk = [];
    }
  }
  if (chunk.length > 0) await write((count > chunk.length ? "," : "") + chunk.join(","));
  gzip.end("]}");
  await new Promise<void>((resolve, reject) => out.on("finish", resolve).on("error", reject));
  return count;
}

const vigil = () => {
  const cli = join(root, "dist", "cli", "vigil.mjs");
  if (!existsSync(cli)) throw new Error("dist/cli/vigil.mjs is missing: run `npm run build` first");
  return cli;
};

/** Runs the built `vigil scan` in a child process; returns its peak RSS (MiB) and wall time. */
function runVigilScan(paths: string[], workers?: number): { peakRssMiB: number; seconds: number } {
  const started = performance.now();
  // GNU time reports the child's peak RSS, worker threads included.
  const child = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "VIGIL_MAXRSS_KB=%M",
      process.execPath,
      vigil(),
      "scan",
      "--format",
      "json",
      ...(workers === undefined ? [] : ["--workers", String(workers)]),
      ...paths,
    ],
    { encoding: "utf8", maxBuffer: 256 * 1_048_576 },
  );
  const seconds = (performance.now() - started) / 1000;
  const match = /VIGIL_MAXRSS_KB=(\d+)/.exec(child.stderr);
  if (child.status === 2 || !match) throw new Error(`vigil scan failed: ${child.stderr.slice(-500)}`);
  return { peakRssMiB: Number(match[1]) / 1024, seconds };
}

/** Peak RSS of the built `vigil scan` over single files of growing uncompressed size. */
export async function measureScanMemory(sizesMegabytes: number[]): Promise<MemoryRow[]> {
  const folder = await mkdtemp(join(tmpdir(), "vigil-bench-rss-"));
  try {
    const rows: MemoryRow[] = [];
    for (const megabytes of sizesMegabytes) {
      const path = join(folder, `trail-${megabytes}mb.json.gz`);
      const records = await writeLargeTrailFile(path, megabytes);
      const { peakRssMiB, seconds } = runVigilScan([path], 0);
      rows.push({ megabytes, records, peakRssMiB, seconds });
      await rm(path);
    }
    return rows;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** Wall time of the built `vigil scan` over a folder of generated files with each worker count, median of runs. */
export async function measureScanWorkers(
  records: number,
  counts: number[],
  runs: number,
): Promise<WorkersRow[]> {
  const folder = await generatedFolder(records, REALISTIC_MIX);
  try {
    const samples = new Map<number, number[]>(counts.map((count) => [count, []]));
    for (let run = 0; run < runs; run++) {
      for (const count of counts) samples.get(count)?.push(runVigilScan([folder], count).seconds);
    }
    return counts.map((workers) => ({ workers, seconds: median(samples.get(workers) ?? []) }));
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
