import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { mayBeScanned } from "../../functions/audit-scan/prefilter.ts";
import { readTrailRecords, type TrailReadStats } from "../../functions/audit-scan/trail-file.ts";

/**
 * Whether the trail reader, judging with mayBeScanned, keeps one record given as JSON text: the record sits
 * between two others in a trail file, read in 7-byte chunks (so that records straddle them), and the reader
 * tells mayBeScanned where the record's eventSource value starts.
 */
async function check(json: string): Promise<boolean> {
  const bytes = Buffer.from(
    `{"Records":[{"eventSource":"s3.amazonaws.com"},${json},{"eventSource":"kms.amazonaws.com"}]}`,
  );
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 7) chunks.push(bytes.subarray(at, at + 7));
  const stats: TrailReadStats = { elements: 0, ignored: 0 };
  const kept: unknown[] = [];
  for await (const record of readTrailRecords(Readable.from(chunks), { relevant: mayBeScanned, stats })) {
    kept.push(record);
  }
  expect(stats.elements).toBe(3);
  // The first record is always dropped and the last always kept: only the middle one is in question.
  expect(kept.at(-1)).toEqual({ eventSource: "kms.amazonaws.com" });
  return kept.length === 2;
}

describe("mayBeScanned", () => {
  it("keeps Secrets Manager, KMS and CloudTrail records", async () => {
    expect(await check('{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue"}')).toBe(
      true,
    );
    expect(await check('{"eventSource": "kms.amazonaws.com"}')).toBe(true);
    expect(await check('{"eventName":"StopLogging","eventSource" : "cloudtrail.amazonaws.com"}')).toBe(true);
  });

  it("drops other services' records, also when they mention a scanned service elsewhere", async () => {
    expect(await check('{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}')).toBe(false);
    expect(
      await check(
        '{"eventSource":"lambda.amazonaws.com","userIdentity":{"invokedBy":"secretsmanager.amazonaws.com"}}',
      ),
    ).toBe(false);
  });

  it("keeps what the normaliser must count as malformed or decode: no eventSource, not a string, escapes", async () => {
    expect(await check('{"eventName":"GetSecretValue"}')).toBe(true);
    expect(await check('{"eventSource":42}')).toBe(true);
    expect(await check('{"eventSource":"s3.amazonaws.com\\""}')).toBe(true);
    // JSON.parse reads this as kms.amazonaws.com.
    expect(await check('{"eventSource":"\\u006bms.amazonaws.com"}')).toBe(true);
  });

  it("judges by the record's own top-level eventSource key, as JSON.parse reads it", async () => {
    // "eventSource" as a value (an event selector's field name) is not the key.
    expect(
      await check('{"requestParameters":{"field":"eventSource"},"eventSource":"kms.amazonaws.com"}'),
    ).toBe(true);
    expect(
      await check('{"requestParameters":{"field":"eventSource"},"eventSource":"ec2.amazonaws.com"}'),
    ).toBe(false);
    // A nested eventSource key, before or after the record's own, is not the record's.
    expect(
      await check(
        '{"requestParameters":{"eventSource":"ec2.amazonaws.com"},"eventSource":"kms.amazonaws.com"}',
      ),
    ).toBe(true);
    expect(
      await check(
        '{"eventSource":"ec2.amazonaws.com","requestParameters":{"eventSource":"kms.amazonaws.com"}}',
      ),
    ).toBe(false);
    // A key given twice: JSON.parse keeps the last.
    expect(await check('{"eventSource":"ec2.amazonaws.com","eventSource":"kms.amazonaws.com"}')).toBe(true);
    expect(await check('{"eventSource":"kms.amazonaws.com","eventSource":"ec2.amazonaws.com"}')).toBe(false);
  });

  it("keeps an EventBridge event, which the normaliser judges by its detail, whatever its own eventSource", async () => {
    const detail = '{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}';
    expect(
      await check(
        `{"detail-type":"AWS API Call via CloudTrail","detail":${detail},"eventSource":"s3.amazonaws.com"}`,
      ),
    ).toBe(true);
    expect(
      await check(
        `{"eventSource":"s3.amazonaws.com","detail-type":"AWS API Call via CloudTrail","detail":${detail}}`,
      ),
    ).toBe(true);
  });

  it("matches a scanned source only whole: longer, shorter or lookalike values are other services", async () => {
    expect(await check('{"eventSource":"kms.amazonaws.com.example"}')).toBe(false);
    expect(await check('{"eventSource":"kms.amazonaws.co"}')).toBe(false);
    expect(await check('{"eventSource":"xms.amazonaws.com"}')).toBe(false);
    expect(await check('{"eventSource":""}')).toBe(false);
  });

  it("looks only inside the record's own bytes", () => {
    const bytes = Buffer.from('{"eventName":"A"},{"eventSource":"s3.amazonaws.com"}');
    const value = bytes.indexOf('"s3.');

    expect(mayBeScanned(bytes, 18, bytes.length, value)).toBe(false);
    // A position outside the record, or none, is not judged.
    expect(mayBeScanned(bytes, 0, 17, value)).toBe(true);
    expect(mayBeScanned(bytes, 18, bytes.length, -1)).toBe(true);
    // A value whose closing quote lies past the record's end is not judged from the bytes after it.
    expect(mayBeScanned(bytes, 18, bytes.indexOf(".com") + 4, value)).toBe(true);
  });
});
