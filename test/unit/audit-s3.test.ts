import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { GetObjectCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  decodeS3Key,
  type OpenedTrailObject,
  openTrailObjectsAhead,
  readOpenedTrailObject,
  readTrailObject,
  TRAIL_OBJECTS_AHEAD,
  type TrailObjectRef,
  trailKeyInfo,
  trailObjectsOf,
} from "../../functions/audit-scan/sources/s3.ts";
import { type TrailReadStats, WHOLE_FILE_BYTES } from "../../functions/audit-scan/trail-file.ts";

const KEY =
  "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T1200Z_abc.json.gz";
const ORG_KEY =
  "trails/AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail/eu-west-1/2026/12/01/444455556666_CloudTrail_eu-west-1_20261201T1200Z_def.json.gz";

function s3Event(key: string, eventName = "ObjectCreated:Put") {
  return {
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        eventName,
        s3: { bucket: { name: "trail-bucket" }, object: { key, size: 1234 } },
      },
    ],
  };
}

describe("trailKeyInfo", () => {
  it("reads the account and region of a trail file", () => {
    expect(trailKeyInfo(KEY)).toEqual({
      account: "111122223333",
      region: "us-east-1",
      organisationId: undefined,
    });
  });

  it("reads an organisation trail's member account under a prefix", () => {
    expect(trailKeyInfo(ORG_KEY)).toEqual({
      organisationId: "o-a1b2c3d4e5",
      account: "444455556666",
      region: "eu-west-1",
    });
  });

  it("rejects digests and other objects", () => {
    expect(
      trailKeyInfo(
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/12/01/x_CloudTrail-Digest_y.json.gz",
      ),
    ).toBeUndefined();
    expect(trailKeyInfo("AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01/notes.txt")).toBeUndefined();
  });
});

describe("decodeS3Key", () => {
  it("decodes the URL encoding S3 notifications use, + for a space", () => {
    expect(decodeS3Key("my+prefix/a%3Ab.json.gz")).toBe("my prefix/a:b.json.gz");
  });
});

describe("trailObjectsOf", () => {
  it("reads a direct S3 notification", () => {
    expect(trailObjectsOf(s3Event(KEY))).toEqual({
      objects: [{ bucket: "trail-bucket", key: KEY, size: 1234, messageId: undefined }],
      ignored: 0,
    });
  });

  it("reads S3 notifications inside SQS messages, keeping each message id", () => {
    const event = {
      Records: [
        { eventSource: "aws:sqs", messageId: "m1", body: JSON.stringify(s3Event(KEY)) },
        { eventSource: "aws:sqs", messageId: "m2", body: JSON.stringify(s3Event(ORG_KEY)) },
      ],
    };

    expect(trailObjectsOf(event)?.objects.map((object) => [object.messageId, object.key])).toEqual([
      ["m1", KEY],
      ["m2", ORG_KEY],
    ]);
  });

  it("reads an S3 notification published to SNS and delivered to SQS", () => {
    const sns = { Type: "Notification", MessageId: "n1", Message: JSON.stringify(s3Event(KEY)) };
    const event = { Records: [{ eventSource: "aws:sqs", messageId: "m1", body: JSON.stringify(sns) }] };

    expect(trailObjectsOf(event)?.objects.map((object) => object.key)).toEqual([KEY]);
  });

  it("reads EventBridge's S3 Object Created event", () => {
    const event = {
      "detail-type": "Object Created",
      source: "aws.s3",
      detail: { bucket: { name: "trail-bucket" }, object: { key: KEY, size: 10 } },
    };

    expect(trailObjectsOf(event)?.objects).toEqual([{ bucket: "trail-bucket", key: KEY, size: 10 }]);
  });

  it("counts digests, deletions, test events and unreadable messages as ignored", () => {
    const event = {
      Records: [
        {
          eventSource: "aws:sqs",
          messageId: "m1",
          body: JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent" }),
        },
        {
          eventSource: "aws:sqs",
          messageId: "m2",
          body: JSON.stringify(s3Event(KEY, "ObjectRemoved:Delete")),
        },
        {
          eventSource: "aws:sqs",
          messageId: "m3",
          body: JSON.stringify(s3Event("AWSLogs/1/CloudTrail-Digest/x.json.gz")),
        },
        { eventSource: "aws:sqs", messageId: "m4", body: "not json" },
      ],
    };

    expect(trailObjectsOf(event)).toEqual({ objects: [], ignored: 3 });
  });

  it("is undefined for an event that is no S3 notification", () => {
    expect(trailObjectsOf({ task: "lookup-sweep" })).toBeUndefined();
    expect(trailObjectsOf({ Records: [{ eventSource: "aws:dynamodb" }] })).toBeUndefined();
  });
});

describe("openTrailObjectsAhead", () => {
  const s3 = mockClient(S3Client);
  const client = () => new S3Client({ region: "us-east-1" });
  const refs: TrailObjectRef[] = ["a", "b", "c", "d", "e"].map((name) => ({
    bucket: "trail-bucket",
    key: KEY.replace("_abc", `_${name}`),
    messageId: `m-${name}`,
  }));
  /** The same files with the sizes their notifications give (the object's own: read whole ahead). */
  const sized = refs.map((ref) => ({ ...ref, size: Buffer.byteLength(ref.key) }));
  let bodies: Map<string, Readable>;
  const called = () => s3.commandCalls(GetObjectCommand).map((call) => call.args[0].input.Key);
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  beforeEach(() => {
    s3.reset();
    bodies = new Map();
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
      const body = Readable.from([Buffer.from(input.Key)]);
      bodies.set(input.Key, body);
      return { Body: body };
    });
  });

  it("sends the GetObject of the small files `ahead` of the current one before it is read, and no more", async () => {
    const files = openTrailObjectsAhead(client(), sized, undefined, 2);

    const first = await files.next();

    expect((first.value as OpenedTrailObject).ref.key).toBe(sized[0]?.key);
    await settle();
    expect(called()).toEqual([sized[0]?.key, sized[1]?.key, sized[2]?.key]);
    await files.next();
    await settle();
    expect(called()).toEqual(sized.slice(0, 4).map((ref) => ref.key));
    await files.return(undefined);
  });

  it("opens TRAIL_OBJECTS_AHEAD small files ahead by default", async () => {
    const files = openTrailObjectsAhead(client(), sized);

    await files.next();
    await settle();

    expect(called()).toHaveLength(1 + TRAIL_OBJECTS_AHEAD);
    await files.return(undefined);
  });

  it("reads the bodies of small files ahead while the file before them is read, and hands over their bytes", async () => {
    const files = openTrailObjectsAhead(client(), sized, undefined, 2);

    const first = (await files.next()).value as OpenedTrailObject;
    await settle();

    // The current file's bytes were read ahead too; the two after it are read while it is scanned.
    expect(first.ok && Buffer.concat(first.bytes?.parts ?? []).toString()).toBe(sized[0]?.key);
    expect(bodies.get(sized[1]!.key)?.readableEnded).toBe(true);
    expect(bodies.get(sized[2]!.key)?.readableEnded).toBe(true);
    const keys: string[] = [];
    for await (const opened of files) {
      if (!opened.ok) throw opened.error;
      expect(opened.bytes?.rest).toBeUndefined();
      keys.push(Buffer.concat(opened.bytes?.parts ?? []).toString());
    }
    expect(keys).toEqual(sized.slice(1).map((ref) => ref.key));
  });

  it("leaves unread in its socket a file whose notification gave no size or one over the whole-file limit", async () => {
    const large = sized.map((ref, index) => (index === 1 ? { ...ref, size: WHOLE_FILE_BYTES + 1 } : ref));
    const files = openTrailObjectsAhead(client(), [refs[0]!, large[1]!], undefined, 2);

    const first = (await files.next()).value as OpenedTrailObject;
    await settle();

    expect(first.ok && first.bytes).toBeUndefined();
    expect(bodies.get(refs[0]!.key)?.readableEnded).toBe(false);
    expect(bodies.get(large[1]!.key)?.readableEnded).toBe(false);
    await files.return(undefined);
  });

  it("opens a large file, or one of unknown size, only when it is the next one", async () => {
    const mixed = [sized[0]!, sized[1]!, refs[2]!, sized[3]!, sized[4]!];
    const files = openTrailObjectsAhead(client(), mixed, undefined, 3);

    await files.next();
    await settle();
    expect(called()).toEqual([mixed[0]?.key, mixed[1]?.key]);
    await files.next();
    await settle();
    // Now the next one: opened, its body left unread, and the small ones behind it read ahead.
    expect(called()).toEqual(mixed.map((ref) => ref.key));
    expect(bodies.get(mixed[2]!.key)?.readableEnded).toBe(false);
    expect(bodies.get(mixed[4]!.key)?.readableEnded).toBe(true);
    await files.return(undefined);
  });

  it("closes unread a file whose message failed by its turn, and goes on", async () => {
    const failed = new Set<string>();
    const seen: string[] = [];

    for await (const opened of openTrailObjectsAhead(client(), refs.slice(0, 3), (ref) =>
      failed.has(ref.messageId ?? ""),
    )) {
      seen.push(opened.ref.key);
      failed.add("m-b");
    }

    expect(seen).toEqual([refs[0]?.key, refs[2]?.key]);
    expect(bodies.get(refs[1]!.key)?.destroyed).toBe(true);
  });

  it("hands on a GetObject failure as the file's error", async () => {
    s3.on(GetObjectCommand, { Key: refs[1]?.key }).rejects(new NoSuchKey({ message: "gone", $metadata: {} }));
    const outcomes: string[] = [];

    for await (const opened of openTrailObjectsAhead(client(), sized.slice(0, 3))) {
      outcomes.push(opened.ok ? "body" : String(opened.error));
    }

    expect(outcomes).toEqual(["body", expect.stringContaining("GetObject failed: gone"), "body"]);
  });

  it("hands on a failure to read a small file's body ahead as that file's error, in its turn", async () => {
    s3.on(GetObjectCommand, { Key: sized[1]?.key }).callsFake(() => {
      const body = new Readable({ read() {} });
      body.push(Buffer.from("partial"));
      setImmediate(() => body.destroy(new Error("socket hang up")));
      bodies.set(sized[1]!.key, body);
      return { Body: body };
    });
    const outcomes: string[] = [];

    for await (const opened of openTrailObjectsAhead(client(), sized.slice(0, 3))) {
      outcomes.push(opened.ok ? opened.ref.key : String(opened.error));
    }

    expect(outcomes).toEqual([
      sized[0]?.key,
      `TrailObjectError: s3://trail-bucket/${sized[1]?.key}: reading it failed: socket hang up`,
      sized[2]?.key,
    ]);
    expect(bodies.get(sized[1]!.key)?.destroyed).toBe(true);
  });

  it("closes the files opened ahead when the reader stops early, and opens no more", async () => {
    for await (const opened of openTrailObjectsAhead(client(), sized, undefined, 2)) {
      expect(opened.ref.key).toBe(sized[0]?.key);
      break;
    }
    await settle();

    expect(sized.slice(0, 3).map((ref) => bodies.get(ref.key)?.destroyed)).toEqual([true, true, true]);
    expect(bodies.has(sized[3]!.key)).toBe(false);
  });
});

describe("readTrailObject", () => {
  const record = (i: number, padding = "") => ({
    eventSource: "secretsmanager.amazonaws.com",
    eventName: "GetSecretValue",
    eventID: `event-${i}`,
    padding,
  });
  /** A body as S3 hands it over: the bytes in pieces of up to 16 KiB. */
  const bodyOf = (bytes: Buffer) => {
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 16_384) pieces.push(bytes.subarray(at, at + 16_384));
    return Readable.from(pieces);
  };
  async function read(bytes: Buffer, size: number | undefined) {
    const stats: TrailReadStats = { elements: 0, ignored: 0 };
    const records: unknown[] = [];
    for await (const chunk of readTrailObject(bodyOf(bytes), size, { stats })) records.push(...chunk);
    return { records, stats };
  }

  it("reads a small gzipped object whole and hands on its records in order", async () => {
    const records = Array.from({ length: 300 }, (_, i) => record(i));
    const gzipped = gzipSync(JSON.stringify({ Records: records }));

    const read1 = await read(gzipped, gzipped.length);

    expect(read1.records).toEqual(records);
    expect(read1.stats).toMatchObject({ elements: 300, format: "records" });
  });

  it("streams an object whose size the notification did not give", async () => {
    const records = Array.from({ length: 300 }, (_, i) => record(i));

    const { records: read1 } = await read(gzipSync(JSON.stringify({ Records: records })), undefined);

    expect(read1).toEqual(records);
  });

  it("streams an object larger than its notification said from where reading it whole stopped", async () => {
    const records = Array.from({ length: 600 }, (_, i) => record(i, "x".repeat(2_000)));
    const plain = Buffer.from(JSON.stringify({ Records: records }));
    expect(plain.length).toBeGreaterThan(WHOLE_FILE_BYTES);

    const { records: read1, stats } = await read(plain, 1_000);

    expect(read1).toEqual(records);
    expect(stats.elements).toBe(600);
  });

  it("hands on every record of a small object that decompresses to many megabytes", async () => {
    const records = Array.from({ length: 600 }, (_, i) => record(i, "x".repeat(8_000)));
    const gzipped = gzipSync(JSON.stringify({ Records: records }));
    expect(gzipped.length).toBeLessThan(WHOLE_FILE_BYTES);

    const { records: read1, stats } = await read(gzipped, gzipped.length);

    expect(read1).toEqual(records);
    expect(stats.elements).toBe(600);
  });

  it("reads the records of files read ahead, also of one larger than its notification said", async () => {
    const small = Array.from({ length: 300 }, (_, i) => record(i));
    const large = Array.from({ length: 600 }, (_, i) => record(1_000 + i, "x".repeat(2_000)));
    const smallBytes = gzipSync(JSON.stringify({ Records: small }));
    const largeBytes = Buffer.from(JSON.stringify({ Records: large }));
    expect(largeBytes.length).toBeGreaterThan(WHOLE_FILE_BYTES);
    const s3 = mockClient(S3Client);
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => ({
      Body: bodyOf(input.Key.endsWith("small") ? smallBytes : largeBytes),
    }));
    const refs = [
      { bucket: "b", key: "small", size: smallBytes.length },
      { bucket: "b", key: "large", size: 1_000 },
    ];
    const seen: { key: string; records: unknown[]; streamed: boolean }[] = [];

    try {
      for await (const opened of openTrailObjectsAhead(new S3Client({ region: "us-east-1" }), refs)) {
        if (!opened.ok) throw opened.error;
        const records: unknown[] = [];
        for await (const chunk of readOpenedTrailObject(opened, {})) records.push(...chunk);
        seen.push({ key: opened.ref.key, records, streamed: opened.bytes?.rest !== undefined });
      }
    } finally {
      s3.restore();
    }

    expect(seen).toEqual([
      { key: "small", records: small, streamed: false },
      { key: "large", records: large, streamed: true },
    ]);
  });

  it("reports a small object cut short after handing on the records before the cut", async () => {
    const records = Array.from({ length: 300 }, (_, i) => record(i));
    const gzipped = gzipSync(JSON.stringify({ Records: records }));
    const cut = gzipped.subarray(0, Math.floor(gzipped.length / 2));
    const seen: unknown[] = [];

    const reading = (async () => {
      for await (const chunk of readTrailObject(bodyOf(cut), cut.length, { source: "s3://b/k" }))
        seen.push(...chunk);
    })();

    await expect(reading).rejects.toThrow("s3://b/k: the gzip stream is truncated");
    expect(seen.length).toBeGreaterThan(0);
  });
});
