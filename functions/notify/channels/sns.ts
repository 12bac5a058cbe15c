/** The SNS channel: one message per group on the alerts topic (email, chat, queues), and one per rotation. */
import type { SNSClient } from "@aws-sdk/client-sns";
import { describeError } from "../../../lib/errors.ts";
import type { Logger } from "../../../lib/logger.ts";
import type { NotifierConfig } from "../config.ts";
import type { AlertGroup } from "../grouping.ts";
import type { Clock } from "../pagerduty-client.ts";
import { dedupKeyFor } from "../pagerduty-events.ts";
import { routeGroup } from "../routing.ts";
import {
  buildFindingNotification,
  buildRotationNotification,
  envelope,
  publishNotification,
  type SnsNotification,
} from "../sns.ts";
import {
  type ChannelOutcome,
  type ChannelReport,
  type DeliveryContext,
  type NotificationChannel,
  refusedEarlier,
  rotationKey,
} from "./channel.ts";
import { PAGERDUTY_CHANNEL } from "./pagerduty.ts";

export const SNS_CHANNEL = "sns";

// SNS gets what is left of the invocation less this, to return the batch response in time.
const RESPONSE_MARGIN_MS = 1_000;

/** What the SNS channel talks to. */
export interface SnsChannelDependencies {
  readonly config: NotifierConfig;
  readonly sns: SNSClient;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** SNS as a notification channel; its messages say, in words, what happened on PagerDuty. */
export function createSnsChannel(deps: SnsChannelDependencies): NotificationChannel {
  const { clock, config, logger } = deps;
  const route = (group: AlertGroup) => routeGroup(group, config.routing, false);
  const pagerDutyOf = (earlier: readonly ChannelReport[]) =>
    earlier.find((report) => report.channel === PAGERDUTY_CHANNEL)?.outcome;

  const publish = async (notification: SnsNotification, context: DeliveryContext): Promise<boolean> => {
    const remaining = context.deadline - RESPONSE_MARGIN_MS - clock.now();
    try {
      if (remaining <= 0) throw new Error("no time left before the invocation's deadline");
      await publishNotification(
        deps.sns,
        config.alertsTopicArn,
        notification,
        AbortSignal.timeout(remaining),
      );
      context.report.snsMessages += 1;
      return true;
    } catch (error) {
      logger.error("SNS publish failed; the messages go back to SQS", {
        ...context.logContext,
        error: describeError(error),
      });
      return false;
    }
  };

  /** Publishes one notice per rotation (they count as `info`); a redelivery publishes none again. */
  const announceRotations = async (group: AlertGroup, context: DeliveryContext): Promise<boolean> => {
    if (!route(group).rotationsToSns) return true;
    const pagerDuty = pagerDutyOf(context.earlier)?.rotationNotes;
    let delivered = true;
    for (const rotation of group.rotations) {
      const key = rotationKey(rotation);
      if (context.recent.isRecent(SNS_CHANNEL, key, "info", clock.now())) continue;
      const note = pagerDuty?.get(key) ?? "change event recorded (it does not page)";
      const published = await publish(buildRotationNotification(rotation, note), context);
      if (published) context.recent.remember(SNS_CHANNEL, key, "info", clock.now());
      delivered &&= published;
    }
    return delivered;
  };

  /** Publishes the group's finding message (firing or resolved) when routed here or refused elsewhere. */
  const announceFinding = async (
    group: AlertGroup,
    context: DeliveryContext,
  ): Promise<{ delivered: boolean; suppressed: boolean }> => {
    const forced = refusedEarlier(context.earlier);
    const firing = group.state === "firing";
    // A resolve for a group that was not firing says nothing true: no RESOLVED message either.
    const nothingToSay = !group.latest || (!firing && !context.clears);
    if (nothingToSay || !(route(group).findingToSns || forced)) return { delivered: true, suppressed: false };
    const dedupKey = dedupKeyFor(group.groupKey);
    if (!forced && firing && context.recent.isRecent(SNS_CHANNEL, dedupKey, group.severity, clock.now())) {
      return { delivered: true, suppressed: true };
    }
    const note =
      pagerDutyOf(context.earlier)?.note ?? `not paged (severity ${group.severity} is routed to SNS only)`;
    const published = await publish(buildFindingNotification(group, note), context);
    if (published && firing) context.recent.remember(SNS_CHANNEL, dedupKey, group.severity, clock.now());
    return { delivered: published, suppressed: false };
  };

  const deliverAll = async (group: AlertGroup, context: DeliveryContext): Promise<ChannelOutcome> => {
    const rotationsDelivered = await announceRotations(group, context);
    const finding = await announceFinding(group, context);
    const delivered = rotationsDelivered && finding.delivered;
    const note = !delivered
      ? "not published yet; the notifier retries"
      : finding.suppressed
        ? "already published within the repeat interval"
        : "published";
    return { delivered, note, suppressed: finding.suppressed };
  };

  return {
    name: SNS_CHANNEL,

    takes(group, earlier) {
      const { findingToSns, rotationsToSns } = route(group);
      return (
        (rotationsToSns && group.rotations.length > 0) ||
        (group.latest !== undefined && (findingToSns || refusedEarlier(earlier)))
      );
    },

    deliver: deliverAll,
    resolve: deliverAll,

    render(group) {
      for (const rotation of group.rotations) envelope(buildRotationNotification(rotation, ""));
      if (group.latest) envelope(buildFindingNotification(group, ""));
    },
  };
}
