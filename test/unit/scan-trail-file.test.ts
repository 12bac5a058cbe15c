import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { NotCloudTrailError, TruncatedTrailFileError } from "../../functions/audit-scan/errors.ts";
import { readTrailRecords, type TrailReadStats } from "../../functions/audit-scan/trail-file.ts";

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
