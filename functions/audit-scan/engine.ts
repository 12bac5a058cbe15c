import { type Finding, findingId } from "../../lib/finding.ts";
import { type AuditEvent, normaliseRecord } from "./normalise.ts";
import { isSuppressed, type Policy, principalMatches, type SecretPolicy, secretPolicyFor } from "./policy.ts";
import { RULES } from "./registry.ts";
import { type RotationFacts, RotationTracker } from "./rotation.ts";
import { type Detection, detectionOf, type Rule, type RuleContext, type Signal } from "./rule.ts";
import type { ScanState } from "./state.ts";

export interface ScanResult {
  findings: Finding[];
  /** Records handed to scan(), every one of them (other services' included). */
  processed: number;
  /** Malformed records skipped, by reason. */
  skipped: Record<string, number>;
  /** Time of the newest event read, for the scanner-lag metric. */
  newestEventMs?: number;
  /** Findings a policy suppression silenced. */
  suppressed?: number;
  /** Events outside the scanner's time range (not judged). */
  outOfRange?: number;
  /** Events the rules judged (Secrets Manager, KMS and CloudTrail, in range, duplicates inside a batch once). */
  judged?: number;
}

export interface ScannerDependencies {
  policy: Policy;
  state: ScanState;
  now?: () => Date;
  /** The rule catalogue (default: every registered rule). */
  rules?: readonly Rule[];
  /** Events judged together (order inside a batch never matters); bounds the memory a scan holds. */
  batchSize?: number;
  /** Only events in [sinceMs, untilMs) are judged; the others are counted in `outOfRange`. */
  timeRange?: { sinceMs?: number; untilMs?: number };
}

const DAY_MS = 86_400_000;
/** How long a claimed finding id is remembered (ids are per UTC day; first sightings per key). */
const CLAIM_MS = 3 * DAY_MS;
const FIRST_SEEN_CLAIM_MS = 30 * DAY_MS;
const MAX_EVENT_IDS = 100;
const DEFAULT_BATCH = 5_000;

interface Pending {
  rule: Rule;
  signal: Signal;
  /** The UTC day of the finding ("" for a first sighting). */
  day: string;
  events: AuditEvent[];
  /** window: distinct (key, member) pairs to add. */
  members: Map<string, string>;
}

/** Runs the rule catalogue over raw CloudTrail records (trail-file records, EventBridge details, LookupEvents strings). */
export function createScanner(deps: ScannerDependencies): {
  scan(records: Iterable<unknown> | AsyncIterable<unknown>): Promise<ScanResult>;
} {
  const { policy, state } = deps;
  const now = deps.now ?? (() => new Date());
  const rules = deps.rules ?? RULES;
  const batchSize = deps.batchSize ?? DEFAULT_BATCH;
  const rotation = new RotationTracker(state, (event) =>
    principalMatches(policy.rotationRoles, event.principal.id),
  );
  const context = ruleContext(policy, (event, secretArn) => rotation.factsOf(event, secretArn));
  const sinceMs = deps.timeRange?.sinceMs ?? Number.NEGATIVE_INFINITY;
  const untilMs = deps.timeRange?.untilMs ?? Number.POSITIVE_INFINITY;
  const outside = (timeMs: number) => timeMs < sinceMs || timeMs >= untilMs;

  async function judge(batch: AuditEvent[], result: ScanResult): Promise<void> {
    if (batch.length === 0) return;
    result.judged = (result.judged ?? 0) + batch.length;
    const nowMs = now().getTime();
    const earliest = await state.noteEarliest(Math.min(...batch.map((event) => event.timeMs)));
    const learningEnd = earliest + policy.learningDays * DAY_MS;
    await rotation.observe(batch, learningEnd);
    const pending = new Map<string, Pending>();
    for (const event of batch) {
      for (const rule of rules) {
        let signals: Signal[];
        try {
          signals = rule.evaluate(event, context);
        } catch (error) {
          // A rule bug must not stop the scan; the record is counted under the rule's name.
          const reason = `rule ${rule.id} failed: ${error instanceof Error ? error.message : String(error)}`;
          result.skipped[reason] = (result.skipped[reason] ?? 0) + 1;
          continue;
        }
        for (const signal of signals) collect(pending, rule, signal, event);
      }
    }
    for (const item of pending.values()) {
      const finding = await decide(item, learningEnd, nowMs);
      if (finding === "suppressed") result.suppressed = (result.suppressed ?? 0) + 1;
      else if (finding) result.findings.push(finding);
    }
  }

  async function decide(
    item: Pending,
    learningEnd: number,
    nowMs: number,
  ): Promise<Finding | "suppressed" | undefined> {
    const { signal, rule } = item;
    const header = signal.detection;
    let events = item.events;
    let count = events.length;
    // The cheap questions first: most first sightings are old news, most windows stay below threshold.
    if (signal.kind === "first-seen") {
      const earliest = events.reduce((a, b) => (b.timeMs < a.timeMs ? b : a));
      const before = await state.recordSeen(signal.key, earliest.timeMs);
      if (earliest.timeMs < learningEnd || (before !== undefined && before <= earliest.timeMs))
        return undefined;
      // A rotation's own read is a sighting, but never the news.
      if (header.secretArn && (await rotation.isRotationCall(earliest, header.secretArn))) return undefined;
    } else if (signal.kind === "window") {
      let size = 0;
      // Kept a day past the window for late deliveries; tied to event time, so a scan of old files can
      // let windows of long ago go (MemoryScanState prunes them) instead of holding every one till the end.
      const expiresAt = (events[0]?.timeMs ?? nowMs) + signal.windowMs + DAY_MS;
      for (const [member, key] of item.members) {
        size = Math.max(size, await state.addDistinct(key, member, expiresAt));
        if (size >= signal.threshold) break;
      }
      if (size < signal.threshold) return undefined;
      count = size;
    }
    if (header.secretArn && !("resolves" in header && header.resolves)) {
      // The rotation function's own calls never raise a finding.
      const own: AuditEvent[] = [];
      for (const event of events) {
        if (!(await rotation.isRotationCall(event, header.secretArn))) own.push(event);
      }
      events = own;
      if (events.length === 0) return undefined;
      if (signal.kind === "alert") count = events.length;
    }
    const first = events[0] as AuditEvent;
    if (
      isSuppressed(policy, {
        rule: rule.id,
        principal: header.principal,
        secretArn: header.secretArn,
        atMs: first.timeMs,
      })
    ) {
      return "suppressed";
    }
    const id =
      signal.kind === "first-seen"
        ? findingId(rule.id, header.group, header.severity)
        : findingId(rule.id, header.group, header.severity, item.day);
    const claimFor = signal.kind === "first-seen" ? FIRST_SEEN_CLAIM_MS : CLAIM_MS;
    if (!(await state.claimOnce(id, Math.max(first.timeMs, nowMs) + claimFor))) return undefined;
    return toFinding(rule, id, detectionOf(signal), events, count, signal);
  }

  return {
    async scan(records) {
      const result: ScanResult = { findings: [], processed: 0, skipped: {} };
      let batch: AuditEvent[] = [];
      const inBatch = new Set<string>();
      for await (const record of records) {
        result.processed++;
        const normalised = normaliseRecord(record);
        if (!normalised.ok) {
          if (!normalised.ignored)
            result.skipped[normalised.reason] = (result.skipped[normalised.reason] ?? 0) + 1;
          continue;
        }
        const event = normalised.event;
        if (outside(event.timeMs)) {
          result.outOfRange = (result.outOfRange ?? 0) + 1;
          continue;
        }
        if (result.newestEventMs === undefined || event.timeMs > result.newestEventMs)
          result.newestEventMs = event.timeMs;
        // Duplicate deliveries inside a batch are dropped here; across batches the state makes them harmless.
        if (inBatch.has(event.eventId)) continue;
        inBatch.add(event.eventId);
        batch.push(event);
        if (batch.length >= batchSize) {
          await judge(batch, result);
          batch = [];
          inBatch.clear();
        }
      }
      await judge(batch, result);
      return result;
    },
  };
}

/** What rules may ask about the policy and the batch's rotations (the engine's context; tests evaluate single rules with it). */
export function ruleContext(
  policy: Policy,
  rotationFacts: (event: AuditEvent, secretArn: string) => RotationFacts = () => ({
    byRotationRole: false,
    firstAttachment: false,
  }),
): RuleContext {
  const secrets = new Map<string, SecretPolicy>();
  const secretPolicy = (secretArn: string) => {
    let secret = secrets.get(secretArn);
    if (!secret) {
      // A long scan sees a bounded number of secrets; the cap only guards against a flood of made-up names.
      if (secrets.size > 10_000) secrets.clear();
      secret = secretPolicyFor(policy, secretArn);
      secrets.set(secretArn, secret);
    }
    return secret;
  };
  return {
    policy,
    secretPolicy,
    rotationFacts,
    isRotationRole: (event) => principalMatches(policy.rotationRoles, event.principal.id),
    isExpectedWriter: (event, secretArn) =>
      principalMatches(policy.rotationRoles, event.principal.id) ||
      principalMatches(secretPolicy(secretArn).writers, event.principal.id),
  };
}

function collect(pending: Map<string, Pending>, rule: Rule, signal: Signal, event: AuditEvent) {
  const { group, severity } = signal.detection;
  // The severity is part of the finding's id: a worse event of the same problem (a forced deletion after
  // a scheduled one) is a finding of its own, whichever arrives first; the shared group makes it one
  // incident. Findings of a day are one finding; a first sighting is one for ever.
  const day = signal.kind === "first-seen" ? "" : new Date(event.timeMs).toISOString().slice(0, 10);
  const key = `${rule.id}\u0000${group}\u0000${severity}\u0000${day}`;
  let item = pending.get(key);
  if (!item) {
    item = { rule, signal, day, events: [], members: new Map() };
    pending.set(key, item);
  }
  item.events.push(event);
  if (signal.kind === "window") {
    // Two bucket series offset by half a window, so a burst straddling a bucket edge is still counted whole.
    const bucket = Math.floor(event.timeMs / signal.windowMs);
    const half = Math.floor((event.timeMs + signal.windowMs / 2) / signal.windowMs);
    item.members.set(`${signal.member}`, `window#${rule.id}#${signal.key}#${bucket}`);
    item.members.set(`${signal.member}\u0000h`, `window#${rule.id}#${signal.key}#h${half}`);
  }
}

function toFinding(
  rule: Rule,
  id: string,
  detection: Detection,
  events: readonly AuditEvent[],
  count: number,
  signal: Signal,
): Finding {
  const sorted = [...events].sort((a, b) => a.timeMs - b.timeMs || a.eventId.localeCompare(b.eventId));
  const first = sorted[0] as AuditEvent;
  const last = sorted[sorted.length - 1] as AuditEvent;
  const times =
    signal.kind === "window"
      ? ` ${count} ${signal.unit} within ${signal.windowMs / 60_000} minutes (threshold ${signal.threshold}), from ${first.time} to ${last.time}.`
      : sorted.length === 1
        ? ` At ${first.time}.`
        : ` ${sorted.length} times from ${first.time} to ${last.time}.`;
  return {
    id,
    rule: rule.id,
    severity: detection.severity,
    title: detection.title,
    summary: `${detection.summary}${times}`,
    ...(detection.secretArn ? { secretArn: detection.secretArn } : {}),
    ...(detection.principal ? { principal: detection.principal } : {}),
    ...(detection.sourceIp ? { sourceIp: detection.sourceIp } : {}),
    region: first.region,
    account: first.account,
    eventIds: sorted.slice(0, MAX_EVENT_IDS).map((event) => event.eventId),
    firstSeen: first.time,
    lastSeen: last.time,
    count,
    groupKey: detection.groupKey ?? `${rule.id}:${detection.group}`,
    status: detection.resolves ? "resolved" : "firing",
    details: detection.details ?? {},
    runbook: `docs/detections.md#${rule.id}`,
  };
}
