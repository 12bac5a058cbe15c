import { SEVERITIES, type Severity } from "../../lib/finding.ts";

/** Where a notification went. */
export type Channel = "pagerduty" | "sns";

/**
 * What this Lambda container notified recently, so a burst spread over several batches pages and
 * publishes once per repeat interval instead of once per batch (like Alertmanager's repeat_interval).
 * A higher severity always goes through, and a resolve forgets the group so a recurrence notifies at once.
 * Held in memory: a new container starts empty, which at worst sends one more deduplicated event.
 */
export interface RecentNotifications {
  isRecent(channel: Channel, dedupKey: string, severity: Severity, now: number): boolean;
  remember(channel: Channel, dedupKey: string, severity: Severity, now: number): void;
  forget(dedupKey: string): void;
}

const rank = (severity: Severity) => SEVERITIES.indexOf(severity);

/** An in-memory RecentNotifications; `intervalMs` 0 turns suppression off. */
export function createRecentNotifications(intervalMs: number, maxEntries = 10_000): RecentNotifications {
  const entries = new Map<string, { at: number; severity: Severity }>();
  const keyOf = (channel: Channel, dedupKey: string) => `${channel}:${dedupKey}`;
  return {
    isRecent(channel, dedupKey, severity, now) {
      if (intervalMs <= 0) return false;
      const entry = entries.get(keyOf(channel, dedupKey));
      return entry !== undefined && now - entry.at < intervalMs && rank(severity) >= rank(entry.severity);
    },
    remember(channel, dedupKey, severity, now) {
      if (intervalMs <= 0) return;
      const key = keyOf(channel, dedupKey);
      entries.delete(key);
      entries.set(key, { at: now, severity });
      // Oldest first in a Map: drop from the front to stay bounded.
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    forget(dedupKey) {
      entries.delete(keyOf("pagerduty", dedupKey));
      entries.delete(keyOf("sns", dedupKey));
    },
  };
}
