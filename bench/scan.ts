import { spawnSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createGzip, gunzipSync } from "node:zlib";
import { build } from "esbuild";
import { defaultPolicy } from "../functions/audit-scan/policy.ts";
import { mayBeScanned } from "../functions/audit-scan/prefilter.ts";
import { listTrailFiles, scanTrailFiles, type TrailFile } from "../functions/audit-scan/scan-files.ts";
import { MemoryScanState } from "../functions/audit-scan/state.ts";
import { readTrailChunks } from "../functions/audit-scan/trail-file.ts";
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
  /** The same, by CPU time (user + system of the process) instead of wall time: less sensitive to load. */
  scannerRecordsPerCpuSecond: number;
  bareRecordsPerCpuSecond: number;
  /** Only what the scanner's reader does (read, gunzip, split, skip other services, JSON.parse the rest). */
  readerRecordsPerSecond: number;
  /** The 1-minute load average when the mix's runs started. */
  load: number;
}

export interface MemoryRow {
  megabytes: number;
  records: number;
  peakRssMiB: number;
  seconds: number;
  /** Files, for a folder input (1 for a single file). */
  files?: number;
}

export interface WorkersRow {
  workers: number;
  seconds: number;
  /** User + system CPU time of the whole run, every thread. */
  cpuSeconds?: number;
  records?: number;
  /** The one-thread bare gunzip + JSON.parse loop over the same files (in-process), records/s. */
  bareRecordsPerSecond?: number;
  /** scanTrailFiles with this many workers in the bench's process (no CLI start-up), records/s. */
  inProcessRecordsPerSecond?: number;
  load?: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** A temporary folder of generated trail files in the S3 layout, RECORDS_PER_FILE records each. */
async function generatedFolder(records: number, mix: TrailMix): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "vigil-bench-scan-"));
  const files = Math.ceil(records / RECORDS_PER_FILE);
  await writeTrailTree(folder, { files, recordsPerFile: RECORDS_PER_FILE, mix });
  return folder;
}

/** The bare loop: read, gunzip and JSON.parse every file whole; returns the records it found. */
function bareLoop(files: readonly TrailFile[]): { records: number; bytes: number } {
  let records = 0;
  let bytes = 0;
  for (const file of files) {
    const text = gunzipSync(readFileSync(file.path));
    bytes += text.length;
    records += (JSON.parse(text.toString("utf8")) as { Records: unknown[] }).Records.length;
  }
  return { records, bytes };
}

/** The scanner's reader alone: what the scan costs before normalisation and rules. */
async function readerLoop(files: readonly TrailFile[]): Promise<number> {
  let elements = 0;
  for (const file of files) {
    const stats = { elements: 0, ignored: 0 };
    for await (const _ of readTrailChunks(createReadStream(file.path, { highWaterMark: 64 * 1024 }), {
      relevant: mayBeScanned,
      stats,
    }));
    elements += stats.elements;
  }
  return elements;
}

/** Wall and CPU seconds of fn. */
async function timed<T>(
  fn: () => T | Promise<T>,
): Promise<{ value: T; seconds: number; cpuSeconds: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return {
    value,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
  };
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
      const load = loadavg()[0] ?? 0;
      let megabytes = 0;
      const samples = { scanned: [], bare: [], scannedCpu: [], bareCpu: [], reader: [] } as Record<
        string,
        number[]
      >;
      let count = 0;
      for (let run = 0; run < runs; run++) {
        // Alternated, so drift in the machine's load hits every loop alike.
        const bare = await timed(() => bareLoop(files));
        samples.bare?.push(bare.value.records / bare.seconds);
        samples.bareCpu?.push(bare.value.records / bare.cpuSeconds);
        megabytes = bare.value.bytes / 1_048_576;
        const scan = await timed(() =>
          scanTrailFiles(files, { policy: defaultPolicy(), state: new MemoryScanState(), workers: 0 }),
        );
        samples.scanned?.push(scan.value.records / scan.seconds);
        samples.scannedCpu?.push(scan.value.records / scan.cpuSeconds);
        if (scan.value.records !== bare.value.records)
          throw new Error(`scan read ${scan.value.records} of ${bare.value.records} records`);
        const reader = await timed(() => readerLoop(files));
        samples.reader?.push(reader.value / reader.seconds);
        count = scan.value.records;
      }
      rows.push({
        mix,
        files: files.length,
        records: count,
        megabytes,
        scannerRecordsPerSecond: median(samples.scanned ?? []),
        bareRecordsPerSecond: median(samples.bare ?? []),
        scannerRecordsPerCpuSecond: median(samples.scannedCpu ?? []),
        bareRecordsPerCpuSecond: median(samples.bareCpu ?? []),
        readerRecordsPerSecond: median(samples.reader ?? []),
        load,
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

/** Runs the built `vigil scan` in a child process; returns its peak RSS (MiB), wall and CPU time. */
function runVigilScan(
  paths: string[],
  workers?: number,
): { peakRssMiB: number; seconds: number; cpuSeconds: number } {
  const started = performance.now();
  // GNU time reports the child's peak RSS (worker threads, and the process vigil.mjs starts the scan in,
  // included) and its CPU time.
  const child = spawnSync(
    "/usr/bin/time",
    [
      "-f",
      "VIGIL_MAXRSS_KB=%M VIGIL_CPU=%U+%S",
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
  const match = /VIGIL_MAXRSS_KB=(\d+) VIGIL_CPU=([\d.]+)\+([\d.]+)/.exec(child.stderr);
  if (child.status === 2 || !match) throw new Error(`vigil scan failed: ${child.stderr.slice(-500)}`);
  return {
    peakRssMiB: Number(match[1]) / 1024,
    seconds,
    cpuSeconds: Number(match[2]) + Number(match[3]),
  };
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

/** Peak RSS of the built `vigil scan` (worker threads as it chooses) over folders of growing size. */
export async function measureScanFolderMemory(recordCounts: number[]): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const records of recordCounts) {
    const folder = await generatedFolder(records, REALISTIC_MIX);
    try {
      const files = await listTrailFiles([folder]);
      const { bytes } = bareLoop(files);
      const { peakRssMiB, seconds } = runVigilScan([folder]);
      rows.push({ megabytes: bytes / 1_048_576, records, peakRssMiB, seconds, files: files.length });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }
  return rows;
}

/**
 * scan-files as the CLI runs it: bundled by esbuild, its worker threads starting the bundled
 * scan-worker.mjs beside it (from the TypeScript sources, each worker thread would first compile them
 * again under tsx). Built into node_modules/.cache, where its packages resolve.
 */
async function builtScanFiles(): Promise<{ scanTrailFiles: typeof scanTrailFiles }> {
  const out = join(root, "node_modules", ".cache", "vigil-bench");
  const options = {
    bundle: true,
    packages: "external",
    platform: "node",
    target: "node20",
    format: "esm",
    logLevel: "warning",
  } as const;
  await build({
    ...options,
    entryPoints: [join(root, "functions", "audit-scan", "scan-files.ts")],
    outfile: join(out, "scan-files.mjs"),
  });
  await build({
    ...options,
    entryPoints: [join(root, "functions", "audit-scan", "scan-worker.ts")],
    outfile: join(out, "scan-worker.mjs"),
  });
  return (await import(pathToFileURL(join(out, "scan-files.mjs")).href)) as {
    scanTrailFiles: typeof scanTrailFiles;
  };
}

/**
 * The built `vigil scan` over a folder of generated files with each worker count (median of runs, by wall
 * time), beside the one-thread bare loop over the same files in this process.
 */
export async function measureScanWorkers(
  records: number,
  counts: number[],
  runs: number,
): Promise<WorkersRow[]> {
  const folder = await generatedFolder(records, REALISTIC_MIX);
  const built = await builtScanFiles();
  try {
    const files = await listTrailFiles([folder]);
    const load = loadavg()[0] ?? 0;
    const samples = new Map<number, { seconds: number; cpuSeconds: number }[]>(
      counts.map((count) => [count, []]),
    );
    const bare: number[] = [];
    const inProcess = new Map<number, number[]>(counts.map((count) => [count, []]));
    for (let run = 0; run < runs; run++) {
      const loop = await timed(() => bareLoop(files));
      bare.push(loop.value.records / loop.seconds);
      for (const count of counts) {
        samples.get(count)?.push(runVigilScan([folder], count));
        const scan = await timed(() =>
          built.scanTrailFiles(files, {
            policy: defaultPolicy(),
            state: new MemoryScanState(),
            workers: count,
          }),
        );
        inProcess.get(count)?.push(scan.value.records / scan.seconds);
      }
    }
    return counts.map((workers) => {
      const runsOf = [...(samples.get(workers) ?? [])].sort((a, b) => a.seconds - b.seconds);
      const middle = runsOf[Math.floor(runsOf.length / 2)] ?? { seconds: 0, cpuSeconds: 0 };
      return {
        workers,
        seconds: middle.seconds,
        cpuSeconds: middle.cpuSeconds,
        records,
        bareRecordsPerSecond: median(bare),
        inProcessRecordsPerSecond: median(inProcess.get(workers) ?? []),
        load,
      };
    });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
