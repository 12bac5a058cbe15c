import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotCloudTrailError, TruncatedTrailFileError } from "../../functions/audit-scan/errors.ts";
import {
  readTrailFileChunks,
  readTrailRecords,
  type TrailReadStats,
} from "../../functions/audit-scan/trail-file.ts";

const SAMPLE = readFileSync(new URL("./scenarios/fixtures/cloudtrail-secretsmanager.json", import.meta.url));

async function collect(
  input: Buffer | string,
  options: Parameters<typeof readTrailRecords>[1] = {},
  chunk = 0,
) {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const chunks: Buffer[] = [];
  if (chunk === 0) chunks.push(bytes);
  else for (let at = 0; at < bytes.length; at += chunk) chunks.push(bytes.subarray(at, at + chunk));
  const out: unknown[] = [];
  for await (const record of readTrailRecords(Readable.from(chunks), options)) out.push(record);
  return out;
}

async function failure(input: Buffer | string): Promise<Error> {
  try {
    await collect(input, { source: "f.json" });
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the read to fail");
}

describe("readTrailRecords", () => {
  it("yields every record of a pretty-printed trail file, as JSON.parse does", async () => {
    const expected = (JSON.parse(SAMPLE.toString("utf8")) as { Records: unknown[] }).Records;

    const records = await collect(SAMPLE);

    expect(records).toEqual(expected);
  });

  it("decompresses gzip and survives chunks of any size", async () => {
    const expected = (JSON.parse(SAMPLE.toString("utf8")) as { Records: unknown[] }).Records;

    const fromGzip = await collect(gzipSync(SAMPLE), {}, 7);
    const small = await collect(SAMPLE, {}, 13);

    expect(fromGzip).toEqual(expected);
    expect(small).toEqual(expected);
  });

  it("handles strings holding quotes, backslashes, brackets and multi-byte characters", async () => {
    const records = [{ a: 'x"}]\\', b: ["{", "[", "é€😀"], c: { d: "\\\\" } }, { e: 1 }];

    const out = await collect(JSON.stringify({ Records: records }), {}, 3);

    expect(out).toEqual(records);
  });

  it("skips other top-level keys around Records", async () => {
    const out = await collect('{"Digest": {"a": [1, {"b": "]"}]}, "Records": [{"x": 1}], "Tail": "t"}');

    expect(out).toEqual([{ x: 1 }]);
  });

  it("reads the records array under a key written with an escape, as JSON.parse does", async () => {
    const out = await collect('{"Records":[],"Recor\\u0064s":[{"x":1}]}');

    expect(out).toEqual([{ x: 1 }]);
    expect(JSON.parse('{"Records":[],"Recor\\u0064s":[{"x":1}]}').Records).toEqual(out);
  });

  it("skips a UTF-8 byte order mark, also when it arrives a byte at a time", async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"Records":[{"x":1}]}')]);

    for (const chunk of [0, 1, 2]) expect(await collect(bytes, {}, chunk)).toEqual([{ x: 1 }]);
  });

  it("skips elements the relevance check rejects, without parsing them, and counts them", async () => {
    const stats: TrailReadStats = { elements: 0, ignored: 0 };
    const text =
      '{"Records": [{"eventSource": "s3.amazonaws.com"}, {"eventSource": "kms.amazonaws.com"}, {bad json}]}';
    const relevant = (bytes: Buffer, start: number, end: number) =>
      !bytes.subarray(start, end).includes("s3.amazonaws.com");

    const out = await collect(text, { relevant, stats });

    expect(out).toEqual([{ eventSource: "kms.amazonaws.com" }, "{bad json}"]);
    expect(stats).toEqual({ elements: 3, ignored: 1, format: "records" });
  });

  it("yields the CloudTrailEvent strings of `aws cloudtrail lookup-events` output", async () => {
    const text = JSON.stringify({
      Events: [{ EventId: "1", CloudTrailEvent: '{"eventID":"1"}' }],
      NextToken: "abc",
    });

    const out = await collect(text);

    expect(out).toEqual(['{"eventID":"1"}']);
  });

  it("reads a bare JSON array of records", async () => {
    expect(await collect('[{"a":1},{"b":2}]')).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it("reports a file cut off inside the records array as truncated, after yielding what came before", async () => {
    const text = '{"Records": [{"a": 1}, {"b": "cut';
    const seen: unknown[] = [];

    const error = await (async () => {
      try {
        for await (const record of readTrailRecords(Readable.from([Buffer.from(text)]), {
          source: "f.json",
        })) {
          seen.push(record);
        }
      } catch (caught) {
        return caught as Error;
      }
    })();

    expect(seen).toEqual([{ a: 1 }]);
    expect(error).toBeInstanceOf(TruncatedTrailFileError);
    expect(error?.message).toBe(
      "f.json: truncated: the JSON ends after 1 record(s), in the middle of the records array",
    );
  });

  it("reports a truncated gzip stream", async () => {
    const gz = gzipSync(SAMPLE);

    const error = await failure(gz.subarray(0, gz.length - 40));

    expect(error).toBeInstanceOf(TruncatedTrailFileError);
    expect(error.message).toBe("f.json: the gzip stream is truncated");
  });

  it("rejects files that are not CloudTrail, saying why", async () => {
    expect(await failure("hello")).toBeInstanceOf(NotCloudTrailError);
    expect((await failure("hello")).message).toBe("f.json: not a CloudTrail log file: it is not JSON");
    expect((await failure('{"Items": []}')).message).toBe(
      'f.json: not a CloudTrail log file: it has no "Records" (or lookup-events "Events") array',
    );
    expect((await failure("")).message).toBe("f.json: not a CloudTrail log file: it is empty");
    expect((await failure('{"Records": [] } x')).message).toMatch(/unexpected data after the end/);
  });
});

describe("readTrailFileChunks", () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "vigil-trail-file-"));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  /** The records of a file written with `bytes`, what the reader counted, and the error it ended with. */
  async function readFile(name: string, bytes: Buffer | string) {
    const path = join(folder, name);
    await writeFile(path, bytes);
    const stats: TrailReadStats = { elements: 0, ignored: 0 };
    const records: unknown[] = [];
    let chunks = 0;
    let error: Error | undefined;
    try {
      for await (const chunk of readTrailFileChunks(path, { stats, source: name })) {
        chunks++;
        records.push(...chunk);
      }
    } catch (caught) {
      error = caught as Error;
    }
    return { records, stats, chunks, error };
  }

  /** `count` records of about 1.2 KB each (CloudTrail's size), distinct so that order shows. */
  const manyRecords = (count: number) =>
    Array.from({ length: count }, (_, n) => ({ eventID: `e${n}`, padding: "x".repeat(1_200) }));

  it("reads a small gzipped file whole, in pieces no bigger than streaming would hand over", async () => {
    const records = manyRecords(300);

    const read = await readFile("small.json.gz", gzipSync(JSON.stringify({ Records: records })));

    expect(read.error).toBeUndefined();
    expect(read.records).toEqual(records);
    expect(read.stats.elements).toBe(300);
    // 360 KB of records in 64 KiB steps: several arrays, never the whole file's records at once.
    expect(read.chunks).toBeGreaterThanOrEqual(5);
  });

  it("reads a file above the whole-file limit (it streams) with the same records", async () => {
    // Random padding does not compress: the gzipped file is above the whole-file limit (1 MiB).
    const records = Array.from({ length: 2_000 }, (_, n) => ({
      eventID: `e${n}`,
      padding: randomText(1_500),
    }));
    const gz = gzipSync(JSON.stringify({ Records: records }));
    expect(gz.length).toBeGreaterThan(1024 * 1024);

    const read = await readFile("large.json.gz", gz);

    expect(read.error).toBeUndefined();
    expect(read.records).toEqual(records);
  });

  it("reports a gzip trailer that lies about the size as corrupt, after the records before it", async () => {
    // The trailer only sizes the buffer a small file is gunzipped into; zlib still checks it.
    const records = manyRecords(300);
    const gz = gzipSync(JSON.stringify({ Records: records }));
    const claiming = (size: number) => {
      const lying = Buffer.from(gz);
      lying.writeUInt32LE(size, lying.length - 4);
      return lying;
    };

    for (const [name, size] of [
      ["small-trailer.json.gz", 10],
      ["large-trailer.json.gz", 8 * 1024 * 1024],
    ] as const) {
      const read = await readFile(name, claiming(size));

      expect(read.records.length).toBeGreaterThan(0);
      expect(read.records).toEqual(records.slice(0, read.records.length));
      expect(read.error).toBeInstanceOf(TruncatedTrailFileError);
      expect(read.error?.message).toBe(`${name}: the gzip data is corrupt`);
    }
  });

  it("reads a pipe (no size to go by) to its end", async () => {
    const records = manyRecords(50);
    const pipe = join(folder, "records.fifo");
    execFileSync("mkfifo", [pipe]);
    const source = join(folder, "records.json.gz");
    await writeFile(source, gzipSync(JSON.stringify({ Records: records })));
    // The reader blocks in the pipe's open and read: the writer is a process of its own.
    spawn("sh", ["-c", 'cat "$1" > "$2"', "sh", source, pipe], { stdio: "ignore" });

    const read: unknown[] = [];
    for await (const chunk of readTrailFileChunks(pipe)) read.push(...chunk);

    expect(read).toEqual(records);
  });

  it("reads an uncompressed file", async () => {
    const read = await readFile("plain.json", SAMPLE);

    expect(read.records).toEqual((JSON.parse(SAMPLE.toString("utf8")) as { Records: unknown[] }).Records);
  });

  it("hands on the records before a damaged gzip stream, then says it is truncated", async () => {
    const records = manyRecords(300);
    const gz = gzipSync(JSON.stringify({ Records: records }));

    const read = await readFile("cut.json.gz", gz.subarray(0, Math.floor(gz.length / 2)));

    expect(read.error).toBeInstanceOf(TruncatedTrailFileError);
    expect(read.error?.message).toBe("cut.json.gz: the gzip stream is truncated");
    expect(read.records.length).toBeGreaterThan(0);
    expect(read.records).toEqual(records.slice(0, read.records.length));
  });

  it("reports a file cut off inside the records array after the records before the cut", async () => {
    const read = await readFile("cut.json", '{"Records": [{"a": 1}, {"b": "cut');

    expect(read.records).toEqual([{ a: 1 }]);
    expect(read.error?.message).toBe(
      "cut.json: truncated: the JSON ends after 1 record(s), in the middle of the records array",
    );
  });
});

/** Text that gzip cannot shrink much (letters drawn at random). */
function randomText(length: number): string {
  let text = "";
  for (let i = 0; i < length; i++) text += String.fromCharCode(97 + Math.floor(Math.random() * 26));
  return text;
}
