import type { Finding } from "../../lib/finding.ts";
import { findingId } from "../../lib/finding-keys.ts";
import { inKeyOrder } from "./in-key-order.ts";
import { type AuditEvent, auditEventOf, checkRecord, remember } from "./normalise.ts";
import { isSuppressed, type Policy, principalMatches, type SecretPolicy, secretPolicyFor } from "./policy.ts";
import { RULES, ruleDispatch } from "./registry.ts";
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
  /**
   * State calls a batch may have in flight at once (default 1: one after another). A remote state (DynamoDB)
   * gains from more: a batch's pending findings are decided concurrently, those sharing a state key still
   * one after another in batch order, so findings and state are what the sequential order gives.
   */
  stateConcurrency?: number;
}

const DAY_MS = 86_400_000;
/** How long a claimed finding id is remembered (ids are per UTC day; first sightings per key). */
const CLAIM_MS = 3 * DAY_MS;
const FIRST_SEEN_CLAIM_MS = 30 * DAY_MS;
const MAX_EVENT_IDS = 100;
const DEFAULT_BATCH = 5_000;

/** Events of a batch that no rule reads: only how many, and the earliest time among them. */
interface Unjudged {
  count: number;
  earliestMs: number;
}

interface Pending {
  rule: Rule;
  signal: Signal;
  /** The UTC day of the finding ("" for a first sighting). */
  day: string;
  events: AuditEvent[];
  /** window: the distinct members to add, each to the buckets of its latest signal. */
  members: Map<string, WindowBuckets>;
}

/** Where a window signal's member is counted: two bucket series offset by half a window. */
interface WindowBuckets {
  key: string;
  bucket: number;
  half: number;
}

/**
 * A batch's signals gathered into what may become findings: one per rule, group, severity and UTC day (a
 * first sighting: per rule, group and severity). Looked up by rule, then group, so that the thousands of
 * signals of a busy batch build no key strings.
 */
class PendingFindings {
  /** In the order they were first seen (the order findings come out in). */
  readonly items: Pending[] = [];
  private readonly byRule = new Map<Rule, Map<string, Pending[]>>();
  private dayNumber = Number.NaN;
  private dayText = "";

  collect(rule: Rule, signal: Signal, event: AuditEvent): void {
    const { group, severity } = signal.detection;
    // The severity is part of the finding's id: a worse event of the same problem (a forced deletion after
    // a scheduled one) is a finding of its own, whichever arrives first; the shared group makes it one
    // incident. Findings of a day are one finding; a first sighting is one for ever.
    const day = signal.kind === "first-seen" ? "" : this.utcDay(event.timeMs);
    let groups = this.byRule.get(rule);
    if (!groups) {
      groups = new Map();
      this.byRule.set(rule, groups);
    }
    let candidates = groups.get(group);
    if (!candidates) {
      candidates = [];
      groups.set(group, candidates);
    }
    let item: Pending | undefined;
    for (const candidate of candidates) {
      if (candidate.signal.detection.severity === severity && candidate.day === day) {
        item = candidate;
        break;
      }
    }
    if (!item) {
      item = { rule, signal, day, events: [], members: new Map() };
      candidates.push(item);
      this.items.push(item);
    }
    item.events.push(event);
    if (signal.kind === "window") {
      // Two bucket series offset by half a window, so a burst straddling a bucket edge is still counted whole.
      const bucket = Math.floor(event.timeMs / signal.windowMs);
      const half = Math.floor((event.timeMs + signal.windowMs / 2) / signal.windowMs);
      const member = `${signal.member}`;
      const buckets = item.members.get(member);
      if (buckets) {
        buckets.key = signal.key;
        buckets.bucket = bucket;
        buckets.half = half;
      } else item.members.set(member, { key: signal.key, bucket, half });
    }
  }

  /** `YYYY-MM-DD` (UTC), remembered for the last day asked: a batch's events share a few days. */
  private utcDay(timeMs: number): string {
    const dayNumber = Math.floor(timeMs / DAY_MS);
    if (dayNumber !== this.dayNumber) {
      this.dayNumber = dayNumber;
      this.dayText = new Date(timeMs).toISOString().slice(0, 10);
    }
    return this.dayText;
  }
}

/** What deciding a pending finding comes to. */
type Decision = Finding | "suppressed" | undefined;

/**
 * The state keys deciding an item may write: its first sighting, its window buckets and its claim (asking
 * whether an event was the rotation's own only reads). Two items sharing one are decided in batch order.
 */
function stateKeysOf(item: Pending): string[] {
  const { rule, signal, day } = item;
  const header = signal.detection;
  const keys = [`claim\u0000${rule.id}\u0000${header.group}\u0000${header.severity}\u0000${day}`];
  if (signal.kind === "first-seen") keys.push(`seen\u0000${signal.key}`);
  else if (signal.kind === "window") {
    for (const { key, bucket, half } of item.members.values()) {
      keys.push(`window\u0000${rule.id}#${key}#${bucket}`, `window\u0000${rule.id}#${key}#h${half}`);
    }
  }
  return keys;
}

/** How scanChunks fits into a sequence of scans that overlap (the S3 path reads a file while the one before is judged). */
export interface ScanChunksOptions {
  /**
   * Nothing is judged before this settles (a rejection fails the scan before anything is judged): the
   * records are read, checked and normalised meanwhile, and batches are judged in the order of the scans.
   */
  after?: PromiseLike<unknown>;
  /** Called once every chunk has been read, before the last batch is judged. */
  onRead?: () => void;
}

/** Runs the rule catalogue over raw CloudTrail records (trail-file records, EventBridge details, LookupEvents strings). */
export function createScanner(deps: ScannerDependencies): {
  scan(records: Iterable<unknown> | AsyncIterable<unknown>): Promise<ScanResult>;
  /** As scan, over records that come in arrays (a trail reader's chunks): no await per record. */
  scanChunks(
    chunks: Iterable<readonly unknown[]> | AsyncIterable<readonly unknown[]>,
    options?: ScanChunksOptions,
  ): Promise<ScanResult>;
} {
  const { policy, state } = deps;
  const now = deps.now ?? (() => new Date());
  const rules = deps.rules ?? RULES;
  const rulesFor = ruleDispatch(rules);
  const batchSize = deps.batchSize ?? DEFAULT_BATCH;
  const concurrency = Math.max(1, Math.floor(deps.stateConcurrency ?? 1));
  const rotation = new RotationTracker(
    state,
    (event) => principalMatches(policy.rotationRoles, event.principal.id),
    concurrency,
  );
  const context = ruleContext(policy, (event, secretArn) => rotation.factsOf(event, secretArn));
  const sinceMs = deps.timeRange?.sinceMs ?? Number.NEGATIVE_INFINITY;
  const untilMs = deps.timeRange?.untilMs ?? Number.POSITIVE_INFINITY;
  const outside = (timeMs: number) => timeMs < sinceMs || timeMs >= untilMs;

  /**
   * Judges a batch: the events some rule subscribes to, plus `unjudged` events no rule reads (counted and
   * timed as judged, so learning and batches are the same as when every rule looked at every event).
   */
  async function judge(batch: AuditEvent[], unjudged: Unjudged, result: ScanResult): Promise<void> {
    if (batch.length === 0 && unjudged.count === 0) return;
    result.judged = (result.judged ?? 0) + batch.length + unjudged.count;
    const nowMs = now().getTime();
    let earliestInBatch = unjudged.earliestMs;
    for (const event of batch) if (event.timeMs < earliestInBatch) earliestInBatch = event.timeMs;
    const earliest = await state.noteEarliest(earliestInBatch);
    const learningEnd = earliest + policy.learningDays * DAY_MS;
    await rotation.observe(batch, learningEnd);
    const pending = evaluateBatch(batch, result.skipped);
    const decisions = await inKeyOrder(pending.items, stateKeysOf, concurrency, (item) =>
      decide(item, learningEnd, nowMs),
    );
    // In the order the pending findings were first seen, however they were decided.
    for (const finding of decisions) {
      if (finding === "suppressed") result.suppressed = (result.suppressed ?? 0) + 1;
      else if (finding) result.findings.push(finding);
    }
  }

  /** Runs each event's rules (synchronous, with plain loops: this is the scanner's innermost loop). */
  function evaluateBatch(batch: readonly AuditEvent[], skipped: Record<string, number>): PendingFindings {
    const pending = new PendingFindings();
    for (let e = 0; e < batch.length; e++) {
      const event = batch[e] as AuditEvent;
      const eventRules = rulesFor(event.service, event.eventName);
      for (let r = 0; r < eventRules.length; r++) {
        const rule = eventRules[r] as Rule;
        let signals: readonly Signal[];
        try {
          signals = rule.evaluate(event, context);
        } catch (error) {
          // A rule bug must not stop the scan; the record is counted under the rule's name.
          const reason = `rule ${rule.id} failed: ${error instanceof Error ? error.message : String(error)}`;
          skipped[reason] = (skipped[reason] ?? 0) + 1;
          continue;
        }
        for (let s = 0; s < signals.length; s++) pending.collect(rule, signals[s] as Signal, event);
      }
    }
    return pending;
  }

  async function decide(item: Pending, learningEnd: number, nowMs: number): Promise<Decision> {
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
      for (const [member, { key, bucket, half }] of item.members) {
        size = Math.max(
          size,
          await state.addDistinct(`window#${rule.id}#${key}#${bucket}`, member, expiresAt),
        );
        if (size >= signal.threshold) break;
        size = Math.max(
          size,
          await state.addDistinct(`window#${rule.id}#${key}#h${half}`, `${member}\u0000h`, expiresAt),
        );
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
    // Its text is about the first of the batch's events that raised it, as the rule's signal was.
    return toFinding(rule, id, detectionOf(signal, item.events[0] as AuditEvent), events, count, signal);
  }

  /** One scan's running batch and counters; records go in one at a time, batches are judged when full. */
  function startRun(after?: PromiseLike<unknown>) {
    const result: ScanResult = { findings: [], processed: 0, skipped: {} };
    let gate = after;
    let batch: AuditEvent[] = [];
    let unjudged: Unjudged = { count: 0, earliestMs: Number.POSITIVE_INFINITY };
    const inBatch = new Set<string>();
    return {
      result,
      /** Takes one raw record; true when the batch is full and must be judged before the next. */
      add(record: unknown): boolean {
        result.processed++;
        const checked = checkRecord(record);
        if (!checked.ok) {
          if (!checked.ignored) result.skipped[checked.reason] = (result.skipped[checked.reason] ?? 0) + 1;
          return false;
        }
        const { timeMs, eventId, service } = checked.checked;
        if (outside(timeMs)) {
          result.outOfRange = (result.outOfRange ?? 0) + 1;
          return false;
        }
        if (result.newestEventMs === undefined || timeMs > result.newestEventMs)
          result.newestEventMs = timeMs;
        // Duplicate deliveries inside a batch are dropped here; across batches the state makes them harmless.
        // (One lookup: the set grows when the id is new.)
        const distinct = inBatch.size;
        if (inBatch.add(eventId).size === distinct) return false;
        // The rotation tracker reads every Secrets Manager event; of the others, only those a rule judges
        // are built and kept.
        if (service === "secretsmanager" || rulesFor(service, checked.checked.eventName).length > 0) {
          batch.push(auditEventOf(checked.checked));
        } else {
          unjudged.count++;
          if (timeMs < unjudged.earliestMs) unjudged.earliestMs = timeMs;
        }
        return batch.length + unjudged.count >= batchSize;
      },
      async judgeBatch(): Promise<void> {
        if (gate) {
          const waitFor = gate;
          gate = undefined;
          await waitFor;
        }
        const full = batch;
        const quiet = unjudged;
        batch = [];
        unjudged = { count: 0, earliestMs: Number.POSITIVE_INFINITY };
        inBatch.clear();
        await judge(full, quiet, result);
      },
    };
  }

  return {
    async scan(records) {
      const run = startRun();
      for await (const record of records) if (run.add(record)) await run.judgeBatch();
      await run.judgeBatch();
      return run.result;
    },
    async scanChunks(chunks, options = {}) {
      const run = startRun(options.after);
      for await (const chunk of chunks) {
        for (const record of chunk) if (run.add(record)) await run.judgeBatch();
      }
      options.onRead?.();
      await run.judgeBatch();
      return run.result;
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
    // A long scan sees a bounded number of secrets; the cap only guards against a flood of made-up names.
    return secrets.get(secretArn) ?? remember(secrets, secretArn, secretPolicyFor(policy, secretArn));
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
