import { isMainThread, type MessagePort, parentPort, workerData } from "node:worker_threads";
import { mayBeScanned } from "./prefilter.ts";
import { readTrailFileChunks, type TrailReadStats } from "./trail-file.ts";

/**
 * The worker-thread side of `vigil scan` (see scan-files.ts): reads the trail files it is given, in order,
 * and posts their candidate records in batches. The CLI build bundles it on its own
 * (dist/cli/scan-worker.mjs) so that starting a worker loads only the trail reader, not the whole CLI.
 */

/** The workerData key that makes a thread loading this module serve files. */
export const WORKER_FLAG = "vigilTrailWorker";
/** Candidate records per message, at most (a message may hold the records of many files). */
const BATCH_RECORDS = 2_000;
/** Finished files per message, at most: the main thread gives more files as it hears of finished ones. */
const FILES_PER_REPORT = 8;

/** A file the worker has finished: how many records it held, and why it stopped early if it did. */
export interface FinishedFile {
  elements: number;
  error?: string;
}

/**
 * One message: candidate records (of the file being read and of files finished since the last message),
 * then the files finished, in the order they were given; `bytes`: how far into the file being read.
 */
export interface FromWorker {
  records: unknown[];
  bytes: number;
  finished: FinishedFile[];
}

export type ToWorker = { type: "file"; path: string } | { type: "ack" };

/** Serves files: reads the files it is given and posts their candidate records in batches. */
async function serveTrailWorker(port: MessagePort): Promise<void> {
  let unacknowledged = 0;
  let resume: (() => void) | undefined;
  let records: unknown[] = [];
  let finished: FinishedFile[] = [];
  let bytes = 0;
  // A message per batch, not per file (posting costs more than a small file's records): a batch goes when
  // it is full, or when there is no file left to read. At most two unacknowledged batches: a worker never
  // runs far ahead of the rules (bounded memory).
  const flush = async () => {
    if (records.length === 0 && finished.length === 0) return;
    port.postMessage({ records, bytes, finished } satisfies FromWorker);
    records = [];
    finished = [];
    unacknowledged++;
    while (unacknowledged >= 2) {
      await new Promise<void>((resolve) => {
        resume = resolve;
      });
    }
  };
  // The main thread sends files ahead so that this thread never waits for the next one.
  const queue: string[] = [];
  let reading = false;
  const readQueue = async () => {
    reading = true;
    for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
      await readFile(path);
      // Reporting finished files early lets the main thread send more before this queue runs dry.
      if (queue.length === 0 || records.length >= BATCH_RECORDS || finished.length >= FILES_PER_REPORT)
        await flush();
    }
    reading = false;
  };
  const readFile = async (path: string) => {
    const stats: TrailReadStats = { elements: 0, ignored: 0 };
    bytes = 0;
    try {
      for await (const chunk of readTrailFileChunks(path, {
        raw: true,
        relevant: mayBeScanned,
        stats,
        source: path,
        onBytes: (read) => {
          bytes = read;
        },
      })) {
        for (const record of chunk) records.push(record);
        if (records.length >= BATCH_RECORDS) await flush();
      }
      finished.push({ elements: stats.elements });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      finished.push({ elements: stats.elements, error: reason });
    }
    bytes = 0;
  };
  port.on("message", (message: ToWorker) => {
    if (message.type === "ack") {
      unacknowledged--;
      resume?.();
      return;
    }
    queue.push(message.path);
    if (!reading) void readQueue();
  });
  // The worker lives until the pool terminates it; nothing after this module may run in a worker.
  await new Promise<never>(() => {});
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[WORKER_FLAG]) {
  await serveTrailWorker(parentPort);
}
