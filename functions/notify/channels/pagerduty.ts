/** The PagerDuty channel: Events API v2 triggers and resolves per group, change events for rotations. */
import { describeError } from "../../../lib/errors.ts";
import type { Logger } from "../../../lib/logger.ts";
import type { NotifierConfig } from "../config.ts";
import { DeliveryUnavailableError, PagerDutyRejectedError } from "../errors.ts";
import type { AlertGroup } from "../grouping.ts";
import { type Clock, postPagerDutyEvent } from "../pagerduty-client.ts";
import {
  buildChangeEvent,
  buildResolveEvent,
  buildTriggerEvent,
  dedupKeyFor,
  withRoutingKey,
} from "../pagerduty-events.ts";
import { type PagerDutyService, routeGroup } from "../routing.ts";
import type { RoutingKeySource } from "../routing-key.ts";
import type { ChannelOutcome, DeliveryContext, NotificationChannel } from "./channel.ts";
import { rotationKey } from "./channel.ts";

export const PAGERDUTY_CHANNEL = "pagerduty";

/** What the PagerDuty channel talks to. */
export interface PagerDutyChannelDependencies {
  readonly config: NotifierConfig;
  readonly routingKeys: {
    readonly primary: RoutingKeySource;
    readonly lowUrgency?: RoutingKeySource | undefined;
  };
  readonly fetch: typeof fetch;
  readonly clock: Clock;
  readonly logger: Logger;
}

const SERVICE_LABEL: Record<PagerDutyService, string> = {
  primary: "paging",
  lowUrgency: "low-urgency",
};

type SendOutcome = { ok: true } | { ok: false; retryable: boolean; reason: string };

/** PagerDuty as a notification channel. */
export function createPagerDutyChannel(deps: PagerDutyChannelDependencies): NotificationChannel {
  const { clock, config, logger, routingKeys } = deps;
  const hasLowUrgency = routingKeys.lowUrgency !== undefined;
  const route = (group: AlertGroup) => routeGroup(group, config.routing, hasLowUrgency);

  const send = async (
    service: PagerDutyService,
    url: string,
    body: object,
    context: DeliveryContext,
    logFields: Record<string, unknown>,
  ): Promise<SendOutcome> => {
    const { report } = context;
    const fields = { ...context.logContext, ...logFields };
    const deadline = context.deadline - config.retry.deadlineMarginMs;
    const source = service === "primary" ? routingKeys.primary : routingKeys.lowUrgency;
    try {
      if (!source) throw new Error(`no routing key configured for the ${SERVICE_LABEL[service]} service`);
      // Reading the key counts against PagerDuty's share of the deadline, like the calls themselves.
      const routingKey = await source.get(AbortSignal.timeout(Math.max(1, deadline - clock.now())));
      const result = await postPagerDutyEvent(url, withRoutingKey(body, routingKey), {
        // Counts every HTTP request to PagerDuty, retries included.
        fetch: (input, init) => {
          report.pagerDutyRequests += 1;
          return deps.fetch(input, init);
        },
        clock,
        retry: config.retry,
        deadline,
        onRetry: ({ attempt, delayMs, reason }) => {
          report.pagerDutyRetries += 1;
          logger.warn("PagerDuty call failed, retrying", { ...fields, attempt, delayMs, reason });
        },
      });
      report.pagerDutyEvents += 1;
      logger.debug("PagerDuty accepted the event", { ...fields, attempts: result.attempts });
      return { ok: true };
    } catch (error) {
      if (error instanceof PagerDutyRejectedError) {
        logger.error("PagerDuty rejected the event; not retried", {
          ...fields,
          status: error.status,
          responseBody: error.responseBody,
        });
        return { ok: false, retryable: false, reason: `rejected by PagerDuty (HTTP ${error.status})` };
      }
      logger.error("PagerDuty delivery failed; the messages go back to SQS", {
        ...fields,
        error: describeError(error),
        attempts: error instanceof DeliveryUnavailableError ? error.attempts : undefined,
        cause: error instanceof Error && error.cause ? describeError(error.cause) : undefined,
      });
      return { ok: false, retryable: true, reason: describeError(error) };
    }
  };

  /** Words for an outcome; a retryable failure makes the group undelivered. */
  const describe = (outcome: SendOutcome, success: string, state: { delivered: boolean }): string => {
    if (outcome.ok) return success;
    if (outcome.retryable) state.delivered = false;
    return outcome.retryable
      ? `not delivered yet (${outcome.reason}); the notifier retries`
      : `NOT DELIVERED: ${outcome.reason}; see the notifier's log`;
  };

  /** Records one change event per rotation; a redelivery records none again. */
  const announceRotations = async (
    group: AlertGroup,
    context: DeliveryContext,
    state: { delivered: boolean },
  ): Promise<Map<string, string>> => {
    const notes = new Map<string, string>();
    for (const rotation of group.rotations) {
      const key = rotationKey(rotation);
      let note = "change event recorded (it does not page)";
      if (!context.recent.isRecent(PAGERDUTY_CHANNEL, key, "info", clock.now())) {
        const outcome = await send(
          "primary",
          config.pagerDutyChangeEventsUrl,
          buildChangeEvent(rotation),
          context,
          { event: "change", secretArn: rotation.secretArn, versionId: rotation.versionId },
        );
        note = describe(outcome, note, state);
        if (outcome.ok) context.recent.remember(PAGERDUTY_CHANNEL, key, "info", clock.now());
      }
      notes.set(key, note);
    }
    return notes;
  };

  return {
    name: PAGERDUTY_CHANNEL,

    takes(group) {
      const { trigger, resolve } = route(group);
      return group.rotations.length > 0 || trigger !== undefined || resolve.length > 0;
    },

    async deliver(group, context) {
      const state = { delivered: true };
      const rotationNotes = await announceRotations(group, context, state);
      const service = route(group).trigger;
      if (!service) return { delivered: state.delivered, rotationNotes };
      const dedupKey = dedupKeyFor(group.groupKey);
      if (context.recent.isRecent(PAGERDUTY_CHANNEL, dedupKey, group.severity, clock.now())) {
        const minutes = Math.round(config.repeatIntervalMs / 60_000);
        const note = `already triggered within the last ${minutes} min (dedup key ${dedupKey})`;
        return { delivered: state.delivered, rotationNotes, note, suppressed: true };
      }
      const outcome = await send(service, config.pagerDutyEventsUrl, buildTriggerEvent(group), context, {
        event: "trigger",
        pagerDutyService: service,
        count: group.count,
      });
      const note = describe(
        outcome,
        `alert triggered on the ${SERVICE_LABEL[service]} service (dedup key ${dedupKey})`,
        state,
      );
      if (outcome.ok) context.recent.remember(PAGERDUTY_CHANNEL, dedupKey, group.severity, clock.now());
      context.report[outcome.ok ? "pagesSent" : "pagesFailed"] += 1;
      // A page PagerDuty refused must still reach a human: later channels get it whatever the routing.
      const refused = !outcome.ok && !outcome.retryable;
      return { delivered: state.delivered, rotationNotes, note, refused };
    },

    async resolve(group, context) {
      const state = { delivered: true };
      const rotationNotes = await announceRotations(group, context, state);
      const dedupKey = dedupKeyFor(group.groupKey);
      const notes: string[] = [];
      // Only a group that was firing has an alert to clear (a forged or stray resolve sends nothing).
      for (const service of context.clears ? route(group).resolve : []) {
        const outcome = await send(
          service,
          config.pagerDutyEventsUrl,
          buildResolveEvent(group.groupKey),
          context,
          {
            event: "resolve",
            pagerDutyService: service,
          },
        );
        notes.push(describe(outcome, `resolved (dedup key ${dedupKey})`, state));
        if (outcome.ok) context.report.resolves += 1;
      }
      context.recent.forget(dedupKey);
      // One failed resolve is what a reader must see, even if another service took it.
      const note = notes.find((text) => !text.startsWith("resolved")) ?? notes[0];
      return { delivered: state.delivered, rotationNotes, note } satisfies ChannelOutcome;
    },

    render(group) {
      for (const rotation of group.rotations) JSON.stringify(buildChangeEvent(rotation));
      if (group.latest && group.state === "firing") JSON.stringify(buildTriggerEvent(group));
    },
  };
}
