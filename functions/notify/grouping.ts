import {
  type Finding,
  type FindingsQueueMessage,
  rotationGroupKey,
  SEVERITIES,
  type SecretRotatedEvent,
  type Severity,
} from "../../lib/finding.ts";

/** How many event ids, principals and origins a notification lists; the totals are always given. */
export const SAMPLE_SIZE = 20;

/** One parsed SQS message. */
export interface QueueItem {
  readonly messageId: string;
  readonly message: FindingsQueueMessage;
}

/** A distinct list, cut to a sample, with the full distinct count. */
export interface Sample {
  readonly values: readonly string[];
  readonly total: number;
}

/** Everything of one batch that belongs to one problem (one `groupKey`). */
export interface AlertGroup {
  readonly groupKey: string;
  /** Every SQS message that contributed; they succeed or fail together. */
  readonly messageIds: readonly string[];
  /** Distinct findings (by id), oldest first. */
  readonly findings: readonly Finding[];
  /** Distinct `secret.rotated` events (by secret and version), oldest first. */
  readonly rotations: readonly SecretRotatedEvent[];
  /**
   * What the latest message of the group says: `firing` when it is a firing finding, `resolved` when it is
   * a resolved finding or a successful rotation (which clears the secret's rotation problems).
   */
  readonly state: "firing" | "resolved";
  /** Event time (epoch ms) of the group's latest message, the one that decides its state. */
  readonly latestAt: number;
  /** The latest finding in the group's final state, the one a notification describes. */
  readonly latest: Finding | undefined;
  /** Highest severity among the findings in the final state; `info` for rotations alone. */
  readonly severity: Severity;
  /** Sum of the findings' counts (each finding may already aggregate several CloudTrail events). */
  readonly count: number;
  readonly firstSeen: string | undefined;
  readonly lastSeen: string | undefined;
  /** The most recent CloudTrail event ids. */
  readonly eventIds: Sample;
  readonly principals: Sample;
  /** Source IPs / VPC endpoints the events came from. */
  readonly origins: Sample;
}

const severityRank = (severity: Severity): number => SEVERITIES.indexOf(severity);

function isRotation(message: FindingsQueueMessage): message is SecretRotatedEvent {
  return "type" in message && message.type === "secret.rotated";
}

// Parsed once per message: sorting a large group would otherwise parse each timestamp many times.
const parsedTimes = new WeakMap<FindingsQueueMessage, number>();
function timeOf(message: FindingsQueueMessage): number {
  let time = parsedTimes.get(message);
  if (time === undefined) {
    time = Date.parse(isRotation(message) ? message.at : message.lastSeen);
    parsedTimes.set(message, time);
  }
  return time;
}

function sample(values: Iterable<string | undefined>): Sample {
  const distinct = new Set<string>();
  for (const value of values) if (value) distinct.add(value);
  return { values: [...distinct].slice(0, SAMPLE_SIZE), total: distinct.size };
}

/**
 * Groups a batch by problem: findings by their `groupKey`, `secret.rotated` events by the rotation group
 * of their secret (so a successful rotation lands with, and resolves, that secret's rotation failures).
 * Groups come back in the order their first message arrived.
 */
export function groupQueueItems(items: readonly QueueItem[]): AlertGroup[] {
  const byKey = new Map<string, QueueItem[]>();
  for (const item of items) {
    const key = isRotation(item.message) ? rotationGroupKey(item.message.secretArn) : item.message.groupKey;
    const members = byKey.get(key);
    if (members) members.push(item);
    else byKey.set(key, [item]);
  }
  return [...byKey].map(([groupKey, members]) => summariseGroup(groupKey, members));
}

function summariseGroup(groupKey: string, members: readonly QueueItem[]): AlertGroup {
  const findingsById = new Map<string, Finding>();
  const rotationsByVersion = new Map<string, SecretRotatedEvent>();
  for (const { message } of members) {
    if (isRotation(message))
      rotationsByVersion.set(`${message.secretArn}\u0000${message.versionId}`, message);
    else if (!findingsById.has(message.id)) findingsById.set(message.id, message);
  }
  const byTime = <T extends FindingsQueueMessage>(a: T, b: T) => timeOf(a) - timeOf(b);
  // At equal times a resolved finding sorts last, so a resolve is never lost to a race.
  const resolvedLast = (finding: Finding) => (finding.status === "resolved" ? 1 : 0);
  const findings = [...findingsById.values()].sort(
    (a, b) => byTime(a, b) || resolvedLast(a) - resolvedLast(b),
  );
  const rotations = [...rotationsByVersion.values()].sort(byTime);

  // The latest message decides; on a tie the clearing message wins.
  const lastFinding = findings.at(-1);
  const lastRotation = rotations.at(-1);
  const firing =
    lastFinding !== undefined &&
    lastFinding.status !== "resolved" &&
    (lastRotation === undefined || timeOf(lastFinding) > timeOf(lastRotation));
  const state = firing ? "firing" : "resolved";
  const latestAt = Math.max(
    lastFinding ? timeOf(lastFinding) : Number.NEGATIVE_INFINITY,
    lastRotation ? timeOf(lastRotation) : Number.NEGATIVE_INFINITY,
  );

  const inState = findings.filter((finding) => (finding.status === "resolved") === (state === "resolved"));
  const severity = inState.reduce<Severity>(
    (highest, finding) =>
      severityRank(finding.severity) < severityRank(highest) ? finding.severity : highest,
    "info",
  );
  const newestFirst = [...findings].reverse();
  const firstSeen = findings.reduce<string | undefined>(
    (earliest, finding) =>
      earliest === undefined || Date.parse(finding.firstSeen) < Date.parse(earliest)
        ? finding.firstSeen
        : earliest,
    undefined,
  );

  return {
    groupKey,
    messageIds: members.map((member) => member.messageId),
    findings,
    rotations,
    state,
    latestAt,
    latest: inState.at(-1),
    severity,
    count: findings.reduce((total, finding) => total + finding.count, 0),
    firstSeen,
    lastSeen: lastFinding?.lastSeen,
    eventIds: sample(newestFirst.flatMap((finding) => finding.eventIds)),
    principals: sample(newestFirst.map((finding) => finding.principal)),
    origins: sample(newestFirst.map((finding) => finding.sourceIp)),
  };
}
