import { createHash } from "node:crypto";

/**
 * What producers of findings need besides the schemas: severities, ids and group keys. Apart from
 * lib/finding.ts (which re-exports them) so that the audit-scan function, which builds findings but never
 * parses them, does not load zod and build the queue message schemas on every cold start.
 */

export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A deterministic id: the same inputs always give the same id, so redelivery never pages twice. */
export function findingId(...parts: readonly string[]): string {
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);
}

/** The group of every rotation problem of one secret: a later successful rotation resolves it. */
export function rotationGroupKey(secretArn: string): string {
  return `rotation:${secretArn}`;
}
