/**
 * The last state of each alert group, shared by every notifier container (DynamoDB in AWS, memory in tests):
 * what the group last said (firing or resolved) and when, who is delivering it right now, and what each
 * channel last sent. It is what makes delivery order and container placement irrelevant: an older message
 * never overrides a newer state, a recurrence after a resolve always pages, and two invocations never send
 * the same group's events at the same time. See docs/alerts.md, "Guarantees".
 */
import { SEVERITIES, type Severity } from "../../lib/finding.ts";
import type { AlertGroup } from "./grouping.ts";

/**
 * What the channels sent for a group recently, so a burst spread over several batches pages and publishes
 * once per repeat interval instead of once per batch (like Alertmanager's repeat_interval). A higher
 * severity always goes through, and a resolve forgets the group so a recurrence notifies at once.
 */
export interface RecentNotifications {
  isRecent(channel: string, key: string, severity: Severity, now: number): boolean;
  remember(channel: string, key: string, severity: Severity, now: number): void;
  /** Forgets the key on every channel. */
  forget(key: string): void;
}

/** What one channel last sent for a key (the group's dedup key, or a rotation's). */
export interface SentRecord {
  readonly at: number;
  readonly severity: Severity;
}

/** The stored state of one alert group. */
export interface AlertState {
  readonly status: "firing" | "resolved";
  /** Event time (epoch ms) of the message that set the status: the order messages are judged by. */
  readonly at: number;
  readonly severity: Severity;
  /** Incremented by every write; a write succeeds only over the version it read. */
  readonly version: number;
  /** The invocation delivering the group, and until when (epoch ms); others wait for it to finish. */
  readonly leaseOwner?: string | undefined;
  readonly leaseUntil?: number | undefined;
  /** What each channel sent, by `<channel>\u0000<key>`, within the repeat interval. */
  readonly sent: Readonly<Record<string, SentRecord>>;
}

/** What a group with no stored state is judged as: never fired, so a resolve clears nothing. */
export const ABSENT_STATE: AlertState = { status: "resolved", at: 0, severity: "info", version: 0, sent: {} };

/** Where the states live. */
export interface AlertStateStore {
  read(groupKey: string): Promise<AlertState | undefined>;
  /** Writes `next` if the stored version is still `expectedVersion` (undefined: no state yet); false if not. */
  write(groupKey: string, next: AlertState, expectedVersion: number | undefined): Promise<boolean>;
}

/** An AlertStateStore in memory (tests, one-process tools); the handler uses DynamoDB. */
export class MemoryAlertStateStore implements AlertStateStore {
  readonly #states = new Map<string, AlertState>();

  async read(groupKey: string): Promise<AlertState | undefined> {
    return this.#states.get(groupKey);
  }

  async write(groupKey: string, next: AlertState, expectedVersion: number | undefined): Promise<boolean> {
    if (this.#states.get(groupKey)?.version !== expectedVersion) return false;
    this.#states.set(groupKey, next);
    return true;
  }
}

/** What to do with a group, given the state stored for it. */
export type GroupDecision =
  /** Every message is older than the stored state (or a firing tie with a resolve): send nothing. */
  | { readonly kind: "stale"; readonly state: AlertState }
  /** Another invocation is delivering the group: hand the messages back to SQS for later. */
  | { readonly kind: "busy"; readonly state: AlertState }
  /** A resolve for a group that is not firing, with nothing else to announce: log and drop it. */
  | { readonly kind: "unknown-resolve"; readonly state: AlertState | undefined }
  /** Deliver: `clears` says whether a resolve closes a firing group; `claim` is the state to write first. */
  | {
      readonly kind: "deliver";
      readonly previous: AlertState | undefined;
      readonly claim: AlertState;
      readonly clears: boolean;
    };

const rank = (severity: Severity) => SEVERITIES.indexOf(severity);

/**
 * Decides a group against its stored state. `at` is the time of the group's latest message, never later
 * than `now` (so a message dated in the future cannot make every real one look old).
 */
export function decideGroup(
  group: AlertGroup,
  previous: AlertState | undefined,
  lease: { owner: string; until: number; now: number },
): GroupDecision {
  const at = Math.min(group.latestAt, lease.now);
  if (previous) {
    const older = at < previous.at;
    // At the same time a resolve wins, as within a batch.
    const tieLost = at === previous.at && group.state === "firing" && previous.status === "resolved";
    if (older || tieLost) return { kind: "stale", state: previous };
    if (previous.leaseOwner !== lease.owner && (previous.leaseUntil ?? 0) > lease.now) {
      return { kind: "busy", state: previous };
    }
  }
  const clears = group.state === "resolved" && previous?.status === "firing";
  if (group.state === "resolved" && !clears && group.rotations.length === 0) {
    return { kind: "unknown-resolve", state: previous };
  }
  return {
    kind: "deliver",
    previous,
    clears,
    claim: {
      status: group.state,
      at,
      severity: group.severity,
      version: (previous?.version ?? 0) + 1,
      leaseOwner: lease.owner,
      leaseUntil: lease.until,
      sent: previous?.sent ?? {},
    },
  };
}

/** A group's record of what was sent, as the channels read and write it during one delivery. */
export interface GroupMemory extends RecentNotifications {
  /** What to store: entries within the interval, as of `now`. */
  entries(now: number): Record<string, SentRecord>;
}

/** The channels' view of what was sent for a group, starting from the stored `sent` records. */
export function groupMemory(sent: Readonly<Record<string, SentRecord>>, intervalMs: number): GroupMemory {
  const records = new Map(Object.entries(sent));
  const keyOf = (channel: string, key: string) => `${channel}\u0000${key}`;
  return {
    isRecent(channel, key, severity, now) {
      if (intervalMs <= 0) return false;
      const record = records.get(keyOf(channel, key));
      return record !== undefined && now - record.at < intervalMs && rank(severity) >= rank(record.severity);
    },
    remember(channel, key, severity, now) {
      if (intervalMs > 0) records.set(keyOf(channel, key), { at: now, severity });
    },
    forget(key) {
      for (const name of [...records.keys()]) if (name.endsWith(`\u0000${key}`)) records.delete(name);
    },
    entries(now) {
      return Object.fromEntries([...records].filter(([, record]) => now - record.at < intervalMs));
    },
  };
}
