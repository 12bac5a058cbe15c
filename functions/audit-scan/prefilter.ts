import { startsWithAt } from "./trail-file.ts";

/**
 * What the scanner reads, and the byte-level check that skips the rest of a trail file unparsed. Kept apart
 * from normalise.ts (and the policy it imports) so that a worker thread reading files loads only this.
 */

/** The event sources the scanner reads, and their service names (the part before `.amazonaws.com`). */
export const SCANNED_SOURCES: ReadonlyMap<string, string> = new Map([
  ["secretsmanager.amazonaws.com", "secretsmanager"],
  ["kms.amazonaws.com", "kms"],
  ["cloudtrail.amazonaws.com", "cloudtrail"],
]);

const SOURCE_NEEDLES = [...SCANNED_SOURCES.keys()].map((source) => Buffer.from(`"${source}"`));

/**
 * Looks at a record's raw JSON bytes [start, end) and says whether the scanner may need it: false only
 * when its `eventSource` is plainly another service's, so a trail file's majority of other services'
 * records is skipped without JSON.parse. `sourceAt` is where the value of the record's top-level
 * `"eventSource"` key starts, as the trail reader found it while splitting the record (-1: no such key, or
 * an EventBridge event, judged by its detail).
 * Anything unusual (no eventSource, not a string, escapes) answers true, and the normaliser then counts
 * it with its reason.
 */
export function mayBeScanned(bytes: Buffer, start: number, end: number, sourceAt: number): boolean {
  if (sourceAt < start || sourceAt >= end || bytes[sourceAt] !== 0x22) return true;
  // The value's closing quote and its comparison with the needles are plain loops over a few bytes, not
  // Buffer#indexOf and Buffer#compare: this function turns hot within a cold start's first trail file,
  // and V8 inlining those wrappers (argument checks and all) made optimising it cost several ms of CPU.
  let close = sourceAt + 1;
  for (; close < end; close++) {
    const byte = bytes[close] as number;
    if (byte === 0x22) break;
    // An escape (`\u006bms...`, `\"`) may spell a scanned source once decoded: the normaliser decides.
    if (byte === 0x5c) return true;
  }
  if (close >= end) return true;
  for (const source of SOURCE_NEEDLES) {
    if (close + 1 - sourceAt === source.length && startsWithAt(bytes, sourceAt, source)) return true;
  }
  return false;
}
