import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Finding } from "../../lib/finding.ts";
import { byCodeUnit } from "../../lib/order.ts";
import { createScanner } from "./engine.ts";
import { ScanInputError } from "./errors.ts";
import type { Policy } from "./policy.ts";
import { mayBeScanned } from "./prefilter.ts";
import { type FromWorker, type ToWorker, WORKER_FLAG } from "./scan-worker.ts";
import type { ScanState } from "./state.ts";
import { readTrailFileChunks, type TrailReadStats } from "./trail-file.ts";

/**
 * `vigil scan` without the printing: trail files and folders in, findings and counts out. The CLI, the
 * demo and the tests share it. Large inputs are read by worker threads (decompressing, splitting and
 * filtering records in parallel) while this thread runs the rules over the few records that matter.
 */

export interface TrailFile {
  path: string;
  size: number;
}

export interface ScanProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface ScanFilesOptions {
  policy: Policy;
  state: ScanState;
  timeRange?: { sinceMs?: number; untilMs?: number };
  /** Worker threads reading files; 0 reads them on this thread; default: by input size and cores. */
  workers?: number;
  onProgress?: (progress: ScanProgress) => void;
  now?: () => Date;
}

export interface ScanFilesResult {
  findings: Finding[];
  files: number;
  /** Records in the files, every service's. */
  records: number;
  /** Secrets Manager, KMS and CloudTrail records judged by the rules. */
  judged: number;
  skipped: Record<string, number>;
  suppressed: number;
  outOfRange: number;
  /** Files that could not be read completely (the records before the problem were scanned). */
  errors: { path: string; message: string }[];
  workers: number;
}

/**
 * Files a worker is given ahead of the one it reads (only their paths), so that it never waits for the
 * main thread: it posts a batch when it is full or when it has read every file it was given.
 */
const FILES_AHEAD = 16;
/** Inputs below this size are read on the main thread: starting workers costs more than it saves. */
const WORKER_THRESHOLD_BYTES = 32 * 1024 * 1024;
/**
 * The young generation of a worker thread (V8 sizes it at three semi-spaces): a scan's allocation rate
 * would otherwise grow it to about 48 MiB, most of the peak RSS growth with the input's size. It matches
 * the `--max-semi-space-size=2` that dist/cli/vigil.mjs starts `vigil scan` with (scripts/build.mjs).
 */
const WORKER_YOUNG_GENERATION_MB = 6;

/** Expands files and folders (recursively, `.json` / `.json.gz`, digest files left out) into trail files. */
export async function listTrailFiles(paths: readonly string[]): Promise<TrailFile[]> {
  if (paths.length === 0) throw new ScanInputError("scan: give at least one file or folder");
  const out = new Map<string, TrailFile>();
  for (const path of paths) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      throw new ScanInputError(
        error.code === "ENOENT" ? `${path}: no such file or directory` : `${path}: ${error.message}`,
        { cause: error },
      );
    });
    if (info.isDirectory()) for (const file of await walk(path)) out.set(file.path, file);
    else out.set(path, { path, size: info.size });
  }
  return [...out.values()];
}

async function walk(folder: string): Promise<TrailFile[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  entries.sort((a, b) => byCodeUnit(a.name, b.name));
  const out: TrailFile[] = [];
  for (const entry of entries) {
    const path = join(folder, entry.name);
    // Digest files (CloudTrail-Digest/) prove integrity; they hold no records.
    if (entry.name.startsWith(".") || entry.name === "CloudTrail-Digest") continue;
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else if (entry.isFile() && /\.json(\.gz)?$/i.test(entry.name)) {
      out.push({ path, size: (await stat(path)).size });
    }
  }
  return out;
}

/** Scans trail files with the rule catalogue; a file that fails is reported in `errors`, the rest still scanned. */
export async function scanTrailFiles(
  files: readonly TrailFile[],
  options: ScanFilesOptions,
): Promise<ScanFilesResult> {
  const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
  const workers = options.workers ?? defaultWorkers(files, bytesTotal);
  const totals = { records: 0, errors: [] as ScanFilesResult["errors"] };
  const progress: ScanProgress = { filesDone: 0, filesTotal: files.length, bytesDone: 0, bytesTotal };
  const scanner = createScanner({
    policy: options.policy,
    state: options.state,
    ...(options.now ? { now: options.now } : {}),
    ...(options.timeRange ? { timeRange: options.timeRange } : {}),
  });
  const records =
    workers > 0
      ? recordsFromWorkers(files, workers, totals, progress, options.onProgress)
      : recordsFromThisThread(files, totals, progress, options.onProgress);
  const result = await scanner.scanChunks(records);
  // Worker threads finish files out of order: problems are reported in the order the files were given.
  const order = new Map(files.map((file, index) => [file.path, index]));
  totals.errors.sort((a, b) => (order.get(a.path) ?? 0) - (order.get(b.path) ?? 0));
  return {
    findings: result.findings,
    files: files.length,
    records: totals.records,
    judged: result.judged ?? 0,
    skipped: result.skipped,
    suppressed: result.suppressed ?? 0,
    outOfRange: result.outOfRange ?? 0,
    errors: totals.errors,
    workers,
  };
}

function defaultWorkers(files: readonly TrailFile[], bytesTotal: number): number {
  const cores = availableParallelism();
  if (cores < 2 || bytesTotal < WORKER_THRESHOLD_BYTES) return 0;
  return Math.max(1, Math.min(cores, files.length, 8));
}

function failure(path: string, error: unknown): { path: string; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  return { path, message: message.startsWith(path) ? message : `${path}: ${message}` };
}

async function* recordsFromThisThread(
  files: readonly TrailFile[],
  totals: { records: number; errors: ScanFilesResult["errors"] },
  progress: ScanProgress,
  onProgress: ScanFilesOptions["onProgress"],
): AsyncGenerator<unknown[]> {
  for (const file of files) {
    const stats: TrailReadStats = { elements: 0, ignored: 0 };
    const before = progress.bytesDone;
    try {
      yield* readTrailFileChunks(file.path, {
        relevant: mayBeScanned,
        stats,
        source: file.path,
        onBytes: (bytes) => {
          progress.bytesDone = before + bytes;
          onProgress?.(progress);
        },
      });
    } catch (error) {
      totals.errors.push(failure(file.path, error));
    }
    totals.records += stats.elements;
    progress.filesDone++;
    progress.bytesDone = before + file.size;
    onProgress?.(progress);
  }
}

async function* recordsFromWorkers(
  files: readonly TrailFile[],
  count: number,
  totals: { records: number; errors: ScanFilesResult["errors"] },
  progress: ScanProgress,
  onProgress: ScanFilesOptions["onProgress"],
): AsyncGenerator<unknown[]> {
  const inbox: { worker: Worker; message: FromWorker }[] = [];
  let wake: (() => void) | undefined;
  let next = 0;
  let crashed: Error | undefined;
  let doneBytes = 0;
  let filesLeft = files.length;
  /** Per worker: the files given and not yet accounted for, in the order it reads them (the first is being read). */
  const given = new Map<Worker, { file: TrailFile; bytes: number }[]>();
  /** Per worker: files given that it has not reported finished (what topping up counts). */
  const outstanding = new Map<Worker, number>();
  const pool: Worker[] = [];

  const topUp = (worker: Worker) => {
    const queue = given.get(worker) as { file: TrailFile; bytes: number }[];
    let ahead = outstanding.get(worker) ?? 0;
    for (; ahead < FILES_AHEAD; ahead++) {
      const file = files[next];
      if (!file) break;
      next++;
      queue.push({ file, bytes: 0 });
      worker.postMessage({ type: "file", path: file.path } satisfies ToWorker);
    }
    outstanding.set(worker, ahead);
  };
  const bytesInProgress = () => {
    let bytes = 0;
    for (const queue of given.values()) bytes += queue[0]?.bytes ?? 0;
    return bytes;
  };

  for (let i = 0; i < Math.min(count, files.length); i++) {
    const worker = startWorker();
    worker.on("message", (message: FromWorker) => {
      // More files go out at once, before the rules have looked at this batch: the worker never waits.
      outstanding.set(worker, (outstanding.get(worker) ?? 0) - message.finished.length);
      topUp(worker);
      inbox.push({ worker, message });
      wake?.();
    });
    worker.on("error", (error) => {
      crashed = error;
      wake?.();
    });
    pool.push(worker);
    given.set(worker, []);
    topUp(worker);
  }

  try {
    while (filesLeft > 0) {
      if (crashed) throw crashed;
      const item = inbox.shift();
      if (!item) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      const { worker, message } = item;
      worker.postMessage({ type: "ack" } satisfies ToWorker);
      const queue = given.get(worker) as { file: TrailFile; bytes: number }[];
      // The batch's records come before the files it finishes are accounted for (totals, progress).
      if (message.records.length > 0) yield message.records;
      for (const outcome of message.finished) {
        const done = queue.shift() as { file: TrailFile; bytes: number };
        totals.records += outcome.elements;
        if (outcome.error !== undefined)
          totals.errors.push(failure(done.file.path, new Error(outcome.error)));
        doneBytes += done.file.size;
        filesLeft--;
        progress.filesDone++;
      }
      const current = queue[0];
      if (current) current.bytes = message.bytes;
      progress.bytesDone = doneBytes + bytesInProgress();
      onProgress?.(progress);
    }
  } finally {
    await Promise.all(pool.map((worker) => worker.terminate()));
  }
}

/**
 * A worker thread running scan-worker: from its own small bundle beside the CLI's (so a worker does not
 * load and initialise the whole CLI), from this bundle where there is none, or from the TypeScript
 * sources under tsx.
 */
function startWorker(): Worker {
  const url = import.meta.url;
  const data = {
    workerData: { [WORKER_FLAG]: true },
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  };
  if (!url.endsWith(".ts")) {
    // dist/cli/scan-worker.mjs: beside this module, or one folder up from the CLI's chunks/.
    const entry = [new URL("./scan-worker.mjs", url), new URL("../scan-worker.mjs", url)].find((candidate) =>
      existsSync(candidate),
    );
    // This bundle holds scan-worker too (imported above), so it serves as the fallback entry.
    return new Worker(entry ?? new URL(url), data);
  }
  // Tests and `tsx` run the sources: a worker thread does not inherit tsx's loader, so it registers
  // it through tsx's ESM API (the .mjs beside the .cjs that require() resolves).
  const api = createRequire(url)
    .resolve("tsx/esm/api")
    .replace(/\.cjs$/, ".mjs");
  const entry = new URL("./scan-worker.ts", url).href;
  const code = `import(${JSON.stringify(pathToFileURL(api).href)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { ...data, eval: true });
}
