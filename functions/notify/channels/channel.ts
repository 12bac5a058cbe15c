/**
 * A notification channel: where the notifier sends what a group of findings says. PagerDuty and SNS are
 * two implementations; `index.ts` lists them in delivery order. See docs/alerts.md, "Adding a channel".
 */
import type { SecretRotatedEvent } from "../../../lib/finding.ts";
import type { RecentNotifications } from "../alert-state.ts";
import type { AlertGroup } from "../grouping.ts";
import type { BatchReport } from "../notify.ts";
import { dedupKeyFor } from "../pagerduty-events.ts";

/** What a channel did with one group. */
export interface ChannelOutcome {
  /** False when the group's messages must go back to SQS: a delivery failed that may succeed later. */
  readonly delivered: boolean;
  /** What happened to the group's alert, in words; the channels after it may quote it. */
  readonly note?: string | undefined;
  /** What happened to each rotation's announcement, in words, by `rotationKey`. */
  readonly rotationNotes?: ReadonlyMap<string, string>;
  /** The channel refused the alert for good: the channels after it carry it whatever their routing says. */
  readonly refused?: boolean;
  /** The alert was not sent again because it went out within the repeat interval. */
  readonly suppressed?: boolean;
}

/** What one channel did with the group, as the channels after it see it. */
export interface ChannelReport {
  readonly channel: string;
  readonly outcome: ChannelOutcome;
}

/** One group's delivery as a channel sees it. */
export interface DeliveryContext {
  /** Epoch milliseconds of the invocation's deadline; each channel keeps its own margin before it. */
  readonly deadline: number;
  /** The batch's counters (and so its metrics). */
  readonly report: BatchReport;
  /** What the channels before this one did with the group. */
  readonly earlier: readonly ChannelReport[];
  /** Fields every log line about the group carries. */
  readonly logContext: Readonly<Record<string, unknown>>;
  /** What was sent for the group recently, by any container (read from and written to the state table). */
  readonly recent: RecentNotifications;
  /** For a resolved group: true when it was firing, so there is an alert to clear. */
  readonly clears: boolean;
}

/** Where alerts go: which groups it takes, how it delivers a firing group, how it resolves a cleared one. */
export interface NotificationChannel {
  /** Lower-case name, used in logs and by later channels reading `earlier`. */
  readonly name: string;
  /** Whether the channel has anything to send for the group (its routing by severity and kind). */
  takes(group: AlertGroup, earlier: readonly ChannelReport[]): boolean;
  /** Sends a firing group's alert and announces the group's rotations. */
  deliver(group: AlertGroup, context: DeliveryContext): Promise<ChannelOutcome>;
  /** Sends a resolved group's all-clear and announces the group's rotations. */
  resolve(group: AlertGroup, context: DeliveryContext): Promise<ChannelOutcome>;
  /** Builds what it would send for the group, without sending; throws if the group cannot be rendered. */
  render(group: AlertGroup): void;
}

/** The key one rotation is remembered by (change events have no dedup key of their own). */
export function rotationKey(rotation: SecretRotatedEvent): string {
  return dedupKeyFor(`secret.rotated\u0000${rotation.secretArn}\u0000${rotation.versionId}`);
}

/** True when a channel before this one refused the group's alert for good. */
export function refusedEarlier(earlier: readonly ChannelReport[]): boolean {
  return earlier.some((report) => report.outcome.refused === true);
}
