import { AwsServiceError } from "./errors.ts";

/**
 * The payload of a PutObject sent with `aws-chunked` encoding (what the SDK and the AWS CLI use for
 * streamed uploads with trailing checksums): `<hex size>[;chunk-signature=...]\r\n<bytes>\r\n` chunks, a
 * zero-size chunk, then trailers. Other bodies are returned as they are.
 */
export function decodeAwsChunked(body: Buffer, headers: Record<string, string | undefined>): Buffer {
  const chunked =
    String(headers["x-amz-content-sha256"] ?? "").startsWith("STREAMING-") ||
    String(headers["content-encoding"] ?? "")
      .split(",")
      .some((part) => part.trim() === "aws-chunked");
  if (!chunked) return body;
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = body.indexOf("\r\n", offset);
    if (lineEnd < 0) throw malformed();
    const size = Number.parseInt(body.subarray(offset, lineEnd).toString("latin1").split(";")[0]!, 16);
    if (!Number.isInteger(size) || size < 0) throw malformed();
    if (size === 0) break;
    const start = lineEnd + 2;
    if (start + size > body.length) throw malformed();
    parts.push(body.subarray(start, start + size));
    offset = start + size + 2;
  }
  const decoded = Buffer.concat(parts);
  const expected = headers["x-amz-decoded-content-length"];
  if (expected !== undefined && Number(expected) !== decoded.length) throw malformed();
  return decoded;
}

function malformed(): AwsServiceError {
  return new AwsServiceError("IncompleteBody", "The request body terminated unexpectedly", 400);
}
