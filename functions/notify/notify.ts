import { randomUUID } from "node:crypto";
import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import { describeError, ValidationError } from "../../lib/errors.ts";
import type { FindingsQueueMessage } from "../../lib/finding.ts";
import {
  ABSENT_STATE,
  type AlertState,
  type AlertStateStore,
  decideGroup,
  type GroupDecision,
  groupMemory,
} from "./alert-state.ts";
import {
  type ChannelDependencies,
  type ChannelReport,
  createChannels,
  type DeliveryContext,
  type NotificationChannel,
} from "./channels/index.ts";
import { type AlertGroup, groupQueueItems, type QueueItem } from "./grouping.ts";
import { readQueueMessage } from "./input.ts";
import { isHttpUrl } from "./links.ts";
import { dedupKeyFor } from "./pagerduty-events.ts";

/** Everything the notifier talks to; the handler builds the real ones, tests pass mocks or the sandbox. */
export interface NotifierDependencies extends ChannelDependencies {
  /** The last state of each alert group, shared by every container (the state table). */
  readonly alertState: AlertStateStore;
  /** Where alerts go, in delivery order; `createChannels(deps)` unless a test passes its own. */
  readonly channels?: readonly NotificationChannel[];
}

/** What one batch did, for the log line and for benchmarks. */
export interface BatchReport {
  received: number;
  /** Messages refused alone: a body that is not a valid message, or one that cannot be rendered. */
  invalid: number;
  groups: number;
  /** HTTP requests made to PagerDuty, retries included. */
  pagerDutyRequests: number;
  /** Events PagerDuty accepted. */
  pagerDutyEvents: number;
  /** Trigger events PagerDuty accepted, and those not delivered (handed back to SQS or rejected). */
  pagesSent: number;
  pagesFailed: number;
  /** PagerDuty calls repeated after a 429, a 5xx or a network error. */
  pagerDutyRetries: number;
  /** Resolve events PagerDuty accepted. */
  resolves: number;
  snsMessages: number;
  /** Groups not paged or published again because they were within the repeat interval. */
  suppressed: number;
  /** Messages handed back to SQS. */
  failed: number;
  durationMs: number;
}

export interface BatchOutcome {
  readonly response: SQSBatchResponse;
  readonly report: BatchReport;
}

/**
 * Delivers one SQS batch: parses every message, groups findings by problem, hands each group to every
 * notification channel that takes it (PagerDuty, then SNS), and reports the messages to hand back to SQS:
 * those of groups whose delivery may still succeed later, and those whose body is invalid (so they reach
 * the DLQ after maxReceiveCount, where an operator can inspect and redrive them).
 */
export async function notifyBatch(
  records: readonly SQSRecord[],
  remainingTimeMs: number,
  deps: NotifierDependencies,
): Promise<BatchOutcome> {
  const { clock, config, logger } = deps;
  const started = clock.now();
  const lambdaDeadline = started + remainingTimeMs;
  const report: BatchReport = {
    received: records.length,
    invalid: 0,
    groups: 0,
    pagerDutyRequests: 0,
    pagerDutyEvents: 0,
    pagesSent: 0,
    pagesFailed: 0,
    pagerDutyRetries: 0,
    resolves: 0,
    snsMessages: 0,
    suppressed: 0,
    failed: 0,
    durationMs: 0,
  };
  const failed = new Set<string>();

  const items: QueueItem[] = [];
  for (const record of records) {
    try {
      items.push({
        messageId: record.messageId,
        message: withRunbookLink(readQueueMessage(record.body), config.runbookBaseUrl),
      });
    } catch (error) {
      report.invalid += 1;
      failed.add(record.messageId);
      logger.error(
        "Invalid message on the findings queue: returned to SQS, it goes to the DLQ after maxReceiveCount",
        {
          messageId: record.messageId,
          receiveCount: record.attributes?.ApproximateReceiveCount,
          problem: describeError(error),
          issues: error instanceof ValidationError ? error.issues : undefined,
          bodyBytes: Buffer.byteLength(record.body ?? ""),
        },
      );
    }
  }

  const itemsById = new Map(items.map((item) => [item.messageId, item]));
  const groups = groupQueueItems(items);
  report.groups = groups.length;

  const channels = deps.channels ?? createChannels(deps);

  // Who holds a group's lease while this invocation delivers it.
  const owner = randomUUID();

  /** Reads the group's state and claims it for this delivery (retrying when another writer got in first). */
  const claimGroup = async (group: AlertGroup): Promise<GroupDecision> => {
    for (let attempt = 0; ; attempt++) {
      const previous = await deps.alertState.read(group.groupKey);
      const decision = decideGroup(group, previous, { owner, until: lambdaDeadline, now: clock.now() });
      if (decision.kind !== "deliver") return decision;
      if (await deps.alertState.write(group.groupKey, decision.claim, previous?.version)) return decision;
      // Others keep writing the group: let SQS bring the messages back later.
      if (attempt === 2) return { kind: "busy", state: previous ?? ABSENT_STATE };
    }
  };

  /** Delivers one group through every channel that takes it; false when its messages must go back to SQS. */
  const deliverGroup = async (group: AlertGroup): Promise<boolean> => {
    const dedupKey = dedupKeyFor(group.groupKey);
    const logContext = { groupKey: group.groupKey, dedupKey, state: group.state, severity: group.severity };
    let decision: GroupDecision;
    try {
      decision = await claimGroup(group);
    } catch (error) {
      logger.error("Alert state unavailable; the messages go back to SQS", { ...logContext, error });
      return false;
    }
    if (decision.kind !== "deliver") return skipGroup(group, decision, logContext);

    const memory = groupMemory(decision.claim.sent, config.repeatIntervalMs);
    const earlier: ChannelReport[] = [];
    let delivered = false;
    try {
      for (const channel of channels) {
        if (!channel.takes(group, earlier)) continue;
        const context: DeliveryContext = {
          deadline: lambdaDeadline,
          report,
          earlier: [...earlier],
          logContext,
          recent: memory,
          clears: decision.clears,
        };
        const outcome =
          group.state === "firing"
            ? await channel.deliver(group, context)
            : await channel.resolve(group, context);
        earlier.push({ channel: channel.name, outcome });
      }
      delivered = earlier.every((entry) => entry.outcome.delivered);
    } finally {
      await settleGroup(group, decision, delivered, memory.entries(clock.now()), logContext);
    }
    const suppressed = earlier.some((entry) => entry.outcome.suppressed);
    if (suppressed) report.suppressed += 1;
    logger.info(delivered ? "Group delivered" : "Group not delivered", {
      ...logContext,
      count: group.count,
      messages: group.messageIds.length,
      channels: Object.fromEntries(earlier.map((entry) => [entry.channel, entry.outcome.note ?? "sent"])),
      suppressed,
    });
    return delivered;
  };

  /**
   * Releases the group's lease and records what was sent. A delivery that did not complete puts the previous
   * status back, so the redelivery is judged exactly as this attempt was (a resolve still clears).
   */
  const settleGroup = async (
    group: AlertGroup,
    decision: Extract<GroupDecision, { kind: "deliver" }>,
    delivered: boolean,
    sent: AlertState["sent"],
    logContext: Record<string, unknown>,
  ): Promise<void> => {
    const { claim, previous } = decision;
    const base = delivered ? claim : (previous ?? ABSENT_STATE);
    const settled: AlertState = {
      status: base.status,
      at: base.at,
      severity: base.severity,
      version: claim.version + 1,
      sent,
    };
    try {
      if (!(await deps.alertState.write(group.groupKey, settled, claim.version))) {
        logger.warn("Alert state changed while this invocation held its lease; left as it is", logContext);
      }
    } catch (error) {
      // The lease then runs out by itself at this invocation's deadline.
      logger.error("Alert state could not be settled", { ...logContext, error });
    }
  };

  /** Logs why a group sends nothing; true when its messages are done with, false to hand them back. */
  const skipGroup = (
    group: AlertGroup,
    decision: Exclude<GroupDecision, { kind: "deliver" }>,
    logContext: Record<string, unknown>,
  ): boolean => {
    const fields = {
      ...logContext,
      messages: group.messageIds.length,
      latestAt: new Date(group.latestAt).toISOString(),
      stored: decision.state && {
        status: decision.state.status,
        at: new Date(decision.state.at).toISOString(),
      },
    };
    if (decision.kind === "busy") {
      logger.info("Group being delivered by another invocation; the messages go back to SQS", fields);
      return false;
    }
    if (decision.kind === "stale") {
      logger.info("Messages older than the group's last state: nothing sent", fields);
    } else {
      logger.warn("Resolve for a group that is not firing: dropped, nothing sent", fields);
    }
    return true;
  };

  /** Delivers a group, or the part of it that can be rendered; returns the message ids to hand back. */
  const deliverIsolated = async (group: AlertGroup): Promise<readonly string[]> => {
    try {
      return (await deliverGroup(group)) ? [] : group.messageIds;
    } catch (error) {
      logger.error("Unexpected error delivering a group; checking its messages one by one", {
        groupKey: group.groupKey,
        error,
      });
    }
    // One message that breaks rendering must not hold back the others of its problem: find it, fail it
    // alone (it reaches the DLQ after maxReceiveCount) and deliver the rest once more.
    const renderable: QueueItem[] = [];
    const refused: string[] = [];
    for (const messageId of group.messageIds) {
      const item = itemsById.get(messageId) as QueueItem;
      try {
        const [alone] = groupQueueItems([item]);
        for (const channel of channels) if (alone) channel.render(alone);
        renderable.push(item);
      } catch (error) {
        refused.push(messageId);
        logger.error(
          "Message cannot be rendered: returned to SQS, it goes to the DLQ after maxReceiveCount",
          { messageId, groupKey: group.groupKey, problem: describeError(error) },
        );
      }
    }
    report.invalid += refused.length;
    const [rest] = groupQueueItems(renderable);
    if (refused.length === 0 || !rest) return group.messageIds;
    try {
      return (await deliverGroup(rest)) ? refused : group.messageIds;
    } catch (error) {
      logger.error("Unexpected error delivering a group; the messages go back to SQS", {
        groupKey: group.groupKey,
        error,
      });
      return group.messageIds;
    }
  };

  await forEachWithConcurrency(groups, config.concurrency, async (group) => {
    for (const messageId of await deliverIsolated(group)) failed.add(messageId);
  });

  report.failed = failed.size;
  report.durationMs = clock.now() - started;
  logger.info("Batch done", { ...report });
  return {
    response: { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) },
    report,
  };
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function forEachWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Findings name runbooks as repository paths (`docs/rotation.md#...`); with RUNBOOK_BASE_URL set they
 * become links a responder can open from the page.
 */
export function withRunbookLink(
  message: FindingsQueueMessage,
  base: string | undefined,
): FindingsQueueMessage {
  if (
    !base ||
    !("runbook" in message) ||
    isHttpUrl(message.runbook) ||
    !/^[\w./-]+(#[\w-]+)?$/.test(message.runbook)
  ) {
    return message;
  }
  return { ...message, runbook: new URL(message.runbook, base.endsWith("/") ? base : `${base}/`).href };
}
