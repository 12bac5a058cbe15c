import type { Readable } from "node:stream";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { describeError } from "../../../lib/errors.ts";
import {
  readTrailBufferChunks,
  readTrailChunks,
  type TrailReadOptions,
  WHOLE_FILE_BYTES,
} from "../trail-file.ts";
import { TrailObjectError } from "./errors.ts";

/** One trail file to read, and where an SQS message carried its notification (for partial batch failures). */
export interface TrailObjectRef {
  bucket: string;
  key: string;
  size?: number | undefined;
  /** The SQS message the notification came in, when it came through a queue. */
  messageId?: string | undefined;
}

/** The account and region a trail file's key names (organisation trails add `o-xxx/` before the account). */
export interface TrailKeyInfo {
  account: string;
  region: string;
  organisationId?: string | undefined;
}

// [prefix/]AWSLogs/[o-xxxxxxxxxx/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz
const TRAIL_KEY =
  /(?:^|\/)AWSLogs\/(?:(o-[a-z0-9]{10,32})\/)?(\d{12})\/CloudTrail\/([a-z0-9-]+)\/\d{4}\/\d{2}\/\d{2}\/[^/]+\.json\.gz$/;

/** The account and region of a CloudTrail log file key; undefined for anything else (digests, insights, other logs). */
export function trailKeyInfo(key: string): TrailKeyInfo | undefined {
  const match = TRAIL_KEY.exec(key);
  if (!match) return undefined;
  return { organisationId: match[1], account: match[2]!, region: match[3]! };
}

/** S3 notifications URL-encode keys, with `+` for a space. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, " "));
}

/** What a notification event yielded: trail files to read, and records that were not one. */
export interface S3NotificationContents {
  objects: TrailObjectRef[];
  /** Objects named by the notification that are not CloudTrail log files (digests, test events, ...). */
  ignored: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The ObjectCreated records of one S3 notification document (`{"Records": [{"s3": ...}]}`). */
function objectsOfS3Event(
  document: unknown,
  messageId: string | undefined,
  into: S3NotificationContents,
): boolean {
  if (!isRecord(document)) return false;
  // S3 sends {"Service":"Amazon S3","Event":"s3:TestEvent"} when a notification is configured.
  if (document.Event === "s3:TestEvent") return true;
  // EventBridge's "Object Created" from S3 carries the object in detail.
  if (document["detail-type"] === "Object Created" && isRecord(document.detail)) {
    const bucket = (document.detail.bucket as { name?: unknown } | undefined)?.name;
    const object = document.detail.object as { key?: unknown; size?: unknown } | undefined;
    if (typeof bucket === "string" && typeof object?.key === "string") {
      // EventBridge keys are not URL-encoded.
      pushObject(into, { bucket, key: object.key, size: numberOrUndefined(object.size), messageId });
      return true;
    }
    return false;
  }
  if (!Array.isArray(document.Records)) return false;
  let any = false;
  for (const record of document.Records) {
    if (!isRecord(record) || !isRecord(record.s3)) continue;
    any = true;
    if (typeof record.eventName === "string" && !record.eventName.startsWith("ObjectCreated:")) {
      into.ignored += 1;
      continue;
    }
    const bucket = (record.s3.bucket as { name?: unknown } | undefined)?.name;
    const object = record.s3.object as { key?: unknown; size?: unknown } | undefined;
    if (typeof bucket !== "string" || typeof object?.key !== "string") {
      into.ignored += 1;
      continue;
    }
    pushObject(into, {
      bucket,
      key: decodeS3Key(object.key),
      size: numberOrUndefined(object.size),
      messageId,
    });
  }
  return any;
}

function pushObject(into: S3NotificationContents, ref: TrailObjectRef): void {
  if (trailKeyInfo(ref.key)) into.objects.push(ref);
  else into.ignored += 1;
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

function parseJson(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The trail files an event asks to read: an S3 notification delivered directly, in SQS messages (body =
 * the S3 event), SNS-in-SQS (body = an SNS notification whose Message is the S3 event), or EventBridge's
 * S3 "Object Created". Undefined when the event is none of these.
 */
export function trailObjectsOf(event: unknown): S3NotificationContents | undefined {
  const contents: S3NotificationContents = { objects: [], ignored: 0 };
  if (!isRecord(event)) return undefined;
  if (event["detail-type"] === "Object Created")
    return objectsOfS3Event(event, undefined, contents) ? contents : undefined;
  if (!Array.isArray(event.Records) || event.Records.length === 0) return undefined;
  const first = event.Records[0];
  if (isRecord(first) && first.eventSource === "aws:sqs") {
    for (const message of event.Records as Record<string, unknown>[]) {
      const messageId = typeof message.messageId === "string" ? message.messageId : undefined;
      let body = parseJson(message.body);
      // SNS-in-SQS without raw message delivery: the S3 event is the notification's Message.
      if (isRecord(body) && body.Type === "Notification") body = parseJson(body.Message);
      if (!objectsOfS3Event(body, messageId, contents)) contents.ignored += 1;
    }
    return contents;
  }
  if (isRecord(first) && first.EventSource === "aws:sns") {
    for (const record of event.Records as { Sns?: { Message?: unknown } }[]) {
      if (!objectsOfS3Event(parseJson(record.Sns?.Message), undefined, contents)) contents.ignored += 1;
    }
    return contents;
  }
  return objectsOfS3Event(event, undefined, contents) ? contents : undefined;
}

/**
 * Opens a trail file as a stream (a file can be hundreds of MB uncompressed; openTrailObjectsAhead reads
 * only a small one whole).
 */
export async function openTrailObject(s3: S3Client, ref: TrailObjectRef): Promise<Readable> {
  try {
    const output = await s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    if (!output.Body) throw new Error("GetObject returned no body");
    return output.Body as Readable;
  } catch (error) {
    throw new TrailObjectError(ref.bucket, ref.key, `GetObject failed: ${describeError(error)}`, {
      cause: error,
    });
  }
}

/**
 * What was read of a small object (its notification's size at most `WHOLE_FILE_BYTES`) before its turn:
 * all of it, or, when it turned out larger than its notification said, its first bytes and the rest to
 * stream.
 */
export interface TrailObjectBytes {
  parts: Buffer[];
  length: number;
  /** The rest of the body, to stream; absent when `parts` is the whole object. */
  rest?: AsyncIterator<Buffer> | undefined;
}

/**
 * A trail file with its GetObject answered: the body (to stream, or to close), and, for a small object, its
 * bytes already read; or why it could not be opened or read.
 */
export type OpenedTrailObject =
  | { ok: true; ref: TrailObjectRef; body: Readable; bytes?: TrailObjectBytes | undefined }
  | { ok: false; ref: TrailObjectRef; error: unknown };

/**
 * Trail files opened (and, when small, read) ahead of the one being scanned. S3 takes milliseconds to tens
 * of milliseconds to a small object's last byte, about what scanning a five-minute file takes, so one ahead
 * still leaves the scanner waiting whenever one GetObject is slow; a batch holds up to 10 files. Three
 * small objects held ahead are at most 3 MiB.
 */
export const TRAIL_OBJECTS_AHEAD = 3;

/** Whether the notification says the object is small enough to be read whole (ahead of its turn). */
function isSmall(ref: TrailObjectRef): boolean {
  return ref.size !== undefined && ref.size <= WHOLE_FILE_BYTES;
}

/** Reads a small object's body whole, or up to just past `WHOLE_FILE_BYTES` when it is larger than said. */
export async function readSmallTrailObject(body: Readable): Promise<TrailObjectBytes> {
  const iterator = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let length = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { parts, length };
    parts.push(next.value);
    length += next.value.length;
    if (length > WHOLE_FILE_BYTES) return { parts, length, rest: iterator };
  }
}

/**
 * Opens trail files in turn, `ahead` of the reader: while one file is scanned, the next ones' GetObject is
 * already on its way, and a small object's body (at most `WHOLE_FILE_BYTES` by its notification: most
 * trail files) is read whole meanwhile, so its bytes cross the network while the file before it is
 * scanned. Memory stays bounded: at most `ahead` small objects are held besides the current one; a larger
 * one (or one whose size is unknown) is opened only when it is the next one, and only its first bytes wait
 * in its socket. Files are still handed over one at a time, in order. A file `skip` names when its turn
 * comes (its SQS message already failed) is closed unread; so are the ones opened ahead when the reader
 * stops early.
 */
export async function* openTrailObjectsAhead(
  s3: S3Client,
  refs: readonly TrailObjectRef[],
  skip: (ref: TrailObjectRef) => boolean = () => false,
  ahead = TRAIL_OBJECTS_AHEAD,
): AsyncGenerator<OpenedTrailObject> {
  /** A file on its way, with its body as soon as GetObject answers (to close it early). */
  interface Pending {
    opened: Promise<OpenedTrailObject>;
    body?: Readable;
  }
  const open = (ref: TrailObjectRef): Pending => {
    const pending: Pending = {
      opened: openTrailObject(s3, ref).then(
        async (body): Promise<OpenedTrailObject> => {
          pending.body = body;
          // The reader stopped before this one answered: close it rather than read it after the return.
          if (stopped) {
            body.destroy();
            return {
              ok: false,
              ref,
              error: new TrailObjectError(ref.bucket, ref.key, "not read: the reader stopped"),
            };
          }
          if (!isSmall(ref)) return { ok: true, ref, body };
          try {
            return { ok: true, ref, body, bytes: await readSmallTrailObject(body) };
          } catch (error) {
            body.destroy();
            return {
              ok: false,
              ref,
              error: new TrailObjectError(ref.bucket, ref.key, `reading it failed: ${describeError(error)}`, {
                cause: error,
              }),
            };
          }
        },
        (error: unknown) => ({ ok: false, ref, error }),
      ),
    };
    return pending;
  };
  const close = (opened: OpenedTrailObject | undefined) => {
    if (opened?.ok) opened.body.destroy();
  };
  const queue: Pending[] = [];
  let next = 0;
  let stopped = false;
  /**
   * Opens files until `count` wait in the queue. A large file (or one of unknown size) is opened only as
   * the next one, as it waits unread in its socket: never behind others.
   */
  const fill = (count: number) => {
    while (next < refs.length && queue.length < count && (queue.length === 0 || isSmall(refs[next]!)))
      queue.push(open(refs[next++]!));
  };
  let current: OpenedTrailObject | undefined;
  try {
    fill(ahead + 1);
    for (let waiting = queue.shift(); waiting; waiting = queue.shift()) {
      current = await waiting.opened;
      // While this one is scanned, `ahead` files after it are on their way.
      fill(ahead);
      if (!skip(current.ref)) yield current;
      // A file the reader skipped or left unread (it failed mid-way) must not hold its socket.
      close(current);
      current = undefined;
    }
  } finally {
    stopped = true;
    close(current);
    for (const pending of queue) {
      pending.body?.destroy();
      void pending.opened.then(close);
    }
  }
}

/**
 * Decompressed bytes a trail object read whole may hold at once: a typical five-minute file is far below
 * it; a larger one is gunzipped as a stream (the held text would raise the function's peak memory).
 */
const WHOLE_OBJECT_UNCOMPRESSED_BYTES = 4 * 1024 * 1024;

/**
 * The records of an opened trail file, a chunk at a time: of its bytes read ahead when it is small
 * (`readTrailObjectBytes`), else streamed from its body.
 */
export function readOpenedTrailObject(
  opened: Extract<OpenedTrailObject, { ok: true }>,
  options: TrailReadOptions,
): AsyncGenerator<unknown[]> {
  return opened.bytes
    ? readTrailObjectBytes(opened.bytes, options)
    : readTrailObject(opened.body, opened.ref.size, options);
}

/**
 * The records of an opened trail file, a chunk at a time. A small object (most trail files: CloudTrail
 * delivers every five minutes) is read whole and gunzipped in one call; a large one, or one whose size
 * the notification did not give, is streamed, so memory stays bounded. An object that turns out larger
 * than its notification said is streamed from where reading it whole stopped.
 */
export async function* readTrailObject(
  body: Readable,
  size: number | undefined,
  options: TrailReadOptions,
): AsyncGenerator<unknown[]> {
  if (size === undefined || size > WHOLE_FILE_BYTES) {
    yield* readTrailChunks(body, options);
    return;
  }
  yield* readTrailObjectBytes(await readSmallTrailObject(body), options);
}

/** The records of a small object's bytes read whole, or streamed from where reading it whole stopped. */
export async function* readTrailObjectBytes(
  bytes: TrailObjectBytes,
  options: TrailReadOptions,
): AsyncGenerator<unknown[]> {
  const { parts, rest } = bytes;
  if (rest) {
    const stream = async function* () {
      yield* parts;
      for (;;) {
        const more = await rest.next();
        if (more.done) return;
        yield more.value;
      }
    };
    yield* readTrailChunks(stream(), options);
    return;
  }
  // A highly compressed large file is gunzipped as a stream from memory.
  yield* readTrailBufferChunks(Buffer.concat(parts, bytes.length), options, WHOLE_OBJECT_UNCOMPRESSED_BYTES);
}
