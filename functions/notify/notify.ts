import type { SNSClient } from "@aws-sdk/client-sns";
import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import { describeError, ValidationError } from "../../lib/errors.ts";
import type { FindingsQueueMessage } from "../../lib/finding.ts";
import type { Logger } from "../../lib/logger.ts";
import type { NotifierConfig } from "./config.ts";
import { DeliveryUnavailableError, PagerDutyRejectedError } from "./errors.ts";
import { type AlertGroup, groupQueueItems, type QueueItem } from "./grouping.ts";
import { readQueueMessage } from "./input.ts";
import { isHttpUrl } from "./links.ts";
import { type Clock, postPagerDutyEvent } from "./pagerduty-client.ts";
import {
  buildChangeEvent,
  buildResolveEvent,
  buildTriggerEvent,
  dedupKeyFor,
  withRoutingKey,
} from "./pagerduty-events.ts";
import type { RecentNotifications } from "./recent.ts";
import { type PagerDutyService, routeGroup } from "./routing.ts";
import type { RoutingKeySource } from "./routing-key.ts";
import {
  buildFindingNotification,
  buildRotationNotification,
  envelope,
  publishNotification,
  type SnsNotification,
} from "./sns.ts";

/** Everything the notifier talks to; the handler builds the real ones, tests pass mocks or the sandbox. */
export interface NotifierDependencies {
  readonly config: NotifierConfig;
  readonly sns: SNSClient;
  readonly routingKeys: {
    readonly primary: RoutingKeySource;
    readonly lowUrgency?: RoutingKeySource | undefined;
  };
  readonly fetch: typeof fetch;
  readonly clock: Clock;
  readonly logger: Logger;
  /** What this container sent recently (see NOTIFY_REPEAT_INTERVAL_SECONDS). */
  readonly recent: RecentNotifications;
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

// SNS gets what is left after PagerDuty's share of the deadline, less this, to return in time.
const RESPONSE_MARGIN_MS = 1_000;

const SERVICE_LABEL: Record<PagerDutyService, string> = {
  primary: "paging",
  lowUrgency: "low-urgency",
};

type PagerDutyOutcome = { ok: true } | { ok: false; retryable: boolean; reason: string };

/**
 * Delivers one SQS batch: parses every message, groups findings by problem, sends one PagerDuty event per
 * group (trigger, resolve or change) and the SNS messages, and reports the messages to hand back to SQS:
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
  const pagerDutyDeadline = lambdaDeadline - config.retry.deadlineMarginMs;
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

  // Counts every HTTP request to PagerDuty, retries included.
  const countingFetch: typeof fetch = (input, init) => {
    report.pagerDutyRequests += 1;
    return deps.fetch(input, init);
  };

  const sendToPagerDuty = async (
    service: PagerDutyService,
    url: string,
    body: object,
    context: Record<string, unknown>,
  ): Promise<PagerDutyOutcome> => {
    const source = service === "primary" ? deps.routingKeys.primary : deps.routingKeys.lowUrgency;
    try {
      if (!source) throw new Error(`no routing key configured for the ${SERVICE_LABEL[service]} service`);
      // Reading the key counts against PagerDuty's share of the deadline, like the calls themselves.
      const routingKey = await source.get(AbortSignal.timeout(Math.max(1, pagerDutyDeadline - clock.now())));
      const result = await postPagerDutyEvent(url, withRoutingKey(body, routingKey), {
        fetch: countingFetch,
        clock,
        retry: config.retry,
        deadline: pagerDutyDeadline,
        onRetry: ({ attempt, delayMs, reason }) => {
          report.pagerDutyRetries += 1;
          logger.warn("PagerDuty call failed, retrying", { ...context, attempt, delayMs, reason });
        },
      });
      report.pagerDutyEvents += 1;
      logger.debug("PagerDuty accepted the event", { ...context, attempts: result.attempts });
      return { ok: true };
    } catch (error) {
      if (error instanceof PagerDutyRejectedError) {
        logger.error("PagerDuty rejected the event; not retried", {
          ...context,
          status: error.status,
          responseBody: error.responseBody,
        });
        return { ok: false, retryable: false, reason: `rejected by PagerDuty (HTTP ${error.status})` };
      }
      logger.error("PagerDuty delivery failed; the messages go back to SQS", {
        ...context,
        error: describeError(error),
        attempts: error instanceof DeliveryUnavailableError ? error.attempts : undefined,
        cause: error instanceof Error && error.cause ? describeError(error.cause) : undefined,
      });
      return { ok: false, retryable: true, reason: describeError(error) };
    }
  };

  const publish = async (
    notification: SnsNotification,
    context: Record<string, unknown>,
  ): Promise<boolean> => {
    const remaining = lambdaDeadline - RESPONSE_MARGIN_MS - clock.now();
    try {
      if (remaining <= 0) throw new Error("no time left before the invocation's deadline");
      await publishNotification(
        deps.sns,
        config.alertsTopicArn,
        notification,
        AbortSignal.timeout(remaining),
      );
      report.snsMessages += 1;
      return true;
    } catch (error) {
      logger.error("SNS publish failed; the messages go back to SQS", {
        ...context,
        error: describeError(error),
      });
      return false;
    }
  };

  /** Delivers one group; false when its messages must go back to SQS. */
  const deliverGroup = async (group: AlertGroup): Promise<boolean> => {
    const route = routeGroup(group, config.routing, deps.routingKeys.lowUrgency !== undefined);
    const dedupKey = dedupKeyFor(group.groupKey);
    const context = { groupKey: group.groupKey, dedupKey, state: group.state, severity: group.severity };
    let delivered = true;
    const note = (outcome: PagerDutyOutcome, success: string): string => {
      if (outcome.ok) return success;
      if (outcome.retryable) delivered = false;
      return outcome.retryable
        ? `not delivered yet (${outcome.reason}); the notifier retries`
        : `NOT DELIVERED: ${outcome.reason}; see the notifier's log`;
    };

    for (const rotation of group.rotations) {
      // Change events have no dedup_key: a redelivery (say, after SNS failed) must not record a second one.
      const rotationKey = dedupKeyFor(`secret.rotated\u0000${rotation.secretArn}\u0000${rotation.versionId}`);
      let pagerDuty = "change event recorded (it does not page)";
      if (!deps.recent.isRecent("pagerduty", rotationKey, "info", clock.now())) {
        const outcome = await sendToPagerDuty(
          "primary",
          config.pagerDutyChangeEventsUrl,
          buildChangeEvent(rotation),
          {
            ...context,
            event: "change",
            secretArn: rotation.secretArn,
            versionId: rotation.versionId,
          },
        );
        pagerDuty = note(outcome, pagerDuty);
        if (outcome.ok) deps.recent.remember("pagerduty", rotationKey, "info", clock.now());
      }
      if (route.rotationsToSns && !deps.recent.isRecent("sns", rotationKey, "info", clock.now())) {
        const published = await publish(buildRotationNotification(rotation, pagerDuty), {
          ...context,
          versionId: rotation.versionId,
        });
        if (published) deps.recent.remember("sns", rotationKey, "info", clock.now());
        delivered &&= published;
      }
    }

    let findingNote = `not paged (severity ${group.severity} is routed to SNS only)`;
    let forceSns = false;
    const resolveNotes: string[] = [];
    for (const service of route.resolve) {
      const outcome = await sendToPagerDuty(
        service,
        config.pagerDutyEventsUrl,
        buildResolveEvent(group.groupKey),
        {
          ...context,
          event: "resolve",
          pagerDutyService: service,
        },
      );
      resolveNotes.push(note(outcome, `resolved (dedup key ${dedupKey})`));
      if (outcome.ok) report.resolves += 1;
    }
    if (route.resolve.length > 0) deps.recent.forget(dedupKey);
    // One failed resolve is what a reader must see, even if another service took it.
    findingNote = resolveNotes.find((text) => !text.startsWith("resolved")) ?? resolveNotes[0] ?? findingNote;

    const repeatMinutes = Math.round(config.repeatIntervalMs / 60_000);
    let suppressed = false;
    if (route.trigger && deps.recent.isRecent("pagerduty", dedupKey, group.severity, clock.now())) {
      findingNote = `already triggered within the last ${repeatMinutes} min (dedup key ${dedupKey})`;
      suppressed = true;
    } else if (route.trigger) {
      const outcome = await sendToPagerDuty(
        route.trigger,
        config.pagerDutyEventsUrl,
        buildTriggerEvent(group),
        {
          ...context,
          event: "trigger",
          pagerDutyService: route.trigger,
          count: group.count,
        },
      );
      findingNote = note(
        outcome,
        `alert triggered on the ${SERVICE_LABEL[route.trigger]} service (dedup key ${dedupKey})`,
      );
      if (outcome.ok) deps.recent.remember("pagerduty", dedupKey, group.severity, clock.now());
      report[outcome.ok ? "pagesSent" : "pagesFailed"] += 1;
      // A page PagerDuty refused must still reach a human: SNS gets it whatever the routing says.
      forceSns = !outcome.ok && !outcome.retryable;
    }

    const firing = group.state === "firing";
    if ((route.findingToSns || forceSns) && group.latest) {
      if (!forceSns && firing && deps.recent.isRecent("sns", dedupKey, group.severity, clock.now())) {
        suppressed = true;
      } else {
        const published = await publish(buildFindingNotification(group, findingNote), context);
        if (published && firing) deps.recent.remember("sns", dedupKey, group.severity, clock.now());
        delivered &&= published;
      }
    }
    if (suppressed) report.suppressed += 1;
    logger.info(delivered ? "Group delivered" : "Group not delivered", {
      ...context,
      count: group.count,
      messages: group.messageIds.length,
      pagerDuty: findingNote,
      suppressed,
    });
    return delivered;
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
        renderAlone(item);
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

/** Builds, as for a group of its own, everything that could be sent for one message; throws if it cannot. */
function renderAlone(item: QueueItem): void {
  const [group] = groupQueueItems([item]);
  if (!group) return;
  for (const rotation of group.rotations) {
    JSON.stringify(buildChangeEvent(rotation));
    envelope(buildRotationNotification(rotation, ""));
  }
  if (group.latest) {
    if (group.state === "firing") JSON.stringify(buildTriggerEvent(group));
    envelope(buildFindingNotification(group, ""));
  }
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
