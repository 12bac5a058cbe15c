import { LOOKUP_EVENT_SOURCES } from "./lookup.ts";

const SOURCE_NEEDLES = LOOKUP_EVENT_SOURCES.map((source) => Buffer.from(`"${source}"`));

/**
 * True when a trail record's raw bytes may belong to Secrets Manager, KMS or CloudTrail: the others (most
 * of a trail file) are never parsed. A false positive only costs a JSON.parse; the engine ignores it.
 */
export function mayConcernScanner(bytes: Buffer, start: number, end: number): boolean {
  const element = bytes.subarray(start, end);
  return SOURCE_NEEDLES.some((needle) => element.indexOf(needle) >= 0);
}
