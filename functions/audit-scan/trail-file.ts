import { closeSync, createReadStream, fstatSync, openSync, readFileSync } from "node:fs";
import { pipeline, Readable } from "node:stream";
import { createGunzip, gunzipSync } from "node:zlib";
import { NotCloudTrailError, TruncatedTrailFileError } from "./errors.ts";

/**
 * Streaming reader of CloudTrail log files: `{"Records": [...]}` (the S3 delivery format), the output of
 * `aws cloudtrail lookup-events` (`{"Events": [{"CloudTrailEvent": "..."}]}`), or a bare JSON array of
 * records; gzip-compressed or not. A hand-written splitter finds each top-level element of the array
 * without parsing it, so memory stays bounded by the largest single record, and a caller can skip the
 * (majority of) records of other services without paying for JSON.parse.
 */

export interface TrailReadStats {
  /** Array elements found so far. */
  elements: number;
  /** Elements skipped by `relevant` without being parsed. */
  ignored: number;
  /** What the file turned out to be. */
  format?: "records" | "lookup-events" | "array";
}

export interface TrailReadOptions {
  /**
   * Looks at one element's raw bytes [start, end); false skips it unparsed. Default: every element.
   * `sourceAt`: where the value of the element's top-level `"eventSource"` key starts, which the splitter
   * notes as it walks the element (the last such key, as JSON.parse keeps the last); -1 when it has none,
   * or when the element is an EventBridge event (`detail-type`), which the normaliser judges by its detail.
   */
  relevant?: (bytes: Buffer, start: number, end: number, sourceAt: number) => boolean;
  /** Counters the reader updates as it goes (also when it throws). */
  stats?: TrailReadStats;
  /** Names the file in errors. */
  source?: string;
  /** Yield each record's JSON text unparsed (a worker thread hands text to the scanner, which parses it). */
  raw?: boolean;
  /** Called with the number of (compressed) input bytes read so far, for progress bars. */
  onBytes?: (bytes: number) => void;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const GZIP_CHUNK = 64 * 1024;
/** Bytes read from a file at a time when it is streamed. */
export const READ_CHUNK = 64 * 1024;
/**
 * A trail file up to this size on disk is read whole and, when gzipped, decompressed in one synchronous
 * call: CloudTrail's files are mostly a few hundred KiB, and streaming one costs more in callbacks and
 * awaits than its gunzip. Larger files stream, so memory stays bounded whatever their size.
 */
export const WHOLE_FILE_BYTES = 1024 * 1024;
/** ...and only when it decompresses to at most this (gzip's trailer says how much it will, mod 2^32). */
const WHOLE_FILE_UNCOMPRESSED_BYTES = 24 * 1024 * 1024;

type Phase =
  | "start" // before the top-level value
  | "key" // in the top-level object, expecting a key or }
  | "colon" // after a top-level key
  | "value" // expecting a top-level value
  | "after-value" // expecting , or } in the top-level object
  | "element" // in the records array, expecting an element or ]
  | "after-element" // expecting , or ] in the records array
  | "done";

/** Yields the records of one CloudTrail file (see the module comment), streaming and decompressing. */
export async function* readTrailRecords(
  input: Readable | AsyncIterable<Buffer | string>,
  options: TrailReadOptions = {},
): AsyncGenerator<unknown> {
  for await (const records of readTrailChunks(input, options)) yield* records;
}

/**
 * The records of one CloudTrail file as readTrailRecords finds them, an array per decompressed chunk: a
 * caller that runs through records synchronously (the scanner) pays one await per chunk, not per record.
 */
export async function* readTrailChunks(
  input: Readable | AsyncIterable<Buffer | string>,
  options: TrailReadOptions = {},
): AsyncGenerator<unknown[]> {
  const source = options.source ?? "input";
  const splitter = new TrailSplitter(source, options.stats ?? { elements: 0, ignored: 0 }, options);
  // One buffer for the life of the file: the unconsumed tail moves to its start, the next chunk is appended
  // (and it doubles only when a record is longer than what it holds).
  let data = Buffer.allocUnsafe(1 << 16);
  let length = 0;
  for await (const chunk of decompressed(input, source, options.onBytes)) {
    if (splitter.pos > 0) {
      data.copy(data, 0, splitter.pos, length);
      length -= splitter.pos;
      splitter.pos = 0;
    }
    if (length + chunk.length > data.length) {
      const bigger = Buffer.allocUnsafe(Math.max(data.length * 2, length + chunk.length));
      data.copy(bigger, 0, 0, length);
      data = bigger;
    }
    chunk.copy(data, length);
    length += chunk.length;
    yield* splitter.take(data, length);
  }
  splitter.finish();
}

/**
 * The records of one trail file on disk, as readTrailChunks finds them. A small file is read whole and
 * split without an await per chunk; a larger one (or one whose gzip stream is damaged, so that the
 * records before the damage are still handed on) is streamed.
 */
export async function* readTrailFileChunks(
  path: string,
  options: TrailReadOptions = {},
): AsyncGenerator<unknown[]> {
  const whole = readSmallFile(path);
  if (whole === undefined) {
    yield* readTrailChunks(createReadStream(path, { highWaterMark: READ_CHUNK }), options);
    return;
  }
  yield* readTrailBufferChunks(whole, options);
}

/**
 * The records of one whole trail file already in memory (an S3 object's body, a small file), as
 * readTrailChunks finds them: gunzipped in one call when it decompresses to at most
 * `maxUncompressedBytes` (default 24 MiB), else streamed from memory, so that the decompressed text is
 * never held whole and a damaged gzip stream still hands on the records before the damage.
 */
export async function* readTrailBufferChunks(
  whole: Buffer,
  options: TrailReadOptions = {},
  maxUncompressedBytes = WHOLE_FILE_UNCOMPRESSED_BYTES,
): AsyncGenerator<unknown[]> {
  const text = gunzipWhole(whole, maxUncompressedBytes);
  if (text === undefined) {
    yield* readTrailChunks(Readable.from([whole]), options);
    return;
  }
  options.onBytes?.(whole.length);
  yield* splitWhole(text, options);
}

/**
 * The file's bytes when it is small enough to read whole (or not a regular file); undefined otherwise.
 * Read synchronously: a trail file is a few hundred KiB, and four calls through libuv's thread pool (open,
 * stat, read, close) cost four to six times the CPU of the same calls made directly (300 files: 60-120 →
 * 16 ms).
 */
function readSmallFile(path: string): Buffer | undefined {
  const file = openSync(path, "r");
  try {
    const info = fstatSync(file);
    // A pipe (`vigil scan /dev/stdin`, `<(zcat ...)`) has no size: it is read to its end.
    if (info.isFile() && info.size > WHOLE_FILE_BYTES) return undefined;
    return readFileSync(file);
  } finally {
    closeSync(file);
  }
}

/**
 * bytes decompressed when gzipped (bytes themselves when not), or undefined when they must stream: a
 * large or damaged stream (streaming reports the damage after the records before it).
 */
function gunzipWhole(bytes: Buffer, maxUncompressedBytes: number): Buffer | undefined {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const size = bytes.length < 18 ? Number.POSITIVE_INFINITY : bytes.readUInt32LE(bytes.length - 4);
  if (size > maxUncompressedBytes) return undefined;
  try {
    // One output buffer of the size gzip's trailer gives (and a byte more, so that zlib sees the end
    // without asking for another), instead of zlib's 16 KiB pieces concatenated at the end: about a
    // quarter less CPU per file. A trailer that lies only costs more pieces; maxOutputLength still holds.
    return gunzipSync(bytes, { chunkSize: Math.max(64, size + 1), maxOutputLength: maxUncompressedBytes });
  } catch {
    return undefined;
  }
}

/** Splits a whole file in memory, a READ_CHUNK at a time (so that no more records are held at once than streaming would). */
function* splitWhole(bytes: Buffer, options: TrailReadOptions): Generator<unknown[]> {
  const splitter = new TrailSplitter(
    options.source ?? "input",
    options.stats ?? { elements: 0, ignored: 0 },
    options,
  );
  for (let end = Math.min(READ_CHUNK, bytes.length); ; end = Math.min(end + READ_CHUNK, bytes.length)) {
    yield* splitter.take(bytes, end);
    if (end === bytes.length) break;
  }
  splitter.finish();
}

/** The state machine finding the top-level elements of a trail file's records array, chunk after chunk. */
class TrailSplitter {
  /** Where the unconsumed bytes of the buffer start. */
  pos = 0;
  private phase: Phase = "start";
  private topIsArray = false;
  private currentKey = "";
  private arrayKind: "records" | "events" = "records";
  private sawArray = false;
  private readonly relevant: TrailReadOptions["relevant"];
  /** What recordEnd noted about the last record it walked. */
  private readonly probe = { sourceAt: -1 };
  private readonly raw: boolean;

  constructor(
    private readonly source: string,
    private readonly stats: TrailReadStats,
    options: TrailReadOptions,
  ) {
    this.relevant = options.relevant;
    this.raw = options.raw ?? false;
  }

  /**
   * The records of the complete elements in bytes [pos, length), as one array (none when there are none);
   * the records before a format error are still handed on, as a record-at-a-time reader would.
   */
  *take(bytes: Buffer, length: number): Generator<unknown[]> {
    const found: unknown[] = [];
    try {
      this.split(bytes, length, found);
    } catch (error) {
      if (found.length > 0) yield found;
      throw error;
    }
    if (found.length > 0) yield found;
  }

  /** Consumes the complete elements in bytes [pos, length), pushing the records found. */
  split(bytes: Buffer, length: number, found: unknown[]): void {
    const { source, stats, relevant } = this;
    let pos = this.pos;
    try {
      for (;;) {
        pos = skipWhitespace(bytes, pos, length);
        if (pos >= length) break;
        const byte = bytes[pos] as number;
        const phase = this.phase;
        if (phase === "element") {
          if (byte === CLOSE_BRACKET) {
            pos++;
            this.phase = this.topIsArray ? "done" : "after-value";
            continue;
          }
          const judged = relevant !== undefined && this.arrayKind === "records" && byte === OPEN_BRACE;
          const end = judged ? recordEnd(bytes, pos, length, this.probe) : valueEnd(bytes, pos, length);
          if (end < 0) break;
          stats.elements++;
          const start = pos;
          pos = end;
          this.phase = "after-element";
          if (judged && !relevant(bytes, start, end, this.probe.sourceAt)) {
            stats.ignored++;
            continue;
          }
          const text = bytes.toString("utf8", start, end);
          found.push(
            this.arrayKind === "events" ? lookupEventRecord(text) : this.raw ? text : parseOrText(text),
          );
        } else if (phase === "after-element") {
          if (byte === COMMA) this.phase = "element";
          else if (byte === CLOSE_BRACKET) this.phase = this.topIsArray ? "done" : "after-value";
          else throw notCloudTrail(source, `expected "," or "]" after record ${stats.elements}`);
          pos++;
        } else if (phase === "start") {
          if (pos === 0 && byte === 0xef) {
            // A UTF-8 byte order mark, perhaps split across chunks: its three bytes decide.
            if (length < 3) break;
            if (bytes[1] === 0xbb && bytes[2] === 0xbf) {
              pos = 3;
              continue;
            }
          }
          if (byte === OPEN_BRACE) this.phase = "key";
          else if (byte === OPEN_BRACKET) {
            this.topIsArray = true;
            this.sawArray = true;
            stats.format = "array";
            this.phase = "element";
          } else throw notCloudTrail(source, "it is not JSON");
          pos++;
        } else if (phase === "key") {
          if (byte === CLOSE_BRACE) {
            pos++;
            this.phase = "done";
            continue;
          }
          if (byte !== QUOTE) throw notCloudTrail(source, `expected a key at byte ${pos}`);
          const end = stringEnd(bytes, pos + 1, length);
          if (end < 0) break;
          this.currentKey = topLevelKey(bytes, pos, end, source);
          pos = end;
          this.phase = "colon";
        } else if (phase === "colon") {
          if (byte !== COLON) throw notCloudTrail(source, `expected ":" at byte ${pos}`);
          pos++;
          this.phase = "value";
        } else if (phase === "value") {
          const key = this.currentKey;
          if ((key === "Records" || key === "Events") && byte === OPEN_BRACKET) {
            this.arrayKind = key === "Records" ? "records" : "events";
            stats.format = key === "Records" ? "records" : "lookup-events";
            this.sawArray = true;
            pos++;
            this.phase = "element";
            continue;
          }
          const end = valueEnd(bytes, pos, length);
          if (end < 0) break;
          pos = end;
          this.phase = "after-value";
        } else if (phase === "after-value") {
          if (byte === COMMA) this.phase = "key";
          else if (byte === CLOSE_BRACE) this.phase = "done";
          else throw notCloudTrail(source, `expected "," or "}" at byte ${pos}`);
          pos++;
        } else {
          throw notCloudTrail(source, `unexpected data after the end of the JSON at byte ${pos}`);
        }
      }
    } finally {
      this.pos = pos;
    }
  }

  /** At the end of the input: throws when the file was empty, cut short, or had no records array. */
  finish(): void {
    const { source, phase } = this;
    if (phase === "start") throw notCloudTrail(source, "it is empty");
    if (phase !== "done") {
      throw new TruncatedTrailFileError(
        `${source}: truncated: the JSON ends after ${this.stats.elements} record(s), in the middle of ${
          phase === "element" || phase === "after-element" ? "the records array" : "the top-level object"
        }`,
      );
    }
    if (!this.sawArray) throw notCloudTrail(source, 'it has no "Records" (or lookup-events "Events") array');
  }
}

/** The byte stream of input, gunzipped when it starts with the gzip magic number. */
async function* decompressed(
  input: Readable | AsyncIterable<Buffer | string>,
  source: string,
  onBytes: ((bytes: number) => void) | undefined,
) {
  const counted = onBytes ? countBytes(input, onBytes) : input;
  const iterator = (counted as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  for (;;) {
    // Two bytes decide; a source may hand them over one at a time.
    const next = await iterator.next();
    if (next.done) {
      if (head.length > 0) yield head;
      return;
    }
    head = Buffer.concat([head, toBuffer(next.value)]);
    if (head.length >= 2) break;
  }
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield toBuffer(next.value);
    }
  }
  const compressed = Readable.from(
    (async function* () {
      yield head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield toBuffer(next.value);
      }
    })(),
  );
  const gunzip = createGunzip({ chunkSize: GZIP_CHUNK });
  // pipeline() destroys the gunzip stream when the source fails, so the loop below sees that error.
  pipeline(compressed, gunzip, () => {});
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "Z_BUF_ERROR" || code === "Z_DATA_ERROR") {
      const reason = code === "Z_BUF_ERROR" ? "the gzip stream is truncated" : "the gzip data is corrupt";
      throw new TruncatedTrailFileError(`${source}: ${reason}`, { cause: error });
    }
    throw error;
  }
}

async function* countBytes(input: AsyncIterable<Buffer | string>, onBytes: (bytes: number) => void) {
  let total = 0;
  for await (const chunk of input) {
    total += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    onBytes(total);
    yield chunk;
  }
}

function toBuffer(chunk: Buffer | string | Uint8Array): Buffer {
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function notCloudTrail(source: string, reason: string): NotCloudTrailError {
  return new NotCloudTrailError(`${source}: not a CloudTrail log file: ${reason}`);
}

/** A parsed record, or the element's text when it is not JSON (the scanner counts it as malformed). */
function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** One lookup-events element: its CloudTrailEvent string (parsed by the scanner), else the element. */
function lookupEventRecord(text: string): unknown {
  const element = parseOrText(text);
  if (typeof element === "object" && element !== null && "CloudTrailEvent" in element) {
    return (element as { CloudTrailEvent: unknown }).CloudTrailEvent;
  }
  return element;
}

function skipWhitespace(bytes: Buffer, pos: number, length: number): number {
  let at = pos;
  while (at < length) {
    const byte = bytes[at] as number;
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) break;
    at++;
  }
  return at;
}

/** Index just past the closing quote of the string whose content starts at start; -1 if not all here. */
function stringEnd(bytes: Buffer, start: number, length: number): number {
  let from = start;
  for (;;) {
    const quote = bytes.indexOf(QUOTE, from);
    if (quote < 0 || quote >= length) return -1;
    let backslashes = 0;
    for (let at = quote - 1; at >= start && bytes[at] === BACKSLASH; at--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/**
 * A top-level key of the file's object (the quoted string [start, end)), decoded as JSON.parse would when
 * it holds an escape: `"Recor\u0064s"` is the records array too.
 */
function topLevelKey(bytes: Buffer, start: number, end: number, source: string): string {
  const quoted = bytes.toString("utf8", start, end);
  if (!quoted.includes("\\")) return quoted.slice(1, -1);
  try {
    return JSON.parse(quoted) as string;
  } catch {
    throw notCloudTrail(source, `the key at byte ${start} is not a JSON string`);
  }
}

/** `"eventSource"` and `"detail-type"` with their quotes, as a record's top-level keys (13 bytes each). */
const EVENT_SOURCE_KEY = Buffer.from('"eventSource"');
const DETAIL_TYPE_KEY = Buffer.from('"detail-type"');

/**
 * valueEnd for a record (an object at pos), noting on the way where the value of its top-level
 * `"eventSource"` key starts (probe.sourceAt, -1 when it has none): the splitter passes every byte of the
 * record anyway, and a prefilter told where to look need not search the record again (a Buffer#indexOf per
 * record cost about a third as much as the walk itself). A key is a top-level string followed by a colon;
 * keys are compared as written, escapes undecoded, as CloudTrail writes them. An EventBridge event (a
 * top-level `detail-type`) is judged by its `detail`, as the normaliser reads it: -1, never skipped.
 */
function recordEnd(bytes: Buffer, pos: number, length: number, probe: { sourceAt: number }): number {
  let depth = 0;
  let at = pos;
  let sourceAt = -1;
  let wrapped = false;
  while (at < length) {
    const byte = bytes[at] as number;
    if (byte === QUOTE) {
      const end = stringEnd(bytes, at + 1, length);
      if (end < 0) return -1;
      // Only a string of the keys' length is looked at twice: most of a record's strings are not.
      if (depth === 1 && end - at === EVENT_SOURCE_KEY.length) {
        if (startsWithAt(bytes, at, EVENT_SOURCE_KEY)) {
          const colon = skipWhitespace(bytes, end, length);
          if (colon < length && bytes[colon] === COLON) sourceAt = skipWhitespace(bytes, colon + 1, length);
        } else if (startsWithAt(bytes, at, DETAIL_TYPE_KEY)) wrapped = true;
      }
      at = end;
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) {
        probe.sourceAt = wrapped ? -1 : sourceAt;
        return at + 1;
      }
    }
    at++;
  }
  return -1;
}

/** True when bytes holds needle at offset at (a plain loop: V8 inlines it, unlike Buffer#compare). */
export function startsWithAt(bytes: Buffer, at: number, needle: Buffer): boolean {
  for (let i = 0; i < needle.length; i++) if (bytes[at + i] !== needle[i]) return false;
  return true;
}

/** Index just past the JSON value starting at pos; -1 if the value is not complete in the buffer yet. */
function valueEnd(bytes: Buffer, pos: number, length: number): number {
  const first = bytes[pos] as number;
  if (first === QUOTE) return stringEnd(bytes, pos + 1, length);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // A number, true, false or null: it ends at the next delimiter (which must be in the buffer).
    let at = pos;
    while (at < length) {
      const byte = bytes[at] as number;
      if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || byte <= 0x20) return at;
      at++;
    }
    return -1;
  }
  let depth = 0;
  let at = pos;
  while (at < length) {
    const byte = bytes[at] as number;
    if (byte === QUOTE) {
      at = stringEnd(bytes, at + 1, length);
      if (at < 0) return -1;
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return at + 1;
    }
    at++;
  }
  return -1;
}
