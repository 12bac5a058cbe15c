import type { SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { type Finding, SEVERITIES, type Severity } from "../../../lib/finding.ts";
import { ROTATION_TAG } from "../compliance.ts";
import { createScanner } from "../engine.ts";
import { type AuditEvent, normaliseRecord } from "../normalise.ts";
import { type Policy, principalMatches, secretNameOf, secretPolicyFor, stripArnSuffix } from "../policy.ts";
import { MemoryScanState } from "../state.ts";

/**
 * The quarterly compliance report as data: every secret's rotations against its policy, who read each
 * secret, and the scanner's findings, all for one period [from, to). Rendering lives in render-*.ts.
 */

const DAY_MS = 86_400_000;
/** Tags that name a secret's owning team (the first one present wins). */
export const OWNER_TAGS = ["vigil:owner", "owner", "Owner"] as const;
const READ_CALLS = new Set(["GetSecretValue", "BatchGetSecretValue"]);
const OUTCOMES = {
  RotationSucceeded: "succeeded",
  RotationFailed: "failed",
  RotationAbandoned: "abandoned",
} as const;

export interface RotationEvent {
  at: string;
  outcome: (typeof OUTCOMES)[keyof typeof OUTCOMES];
  error?: string;
  /** Set when no event was read for it: ListSecrets' LastRotatedDate is the only record. */
  source?: "LastRotatedDate";
}

/** One secret's rotation record for the period. */
export interface RotationRow {
  arn: string;
  name: string;
  owner: string | undefined;
  sensitivity: string;
  strategy: string | undefined;
  maxRotationDays: number;
  canary: boolean;
  /** Rotations (succeeded, failed, abandoned) inside the period, oldest first. */
  rotations: RotationEvent[];
  /** The last successful rotation at or before the period's end, if any is known. */
  lastRotated: string | undefined;
  /** Whole days from the last rotation to the period's end; undefined when never rotated. */
  daysSinceLast: number | undefined;
  /** The longest stretch without a successful rotation inside the period, in whole days. */
  longestGapDays: number;
  /** Where the longest stretch began (the last rotation before it, the creation date or the period's start). */
  gapStart: string;
  /** Where the period's first stretch begins: the last rotation before the period, else creation or the period's start. */
  reference: string;
  /** True when `reference` is a rotation (not a creation date or the period's start). */
  referenceIsRotation: boolean;
  /** "compliant", "non-compliant", or "exempt" (canaries are never rotated on purpose). */
  compliance: "compliant" | "non-compliant" | "exempt";
  /** Why it is not compliant, in one sentence. */
  reason: string | undefined;
}

/** One principal's reads of one secret in the period. */
export interface AccessRow {
  secretArn: string;
  secret: string;
  principal: string;
  principalType: string;
  reads: number;
  denied: number;
  firstSeen: string;
  lastSeen: string;
  origins: string[];
  /** true: the policy lists readers for the secret and this principal is not one of them. */
  unexpected: boolean;
  /** false when the policy names no readers for the secret (nobody can be marked). */
  readersDeclared: boolean;
}

export interface FindingSummary {
  rule: string;
  severity: Severity;
  count: number;
}

export interface ComplianceReport {
  from: string;
  to: string;
  generatedAt: string;
  policySource: string;
  /** "CloudTrail LookupEvents" or the trail paths read. */
  eventSource: string;
  rotation: RotationRow[];
  access: AccessRow[];
  findings: Finding[];
  findingsByRule: FindingSummary[];
  totals: { secrets: number; nonCompliant: number; unexpectedReaders: number; findings: number };
}

export interface ReportInput {
  fromMs: number;
  toMs: number;
  policy: Policy;
  secrets: readonly SecretListEntry[];
  /** CloudTrail records (trail-file objects or LookupEvents' parsed CloudTrailEvent), any order; earlier ones give the last rotation before the period. */
  records: Iterable<unknown> | AsyncIterable<unknown>;
  eventSource: string;
  now: Date;
}

/** Builds the report from the account's secrets and the CloudTrail records covering the period. */
export async function buildComplianceReport(input: ReportInput): Promise<ComplianceReport> {
  const rotationsBySecret = new Map<string, { timeMs: number; event: RotationEvent }[]>();
  const access = new Map<string, AccessRow>();
  const inPeriod: unknown[] = [];
  const seen = new Set<string>();
  for await (const record of input.records) {
    const normalised = normaliseRecord(record);
    if (!normalised.ok) continue;
    const event = normalised.event;
    if (seen.has(event.eventId) || event.timeMs >= input.toMs) continue;
    seen.add(event.eventId);
    if (event.service === "secretsmanager") noteRotation(event, rotationsBySecret);
    if (event.timeMs < input.fromMs) continue;
    inPeriod.push(record);
    if (event.service === "secretsmanager" && READ_CALLS.has(event.eventName)) noteRead(event, input, access);
  }
  const rotation = input.secrets
    .filter((entry) => entry.ARN)
    .map((entry) => rotationRow(entry, input, rotationsBySecret.get(stripArnSuffix(entry.ARN ?? "")) ?? []))
    .sort((a, b) => a.name.localeCompare(b.name));

  const scanner = createScanner({
    policy: input.policy,
    state: new MemoryScanState(),
    now: () => input.now,
    timeRange: { sinceMs: input.fromMs, untilMs: input.toMs },
  });
  const findings = (await scanner.scan(inPeriod)).findings.sort(
    (a, b) => a.firstSeen.localeCompare(b.firstSeen) || a.id.localeCompare(b.id),
  );
  const accessRows = [...access.values()].sort(
    (a, b) =>
      a.secret.localeCompare(b.secret) || Number(b.unexpected) - Number(a.unexpected) || b.reads - a.reads,
  );
  return {
    from: new Date(input.fromMs).toISOString(),
    to: new Date(input.toMs).toISOString(),
    generatedAt: input.now.toISOString(),
    policySource: input.policy.source,
    eventSource: input.eventSource,
    rotation,
    access: accessRows,
    findings,
    findingsByRule: summarise(findings),
    totals: {
      secrets: rotation.length,
      nonCompliant: rotation.filter((row) => row.compliance === "non-compliant").length,
      unexpectedReaders: accessRows.filter((row) => row.unexpected).length,
      findings: findings.length,
    },
  };
}

function noteRotation(
  event: AuditEvent,
  bySecret: Map<string, { timeMs: number; event: RotationEvent }[]>,
): void {
  const outcome = OUTCOMES[event.eventName as keyof typeof OUTCOMES];
  if (!outcome || event.eventType !== "AwsServiceEvent") return;
  for (const arn of event.secretArns) {
    const list = bySecret.get(arn) ?? [];
    list.push({
      timeMs: event.timeMs,
      event: { at: event.time, outcome, ...(event.errorMessage ? { error: event.errorMessage } : {}) },
    });
    bySecret.set(arn, list);
  }
}

function noteRead(event: AuditEvent, input: ReportInput, access: Map<string, AccessRow>): void {
  for (const arn of event.secretArns) {
    const key = `${arn}\u0000${event.principal.id}`;
    let row = access.get(key);
    if (!row) {
      const secret = secretPolicyFor(input.policy, arn);
      const readers = secret.readers ? [...secret.readers, ...input.policy.rotationRoles] : undefined;
      row = {
        secretArn: arn,
        secret: secretNameOf(arn),
        principal: event.principal.id,
        principalType: event.principal.type,
        reads: 0,
        denied: 0,
        firstSeen: event.time,
        lastSeen: event.time,
        origins: [],
        readersDeclared: readers !== undefined,
        unexpected: readers !== undefined && !principalMatches(readers, event.principal.id),
      };
      access.set(key, row);
    }
    if (event.errorCode) row.denied += 1;
    else row.reads += 1;
    if (event.time < row.firstSeen) row.firstSeen = event.time;
    if (event.time > row.lastSeen) row.lastSeen = event.time;
    const origin =
      event.origin.vpcEndpointId ??
      (event.principal.invokedBy ? `via ${event.principal.invokedBy}` : event.origin.sourceIp);
    if (origin && !row.origins.includes(origin) && row.origins.length < 10) row.origins.push(origin);
  }
}

function rotationRow(
  entry: SecretListEntry,
  input: ReportInput,
  history: { timeMs: number; event: RotationEvent }[],
): RotationRow {
  const arn = entry.ARN as string;
  const secret = secretPolicyFor(input.policy, stripArnSuffix(arn));
  const tag = (key: string) =>
    entry.Tags?.find((candidate) => candidate.Key === key)?.Value?.trim() || undefined;
  const sorted = [...history].sort((a, b) => a.timeMs - b.timeMs);
  // Without a RotationSucceeded on record (older than the events read), Secrets Manager's own date counts.
  const listed = entry.LastRotatedDate?.getTime();
  if (
    !sorted.some((item) => item.event.outcome === "succeeded") &&
    listed !== undefined &&
    listed < input.toMs
  ) {
    const event: RotationEvent = {
      at: new Date(listed).toISOString(),
      outcome: "succeeded",
      source: "LastRotatedDate",
    };
    sorted.push({ timeMs: listed, event });
    sorted.sort((a, b) => a.timeMs - b.timeMs);
  }
  const successes = sorted.filter((item) => item.event.outcome === "succeeded").map((item) => item.timeMs);
  const before = successes.filter((at) => at < input.fromMs);
  const created = entry.CreatedDate?.getTime();
  const during = successes.filter((at) => at >= input.fromMs);
  // A rotation on record before the creation date (a secret re-created under its name) starts the clock.
  const start =
    before.at(-1) ?? Math.min(Math.max(input.fromMs, created ?? input.fromMs), during[0] ?? input.toMs);
  const points = [start, ...during, input.toMs];
  let longest = 0;
  let gapStart = start;
  for (let index = 1; index < points.length; index++) {
    const gap = (points[index] as number) - (points[index - 1] as number);
    if (gap > longest) {
      longest = gap;
      gapStart = points[index - 1] as number;
    }
  }
  const last = successes.at(-1);
  const daysSinceLast = last === undefined ? undefined : Math.floor((input.toMs - last) / DAY_MS);
  const longestGapDays = Math.floor(longest / DAY_MS);
  let reason: string | undefined;
  if (last === undefined) reason = "never rotated";
  else if (longest > secret.maxRotationDays * DAY_MS)
    reason = `${longestGapDays} days without a rotation (policy: ${secret.maxRotationDays})`;
  return {
    arn,
    name: entry.Name ?? arn,
    owner: OWNER_TAGS.map(tag).find((value) => value !== undefined),
    sensitivity: secret.sensitivity,
    strategy: tag(ROTATION_TAG),
    maxRotationDays: secret.maxRotationDays,
    canary: secret.canary,
    rotations: sorted.filter((item) => item.timeMs >= input.fromMs).map((item) => item.event),
    lastRotated: last === undefined ? undefined : new Date(last).toISOString(),
    daysSinceLast,
    longestGapDays,
    gapStart: new Date(gapStart).toISOString(),
    reference: new Date(start).toISOString(),
    referenceIsRotation: before.length > 0,
    compliance: secret.canary ? "exempt" : reason ? "non-compliant" : "compliant",
    reason: secret.canary ? undefined : reason,
  };
}

function summarise(findings: readonly Finding[]): FindingSummary[] {
  const counts = new Map<string, FindingSummary>();
  for (const finding of findings) {
    const key = `${finding.rule}\u0000${finding.severity}`;
    const summary = counts.get(key) ?? { rule: finding.rule, severity: finding.severity, count: 0 };
    summary.count += 1;
    counts.set(key, summary);
  }
  return [...counts.values()].sort(
    (a, b) =>
      SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
      b.count - a.count ||
      a.rule.localeCompare(b.rule),
  );
}
