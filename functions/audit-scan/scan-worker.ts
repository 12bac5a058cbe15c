import { createReadStream } from "node:fs";
import { isMainThread, type MessagePort, parentPort, workerData } from "node:worker_threads";
import { mayBeScanned } from "./prefilter.ts";
import { readTrailChunks, type TrailReadStats } from "./trail-file.ts";

/**
 * The worker-thread side of `vigil scan` (see scan-files.ts): reads the trail files it is given and
 * posts their candidate records in batches. The CLI build bundles it on its own (dist/cli/scan-worker.mjs)
 * so that starting a worker loads only the trail reader, not the whole CLI.
 */

/** The workerData key that makes a thread loading this module serve files. */
export const WORKER_FLAG = "vigilTrailWorker";
const BATCH_RECORDS = 2_000;
/** Bytes read from a file at a time. */
export const READ_CHUNK = 64 * 1024;

export type FromWorker =
  | { type: "batch"; records: unknown[]; bytes: number }
  | { type: "done"; elements: number }
  | { type: "error"; elements: number; message: string };

/** Serves files: reads the files it is given and posts their candidate records in batches. */
async function serveTrailWorker(port: MessagePort): Promise<void> {
  let unacknowledged = 0;
  let resume: (() => void) | undefined;
  // At most two batches in flight: a worker never runs far ahead of the rules (bounded memory).
  const send = async (message: FromWorker) => {
    port.postMessage(message);
    unacknowledged++;
    while (unacknowledged >= 2) {
      await new Promise<void>((resolve) => {
        resume = resolve;
      });
    }
  };
  // Files are read one after another, in the order given: the main thread sends a few ahead so that this
  // thread never waits for the next one, and counts every message against the oldest file it has sent.
  const queue: string[] = [];
  let reading = false;
  const readQueue = async () => {
    reading = true;
    for (let path = queue.shift(); path !== undefined; path = queue.shift()) await readFile(path);
    reading = false;
  };
  const readFile = async (path: string) => {
    const stats: TrailReadStats = { elements: 0, ignored: 0 };
    let bytes = 0;
    let records: unknown[] = [];
    try {
      for await (const chunk of readTrailChunks(createReadStream(path, { highWaterMark: READ_CHUNK }), {
        raw: true,
        relevant: mayBeScanned,
        stats,
        source: path,
        onBytes: (read) => {
          bytes = read;
        },
      })) {
        for (const record of chunk) records.push(record);
        if (records.length >= BATCH_RECORDS) {
          await send({ type: "batch", records, bytes });
          records = [];
        }
      }
      if (records.length > 0) await send({ type: "batch", records, bytes });
      port.postMessage({ type: "done", elements: stats.elements } satisfies FromWorker);
    } catch (error) {
      if (records.length > 0) await send({ type: "batch", records, bytes });
      const reason = error instanceof Error ? error.message : String(error);
      port.postMessage({ type: "error", elements: stats.elements, message: reason } satisfies FromWorker);
    }
  };
  port.on("message", (message: { type: "file"; path: string } | { type: "ack" }) => {
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
