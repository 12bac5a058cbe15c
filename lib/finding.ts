import { createHash } from "node:crypto";
import { ValidationError } from "./errors.ts";

export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;
export type Severity = (typeof SEVERITIES)[number];

const STATUSES = ["firing", "resolved"] as const;

/** The contract between the scanner / rotation and the notifier (docs/architecture.md, "Messages on the findings queue"). */
export interface Finding {
  id: string;
  rule: string;
  severity: Severity;
  title: string;
  summary: string;
  secretArn?: string;
  principal?: string;
  sourceIp?: string;
  region: string;
  account: string;
  eventIds: string[];
  /** ISO 8601 date-times with an offset (Z or ±hh:mm). */
  firstSeen: string;
  lastSeen: string;
  /** A whole number, at least 0. */
  count: number;
  groupKey: string;
  status?: (typeof STATUSES)[number];
  details: Record<string, unknown>;
  runbook: string;
}

/** Emitted by the rotate function after finishSecret promotes a new version. */
export interface SecretRotatedEvent {
  type: "secret.rotated";
  secretArn: string;
  versionId: string;
  // Any name: a strategy added to the rotate function must not make an older notifier reject its events.
  strategy: string;
  at: string;
}

/** One SQS message body on the findings queue. */
export type FindingsQueueMessage = Finding | SecretRotatedEvent;

/*
 * Validation is written out rather than built with a schema library: the notifier parses a few messages
 * per invocation, and building, compiling and first running a schema was about 16M instructions of its
 * cold start (2-3 % of it, docs/BENCHMARKS.md). The rules are those the zod schema had: unknown fields
 * are dropped, optional ones kept only when present.
 */

// A calendar date-time with seconds and an offset (Z or ±hh:mm), as zod's iso.datetime({ offset: true }).
const ISO_DATETIME =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$/;

type Source = Record<string, unknown>;

const isRecord = (value: unknown): value is Source =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value;

/**
 * Reads the fields of one object, collecting "field: problem" issues. A field read with a problem gives
 * `undefined` in place of its value: the caller then refuses the whole object and never returns it.
 */
class Reader {
  readonly issues: string[] = [];
  constructor(readonly source: Source) {}

  #issue(field: string, problem: string): never {
    this.issues.push(`${field}: ${problem}`);
    return undefined as never;
  }

  has(field: string): boolean {
    return this.source[field] !== undefined;
  }

  string(field: string, { nonEmpty = false } = {}): string {
    const value = this.source[field];
    if (typeof value !== "string") return this.#issue(field, `expected string, received ${describe(value)}`);
    if (nonEmpty && value.length === 0) return this.#issue(field, "expected a non-empty string");
    return value;
  }

  oneOf<T extends string>(field: string, options: readonly T[]): T {
    const value = this.source[field];
    if (typeof value !== "string" || !(options as readonly string[]).includes(value))
      return this.#issue(field, `expected one of ${options.join(", ")}`);
    return value as T;
  }

  dateTime(field: string): string {
    const value = this.string(field);
    if (typeof value === "string" && !ISO_DATETIME.test(value))
      return this.#issue(field, "expected an ISO 8601 date-time with an offset (Z or ±hh:mm)");
    return value;
  }

  count(field: string): number {
    const value = this.source[field];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
      return this.#issue(field, "expected a whole number, at least 0");
    return value;
  }

  strings(field: string): string[] {
    const value = this.source[field];
    if (!Array.isArray(value)) return this.#issue(field, `expected array, received ${describe(value)}`);
    for (let index = 0; index < value.length; index++) {
      if (typeof value[index] !== "string")
        this.#issue(`${field}.${index}`, `expected string, received ${describe(value[index])}`);
    }
    return [...value];
  }

  record(field: string): Record<string, unknown> {
    const value = this.source[field];
    if (!isRecord(value)) return this.#issue(field, `expected object, received ${describe(value)}`);
    return value;
  }
}

/** Validates a finding; its fields in the contract's order, optional ones only when present. */
function readFinding(value: unknown): { finding?: Finding; issues: string[] } {
  if (!isRecord(value)) return { issues: [`(root): expected object, received ${describe(value)}`] };
  const read = new Reader(value);
  const finding = {
    id: read.string("id", { nonEmpty: true }),
    rule: read.string("rule", { nonEmpty: true }),
    severity: read.oneOf("severity", SEVERITIES),
    title: read.string("title", { nonEmpty: true }),
    summary: read.string("summary"),
  } as Finding;
  if (read.has("secretArn")) finding.secretArn = read.string("secretArn");
  if (read.has("principal")) finding.principal = read.string("principal");
  if (read.has("sourceIp")) finding.sourceIp = read.string("sourceIp");
  finding.region = read.string("region");
  finding.account = read.string("account");
  finding.eventIds = read.strings("eventIds");
  finding.firstSeen = read.dateTime("firstSeen");
  finding.lastSeen = read.dateTime("lastSeen");
  finding.count = read.count("count");
  finding.groupKey = read.string("groupKey", { nonEmpty: true });
  if (read.has("status")) finding.status = read.oneOf("status", STATUSES);
  finding.details = read.record("details");
  finding.runbook = read.string("runbook");
  return read.issues.length > 0 ? { issues: read.issues } : { finding, issues: [] };
}

/** Validates a secret.rotated event (unknown fields dropped). */
function readSecretRotated(value: Source): { event?: SecretRotatedEvent; issues: string[] } {
  const read = new Reader(value);
  const event: SecretRotatedEvent = {
    type: "secret.rotated",
    secretArn: read.string("secretArn"),
    versionId: read.string("versionId"),
    strategy: read.string("strategy", { nonEmpty: true }),
    at: read.dateTime("at"),
  };
  return read.issues.length > 0 ? { issues: read.issues } : { event, issues: [] };
}

/** A finding as the contract requires it (unknown fields dropped); a ValidationError names every wrong field. */
export function parseFinding(value: unknown): Finding {
  const { finding, issues } = readFinding(value);
  if (!finding) throw new ValidationError("invalid finding", issues);
  return finding;
}

/** Parses an SQS message body; the error names every field that is wrong. */
export function parseQueueMessage(body: string): FindingsQueueMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ValidationError("message body is not JSON");
  }
  if (isRecord(json) && json.type === "secret.rotated") {
    const { event, issues } = readSecretRotated(json);
    if (!event) throw new ValidationError("invalid secret.rotated event", issues);
    return event;
  }
  return parseFinding(json);
}

/** A deterministic id: the same inputs always give the same id, so redelivery never pages twice. */
export function findingId(...parts: readonly string[]): string {
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 32);
}

/** The group of every rotation problem of one secret: a later successful rotation resolves it. */
export function rotationGroupKey(secretArn: string): string {
  return `rotation:${secretArn}`;
}
