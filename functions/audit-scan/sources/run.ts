import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describeError } from "../../../lib/errors.ts";
import type { Finding } from "../../../lib/finding.ts";
import type { Logger } from "../../../lib/logger.ts";
import type { ScanSource, VigilMetrics } from "../../../lib/metrics.ts";
import { type ComplianceState, listSecrets, policyExpectations, runComplianceSweep } from "../compliance.ts";
import type { ScanChunksOptions, ScanResult } from "../engine.ts";
import type { Policy } from "../policy.ts";
import { mayBeScanned } from "../prefilter.ts";
import type { ScanState } from "../state.ts";
import type { TrailReadStats } from "../trail-file.ts";
import { ScanSourceError, UnknownScanEventError } from "./errors.ts";
import { runLookupSweep, type SweepStore } from "./lookup.ts";
import {
  type OpenedTrailObject,
  openTrailObjectsAhead,
  readOpenedTrailObject,
  type TrailObjectRef,
  trailKeyInfo,
  trailObjectsOf,
} from "./s3.ts";

/**
 * The EventBridge detail types carrying a CloudTrail record. Service events (RotationStarted, RotationFailed,
 * ...) are what let the scanner recognise a rotation's own calls without `rotationRoles`.
 */
export const CLOUDTRAIL_DETAIL_TYPES = [
  "AWS API Call via CloudTrail",
  "AWS Service Event via CloudTrail",
] as const;

/** The scheduled tasks (EventBridge rules whose Input names one). */
export const SCAN_TASKS = ["lookup-sweep", "compliance-sweep"] as const;
export type ScanTask = (typeof SCAN_TASKS)[number];

/** Everything one invocation needs; the handler builds it once per container. */
export interface ScanRunDependencies {
  regions: readonly string[];
  overlapMs: number;
  requestsPerSecond: number;
  policy: Policy;
  scanner: {
    scan(records: Iterable<unknown> | AsyncIterable<unknown>): Promise<ScanResult>;
    scanChunks(chunks: AsyncIterable<readonly unknown[]>, options?: ScanChunksOptions): Promise<ScanResult>;
  };
  state: ScanState & SweepStore & ComplianceState;
  cloudTrail: (region: string) => CloudTrailClient;
  s3: S3Client;
  secretsManager: SecretsManagerClient;
  publish: (findings: readonly Finding[]) => Promise<number>;
  metrics: Pick<VigilMetrics, "count" | "record">;
  logger: Pick<Logger, "info" | "warn" | "error">;
  remainingMs: () => number;
  /** This invocation's id (the holder of the sweep leases). */
  holder: string;
  now?: () => Date;
}

/** What the handler returns: SQS partial-batch failures when the event came through a queue. */
export interface ScanRunResponse {
  kind: ScanTask | "s3" | "eventbridge";
  findings: number;
  batchItemFailures?: { itemIdentifier: string }[];
}

type ScanEventShape =
  | { kind: ScanTask }
  | { kind: "s3"; objects: TrailObjectRef[]; viaQueue: boolean; ignored: number }
  | { kind: "eventbridge"; record: unknown };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Recognises the event: a scheduled task, S3 notifications (any wrapping), or a CloudTrail API call or service event. */
export function classifyScanEvent(event: unknown): ScanEventShape {
  if (isRecord(event)) {
    // A rule's constant Input arrives as the whole event; a scheduled event carries it in detail.
    const task = event.task ?? (isRecord(event.detail) ? event.detail.task : undefined);
    if (typeof task === "string") {
      if ((SCAN_TASKS as readonly string[]).includes(task)) return { kind: task as ScanTask };
      throw new UnknownScanEventError(`unknown task "${task}" (expected one of: ${SCAN_TASKS.join(", ")})`);
    }
    const detailType = event["detail-type"];
    if (
      typeof detailType === "string" &&
      (CLOUDTRAIL_DETAIL_TYPES as readonly string[]).includes(detailType)
    ) {
      if (!isRecord(event.detail)) throw new UnknownScanEventError(`"${detailType}" event without a detail`);
      return { kind: "eventbridge", record: event.detail };
    }
    const s3 = trailObjectsOf(event);
    if (s3) {
      const first = Array.isArray(event.Records) ? event.Records[0] : undefined;
      return {
        kind: "s3",
        objects: s3.objects,
        viaQueue: isRecord(first) && first.eventSource === "aws:sqs",
        ignored: s3.ignored,
      };
    }
  }
  throw new UnknownScanEventError(
    'unrecognised event: expected {"task": "lookup-sweep" | "compliance-sweep"}, an S3 ObjectCreated notification (direct, SQS or SNS-in-SQS) or an "AWS API Call via CloudTrail" / "AWS Service Event via CloudTrail" event',
  );
}

/** Runs one invocation of the audit-scan function: dispatches on the event's shape. */
export async function runScanEvent(event: unknown, deps: ScanRunDependencies): Promise<ScanRunResponse> {
  const shape = classifyScanEvent(event);
  switch (shape.kind) {
    case "lookup-sweep":
      return { kind: shape.kind, findings: await lookupSweep(deps) };
    case "compliance-sweep":
      return { kind: shape.kind, findings: await complianceSweep(deps) };
    case "eventbridge": {
      const result = await scanAndPublish([shape.record], "eventbridge", deps);
      return { kind: shape.kind, findings: result.findings.length };
    }
    case "s3":
      return trailFiles(shape.objects, shape.viaQueue, shape.ignored, deps);
  }
}

/** Scans records, publishes the findings, and counts what happened. */
async function scanAndPublish(
  records: Iterable<unknown> | AsyncIterable<unknown>,
  source: ScanSource,
  deps: ScanRunDependencies,
): Promise<ScanResult> {
  const result = await deps.scanner.scan(records);
  await deps.publish(result.findings);
  countScan(result, source, deps);
  return result;
}

function countScan(result: ScanResult, source: ScanSource, deps: ScanRunDependencies): void {
  deps.metrics.count("EventsProcessed", { Source: source }, result.processed);
  const skipped = Object.values(result.skipped).reduce((total, count) => total + count, 0);
  if (skipped > 0) {
    deps.metrics.count("RecordsSkipped", { Source: source }, skipped);
    deps.logger.warn("Skipped malformed records", { source, skipped: result.skipped });
  }
  countFindings(result.findings, deps);
}

function countFindings(findings: readonly Finding[], deps: ScanRunDependencies): void {
  for (const finding of findings)
    deps.metrics.count("Findings", { Rule: finding.rule, Severity: finding.severity });
}

function nowMs(deps: ScanRunDependencies): number {
  return (deps.now?.() ?? new Date()).getTime();
}

async function lookupSweep(deps: ScanRunDependencies): Promise<number> {
  let findings = 0;
  const result = await runLookupSweep(
    { regions: deps.regions, overlapMs: deps.overlapMs, requestsPerSecond: deps.requestsPerSecond },
    {
      cloudTrail: deps.cloudTrail,
      store: deps.state,
      remainingMs: deps.remainingMs,
      holder: deps.holder,
      process: async (batch) => {
        const scanned = await scanAndPublish(batch.records, "lookup", deps);
        findings += scanned.findings.length;
      },
      onThrottle: () => deps.metrics.count("LookupThrottles", {}),
      onSkipped: (reason, region) => {
        deps.metrics.count("RecordsSkipped", { Source: "lookup" });
        deps.logger.warn("Skipped a LookupEvents event", { region, reason });
      },
    },
  );
  // A source that has never finished a window has no checkpoint yet: its lag is unknown, not 56 years.
  const checkpoints = result.sources.flatMap((source) =>
    source.processedUntilMs === undefined ? [] : [source.processedUntilMs],
  );
  if (checkpoints.length > 0) {
    deps.metrics.record(
      "ScannerLagSeconds",
      { Source: "lookup" },
      (nowMs(deps) - Math.min(...checkpoints)) / 1000,
    );
  }
  const failed = result.sources.filter((source) => source.error !== undefined);
  deps.logger.info("LookupEvents sweep finished", {
    requests: result.requests,
    throttles: result.throttles,
    busyRegions: result.busyRegions,
    sources: result.sources,
  });
  if (failed.length > 0) {
    // Every other source kept its progress; failing the invocation makes the problem visible (Errors alarm).
    throw new ScanSourceError(failed.map((source) => source.error).join("; "));
  }
  return findings;
}

async function complianceSweep(deps: ScanRunDependencies): Promise<number> {
  const now = new Date(nowMs(deps));
  const secrets = await listSecrets(deps.secretsManager);
  const open = await deps.state.openComplianceGroups();
  const result = await runComplianceSweep(secrets, open, {
    now,
    expectationFor: policyExpectations(deps.policy),
    // The first sweep that saw the pending version dates it (the state table remembers).
    pendingSince: async (arn, versionId) =>
      new Date((await deps.state.recordSeen(`pending#${arn}#${versionId}`, now.getTime())) ?? now.getTime()),
  });
  await deps.publish(result.findings);
  await deps.state.updateComplianceGroups(result.opened, result.closed);
  countFindings(result.findings, deps);
  deps.logger.info("Compliance sweep finished", {
    secrets: result.secrets,
    opened: result.opened.length,
    resolved: result.closed.length,
  });
  return result.findings.length;
}

async function trailFiles(
  objects: readonly TrailObjectRef[],
  viaQueue: boolean,
  ignored: number,
  deps: ScanRunDependencies,
): Promise<ScanRunResponse> {
  const failures = new Set<string>();
  let findings = 0;
  let newestEventMs: number | undefined;
  /** A file whose failure fails the whole invocation (no queue to retry its message alone). */
  let fatal: { error: unknown } | undefined;
  const failed = (object: TrailObjectRef) => object.messageId !== undefined && failures.has(object.messageId);

  /**
   * One file: read and normalised at once, judged, published, counted and logged only once the file
   * before it is done (`before` never rejects), so state, findings and logs come in the batch's order.
   */
  const scanFile = async (opened: OpenedTrailObject, before: Promise<void>, onRead: () => void) => {
    const object = opened.ref;
    const stats: TrailReadStats = { elements: 0, ignored: 0 };
    const inTurn = before.then(() => {
      if (fatal) throw fatal.error;
    });
    // Not awaited when reading fails first; the failure below waits for `before` itself.
    inTurn.catch(() => {});
    try {
      if (!opened.ok) throw opened.error;
      const source = `s3://${object.bucket}/${object.key}`;
      // A chunk of records per await, other services' records skipped unparsed (as `vigil scan` reads).
      const result = await deps.scanner.scanChunks(
        readOpenedTrailObject(opened, { relevant: mayBeScanned, stats, source }),
        { after: inTurn, onRead },
      );
      await deps.publish(result.findings);
      // Every record of the file counts as processed, also those of other services skipped unparsed.
      countScan({ ...result, processed: stats.elements }, "s3", deps);
      findings += result.findings.length;
      if (result.newestEventMs !== undefined)
        newestEventMs = Math.max(newestEventMs ?? 0, result.newestEventMs);
      deps.logger.info("Scanned a trail file", {
        bucket: object.bucket,
        key: object.key,
        account: trailKeyInfo(object.key)?.account,
        records: stats.elements,
        findings: result.findings.length,
      });
    } catch (error) {
      await before;
      // A file before this one failed the invocation: this one counts as never scanned.
      if (fatal) return;
      deps.logger.error("Could not scan a trail file", {
        bucket: object.bucket,
        key: object.key,
        records: stats.elements,
        error: describeError(error),
      });
      // Without a queue there is no partial retry: the invocation fails and S3's retry delivers again.
      if (!viaQueue || !object.messageId) fatal = { error };
      else failures.add(object.messageId);
    }
  };

  // While a file's batch is judged (DynamoDB round trips, publishing), the next file is read and its records
  // normalised: at most two files' events are held, and judging still goes one file after another.
  let previous: Promise<void> = Promise.resolve();
  let beforePrevious: Promise<void> = Promise.resolve();
  try {
    for await (const opened of openTrailObjectsAhead(deps.s3, objects, failed)) {
      await beforePrevious;
      if (fatal) break;
      let read: () => void = () => {};
      const wasRead = new Promise<void>((resolve) => {
        read = resolve;
      });
      const scanned = scanFile(opened, previous, read);
      beforePrevious = previous;
      previous = scanned;
      await Promise.race([wasRead, scanned]);
      // The next file of the same message waits for this one's outcome: a failed message's files are skipped.
      const next = objects[objects.indexOf(opened.ref) + 1];
      if (opened.ref.messageId !== undefined && next?.messageId === opened.ref.messageId) await scanned;
      if (fatal) break;
    }
  } finally {
    // Nothing of this invocation's goes on after it returns.
    await previous;
  }
  if (fatal) throw fatal.error;
  if (newestEventMs !== undefined) {
    deps.metrics.record("ScannerLagSeconds", { Source: "s3" }, (nowMs(deps) - newestEventMs) / 1000);
  }
  if (ignored > 0) deps.logger.info("Ignored notifications that name no CloudTrail log file", { ignored });
  return {
    kind: "s3",
    findings,
    ...(viaQueue ? { batchItemFailures: [...failures].map((itemIdentifier) => ({ itemIdentifier })) } : {}),
  };
}
