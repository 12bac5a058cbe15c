import { SEVERITIES, type Severity } from "../../lib/finding.ts";

/** The name of the notification channel a notification went to (`pagerduty`, `sns`, ...). */
export type Channel = string;

/**
 * What this Lambda container notified recently, so a burst spread over several batches pages and
 * publishes once per repeat interval instead of once per batch (like Alertmanager's repeat_interval).
 * A higher severity always goes through, and a resolve forgets the group so a recurrence notifies at once.
 * Held in memory: a new container starts empty, which at worst sends one more deduplicated event.
 */
export interface RecentNotifications {
  isRecent(channel: Channel, dedupKey: string, severity: Severity, now: number): boolean;
  remember(channel: Channel, dedupKey: string, severity: Severity, now: number): void;
  /** Forgets the group on every channel. */
  forget(dedupKey: string): void;
}

const rank = (severity: Severity) => SEVERITIES.indexOf(severity);

/** An in-memory RecentNotifications over at most `maxEntries` groups; `intervalMs` 0 turns suppression off. */
export function createRecentNotifications(intervalMs: number, maxEntries = 10_000): RecentNotifications {
  const groups = new Map<string, Map<Channel, { at: number; severity: Severity }>>();
  return {
    isRecent(channel, dedupKey, severity, now) {
      if (intervalMs <= 0) return false;
      const entry = groups.get(dedupKey)?.get(channel);
      return entry !== undefined && now - entry.at < intervalMs && rank(severity) >= rank(entry.severity);
    },
    remember(channel, dedupKey, severity, now) {
      if (intervalMs <= 0) return;
      const channels = groups.get(dedupKey) ?? new Map();
      channels.set(channel, { at: now, severity });
      // Oldest first in a Map: re-inserting moves the group to the back, and the front is dropped.
      groups.delete(dedupKey);
      groups.set(dedupKey, channels);
      while (groups.size > maxEntries) groups.delete(groups.keys().next().value as string);
    },
    forget(dedupKey) {
      groups.delete(dedupKey);
    },
  };
}
