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

const EVENT_SOURCE_KEY = Buffer.from('"eventSource"');
const SOURCE_NEEDLES = [...SCANNED_SOURCES.keys()].map((source) => Buffer.from(`"${source}"`));

/**
 * Looks at a record's raw JSON bytes [start, end) and says whether the scanner may need it: false only
 * when its `eventSource` is plainly another service's, so a trail file's majority of other services'
 * records is skipped without JSON.parse. Anything unusual (no eventSource, escapes) answers true, and
 * the normaliser then counts it with its reason.
 */
export function mayBeScanned(bytes: Buffer, start: number, end: number): boolean {
  let from = start;
  for (;;) {
    const key = bytes.indexOf(EVENT_SOURCE_KEY, from);
    if (key < 0 || key >= end) return true;
    let at = key + EVENT_SOURCE_KEY.length;
    while (at < end && isSpace(bytes[at] as number)) at++;
    // `"eventSource"` as a value (an event selector's field name) is not the key.
    if (bytes[at] !== 0x3a) {
      from = key + 1;
      continue;
    }
    at++;
    while (at < end && isSpace(bytes[at] as number)) at++;
    if (bytes[at] !== 0x22) return true;
    // The value's closing quote and its comparison with the needles are plain loops over a few bytes, not
    // Buffer#indexOf and Buffer#compare: this function turns hot within a cold start's first trail file,
    // and V8 inlining those wrappers (argument checks and all) made optimising it cost several ms of CPU.
    let close = at + 1;
    while (close < end && bytes[close] !== 0x22) close++;
    if (close >= end || bytes[close - 1] === 0x5c) return true;
    for (const source of SOURCE_NEEDLES) {
      if (close + 1 - at === source.length && startsWithAt(bytes, at, source)) return true;
    }
    return false;
  }
}

/** True when bytes holds needle at offset at. */
function startsWithAt(bytes: Buffer, at: number, needle: Buffer): boolean {
  for (let i = 0; i < needle.length; i++) if (bytes[at + i] !== needle[i]) return false;
  return true;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
