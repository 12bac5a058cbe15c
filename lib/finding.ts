import * as z from "zod/mini";
import { ValidationError } from "./errors.ts";
import { SEVERITIES } from "./finding-keys.ts";

export { findingId, rotationGroupKey, SEVERITIES, type Severity } from "./finding-keys.ts";

const isoTime = z.iso.datetime({ offset: true });

/** The contract between the scanner / rotation and the notifier (docs/architecture.md, "Messages on the findings queue"). */
export const findingSchema = z.object({
  id: z.string().check(z.minLength(1)),
  rule: z.string().check(z.minLength(1)),
  severity: z.enum(SEVERITIES),
  title: z.string().check(z.minLength(1)),
  summary: z.string(),
  secretArn: z.optional(z.string()),
  principal: z.optional(z.string()),
  sourceIp: z.optional(z.string()),
  region: z.string(),
  account: z.string(),
  eventIds: z.array(z.string()),
  firstSeen: isoTime,
  lastSeen: isoTime,
  count: z.number().check(z.int(), z.nonnegative()),
  groupKey: z.string().check(z.minLength(1)),
  status: z.optional(z.enum(["firing", "resolved"])),
  details: z.record(z.string(), z.unknown()),
  runbook: z.string(),
});
export type Finding = z.infer<typeof findingSchema>;

/** Emitted by the rotate function after finishSecret promotes a new version. */
export const secretRotatedSchema = z.object({
  type: z.literal("secret.rotated"),
  secretArn: z.string(),
  versionId: z.string(),
  // Any name: a strategy added to the rotate function must not make an older notifier reject its events.
  strategy: z.string().check(z.minLength(1)),
  at: isoTime,
});
export type SecretRotatedEvent = z.infer<typeof secretRotatedSchema>;

/** One SQS message body on the findings queue. */
export type FindingsQueueMessage = Finding | SecretRotatedEvent;

/** Parses an SQS message body; the error names every field that is wrong. */
export function parseQueueMessage(body: string): FindingsQueueMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError("message body is not JSON");
  }
  const isRotation =
    typeof json === "object" && json !== null && (json as { type?: unknown }).type === "secret.rotated";
  const result = isRotation ? secretRotatedSchema.safeParse(json) : findingSchema.safeParse(json);
  if (!result.success) {
    throw new ValidationError(
      isRotation ? "invalid secret.rotated event" : "invalid finding",
      result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`),
    );
  }
  return result.data;
}
