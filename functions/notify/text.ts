/** Text shaping for the limits of PagerDuty and SNS: characters, bytes, single lines, ASCII. */

const ELLIPSIS = "…";

/** UTF-8 size of a string. */
export function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Cuts `text` to at most `maxChars` UTF-16 units, ending with `marker`; never splits a surrogate pair. */
export function truncate(text: string, maxChars: number, marker = ELLIPSIS): string {
  if (text.length <= maxChars) return text;
  if (maxChars <= marker.length) return marker.slice(0, Math.max(0, maxChars));
  let end = maxChars - marker.length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return text.slice(0, end) + marker;
}

/** Cuts `text` to at most `maxBytes` of UTF-8, ending with `marker`; never splits a character. */
export function truncateBytes(text: string, maxBytes: number, marker = `\n${ELLIPSIS} (truncated)`): string {
  if (byteLength(text) <= maxBytes) return text;
  const budget = maxBytes - byteLength(marker);
  if (budget <= 0) return "";
  const bytes = Buffer.from(text, "utf8");
  let end = budget;
  // Step back over UTF-8 continuation bytes (10xxxxxx) to a character boundary.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString("utf8") + marker;
}

/** Collapses line breaks, tabs, control characters and runs of spaces into single spaces. */
export function singleLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
  return text.replace(/[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").trim();
}

/**
 * An SNS subject: ASCII only, no line breaks or control characters, fewer than 100 characters, starting
 * with a letter, digit or punctuation (SNS rejects the Publish otherwise).
 */
export function snsSubject(text: string): string {
  const ascii = singleLine(
    text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .replace(/[^\x20-\x7e\s]/g, "?"),
  );
  const subject = truncate(ascii, 99, "...");
  return subject === "" ? "Vigil alert" : subject;
}
