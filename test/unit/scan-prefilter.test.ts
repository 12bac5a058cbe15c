import { describe, expect, it } from "vitest";
import { mayBeScanned } from "../../functions/audit-scan/prefilter.ts";

/** Asks mayBeScanned about one record given as JSON text, placed inside a larger buffer. */
function check(json: string): boolean {
  const bytes = Buffer.from(`[{"eventSource":"s3.amazonaws.com"},${json},{}]`);
  const start = bytes.indexOf(json);
  return mayBeScanned(bytes, start, start + Buffer.byteLength(json));
}

describe("mayBeScanned", () => {
  it("keeps Secrets Manager, KMS and CloudTrail records", () => {
    expect(check('{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue"}')).toBe(true);
    expect(check('{"eventSource": "kms.amazonaws.com"}')).toBe(true);
    expect(check('{"eventName":"StopLogging","eventSource" : "cloudtrail.amazonaws.com"}')).toBe(true);
  });

  it("drops other services' records, also when they mention a scanned service elsewhere", () => {
    expect(check('{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}')).toBe(false);
    expect(
      check(
        '{"eventSource":"lambda.amazonaws.com","userIdentity":{"invokedBy":"secretsmanager.amazonaws.com"}}',
      ),
    ).toBe(false);
  });

  it("keeps what the normaliser must count as malformed: no eventSource, a non-string one, an escaped one", () => {
    expect(check('{"eventName":"GetSecretValue"}')).toBe(true);
    expect(check('{"eventSource":42}')).toBe(true);
    expect(check('{"eventSource":"s3.amazonaws.com\\""}')).toBe(true);
  });

  it('looks past "eventSource" used as a value for the key', () => {
    expect(check('{"requestParameters":{"field":"eventSource"},"eventSource":"kms.amazonaws.com"}')).toBe(
      true,
    );
    expect(check('{"requestParameters":{"field":"eventSource"},"eventSource":"ec2.amazonaws.com"}')).toBe(
      false,
    );
  });

  it("looks only inside the record's own bytes", () => {
    const bytes = Buffer.from('{"eventName":"A"},{"eventSource":"s3.amazonaws.com"}');

    expect(mayBeScanned(bytes, 0, 17)).toBe(true);
    expect(mayBeScanned(bytes, 18, bytes.length)).toBe(false);
    // A value whose closing quote lies past the record's end is not judged from the bytes after it.
    const cut = Buffer.from('{"eventSource":"s3.amazonaws.com"}');
    expect(mayBeScanned(cut, 0, cut.indexOf(".com") + 4)).toBe(true);
  });

  it("matches a scanned source only whole: longer, shorter or lookalike values are other services", () => {
    expect(check('{"eventSource":"kms.amazonaws.com.example"}')).toBe(false);
    expect(check('{"eventSource":"kms.amazonaws.co"}')).toBe(false);
    expect(check('{"eventSource":"xms.amazonaws.com"}')).toBe(false);
    expect(check('{"eventSource":""}')).toBe(false);
  });
});
