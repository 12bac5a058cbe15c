/** The notification channels, in delivery order: each sees what the ones before it did with a group. */
import type { NotificationChannel } from "./channel.ts";
import { createPagerDutyChannel, type PagerDutyChannelDependencies } from "./pagerduty.ts";
import { createSnsChannel, type SnsChannelDependencies } from "./sns.ts";

export type { ChannelOutcome, ChannelReport, DeliveryContext, NotificationChannel } from "./channel.ts";

/** What any channel may need; the handler builds the real ones, tests pass mocks or the sandbox. */
export type ChannelDependencies = PagerDutyChannelDependencies & SnsChannelDependencies;

/** Every channel, in delivery order. A new channel is one file in this folder and one line here. */
export function createChannels(deps: ChannelDependencies): NotificationChannel[] {
  return [
    createPagerDutyChannel(deps),
    // After PagerDuty: its messages say what happened there, and carry a page PagerDuty refused.
    createSnsChannel(deps),
  ];
}
