import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { type AuditEvent, normaliseRecord } from "../normalise.ts";
import { secretNameOf, stripArnSuffix } from "../policy.ts";
import { mayBeScanned } from "../prefilter.ts";
import { readTrailFileChunks } from "../trail-file.ts";
import { InvestigationInputError } from "./errors.ts";
import { lookupEventsPage, parseCloudTrailEvent } from "./lookup.ts";
import { type PacerClock, RequestPacer } from "./pacer.ts";

/** One line of the answer to "who touched this secret": a principal, a call, an outcome and an origin. */
export interface AccessRow {
  /** The identity a policy names: role ARN for an assumed role, user or root ARN, or the AWS service. */
  principal: string;
  principalType: string;
  eventName: string;
  /** "ok", or the error code (AccessDenied, ResourceNotFoundException, ...). */
  outcome: string;
  /** The VPC endpoint, else the source IP, else the AWS service that called on the principal's behalf. */
  origin: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  readOnly: boolean;
  /** Session names of an assumed role (at most five). */
  sessions: string[];
  userAgents: string[];
}

export interface AccessReport {
  secret: string;
  since: string;
  until: string;
  /** Records read (all services), and records of the secret. */
  records: number;
  events: number;
  rows: AccessRow[];
}

/** True for a Secrets Manager event about the secret named by `secretId` (name, partial or full ARN). */
export function secretMatcher(secretId: string): (event: AuditEvent) => boolean {
  const wanted = secretId.startsWith("arn:") ? stripArnSuffix(secretId) : undefined;
  return (event) =>
    event.service === "secretsmanager" &&
    event.secretArns.some((arn) => (wanted ? arn === wanted : secretNameOf(arn) === secretId));
}

function originOf(event: AuditEvent): string {
  if (event.origin.vpcEndpointId) return event.origin.vpcEndpointId;
  if (event.principal.invokedBy) return `via ${event.principal.invokedBy}`;
  return event.origin.sourceIp ?? "unknown";
}

function addOnce(list: string[], value: string | undefined, limit = 5): void {
  if (value && list.length < limit && !list.includes(value)) list.push(value);
}

/** Groups the secret's events in [sinceMs, untilMs] by principal, call, outcome and origin; each event once. */
export async function accessReport(
  records: Iterable<unknown> | AsyncIterable<unknown>,
  input: { secretId: string; sinceMs: number; untilMs: number },
): Promise<AccessReport> {
  const matches = secretMatcher(input.secretId);
  const rows = new Map<string, AccessRow>();
  const seen = new Set<string>();
  let total = 0;
  for await (const record of records) {
    total += 1;
    const normalised = normaliseRecord(record);
    if (!normalised.ok) continue;
    const event = normalised.event;
    if (
      event.timeMs < input.sinceMs ||
      event.timeMs > input.untilMs ||
      !matches(event) ||
      seen.has(event.eventId)
    )
      continue;
    seen.add(event.eventId);
    const outcome = event.errorCode ?? "ok";
    const origin = originOf(event);
    const key = [event.principal.id, event.eventName, outcome, origin].join("\u0000");
    let row = rows.get(key);
    if (!row) {
      row = {
        principal: event.principal.id,
        principalType: event.principal.type,
        eventName: event.eventName,
        outcome,
        origin,
        count: 0,
        firstSeen: event.time,
        lastSeen: event.time,
        readOnly: event.readOnly,
        sessions: [],
        userAgents: [],
      };
      rows.set(key, row);
    }
    row.count += 1;
    if (event.time < row.firstSeen) row.firstSeen = event.time;
    if (event.time > row.lastSeen) row.lastSeen = event.time;
    addOnce(row.sessions, event.principal.session);
    addOnce(row.userAgents, event.origin.userAgent, 3);
  }
  return {
    secret: input.secretId,
    since: new Date(input.sinceMs).toISOString(),
    until: new Date(input.untilMs).toISOString(),
    records: total,
    events: seen.size,
    // Changes first (they matter most), then the most frequent.
    rows: [...rows.values()].sort(
      (a, b) =>
        Number(a.readOnly) - Number(b.readOnly) ||
        b.count - a.count ||
        a.principal.localeCompare(b.principal) ||
        a.eventName.localeCompare(b.eventName),
    ),
  };
}

/**
 * The secret's CloudTrail records from LookupEvents (ResourceName = the secret's ARN), newest first,
 * paced at `requestsPerSecond` with throttling absorbed. Unreadable events are skipped.
 */
export async function* lookupSecretRecords(
  client: CloudTrailClient,
  input: {
    resourceName: string;
    sinceMs: number;
    untilMs: number;
    requestsPerSecond?: number;
    clock?: PacerClock;
  },
): AsyncGenerator<unknown> {
  const requestsPerSecond = input.requestsPerSecond ?? 2;
  const pacer = new RequestPacer(requestsPerSecond, input.clock);
  let nextToken: string | undefined;
  do {
    const page = await lookupEventsPage(
      client,
      {
        attribute: { key: "ResourceName", value: input.resourceName },
        startMs: input.sinceMs,
        endMs: input.untilMs,
        nextToken,
      },
      { pacer, requestsPerSecond, clock: input.clock },
    );
    for (const event of page.events) {
      const record = parseCloudTrailEvent(event);
      if (typeof record !== "string") yield record;
    }
    nextToken = page.nextToken;
  } while (nextToken);
}

/** Every `.json` / `.json.gz` file under the paths (files, folders, the S3 layout), sorted. */
export async function trailFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const visit = async (path: string, top: boolean): Promise<void> => {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch {
      if (top) throw new InvestigationInputError(`--trail: ${path} does not exist`);
      return;
    }
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) await visit(join(path, entry), false);
    } else if (top || /\.json(\.gz)?$/.test(path)) {
      files.push(path);
    }
  };
  for (const path of paths) await visit(path, true);
  return files;
}

/** The records of trail files, streamed one file after another (other services' records unparsed). */
export async function* trailFileRecords(files: readonly string[]): AsyncGenerator<unknown> {
  for (const file of files) {
    for await (const chunk of readTrailFileChunks(file, { relevant: mayBeScanned, source: file }))
      yield* chunk;
  }
}

const DURATION = /^(\d+)([mhd])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `7d`, `12h`, `30m` before now, or an ISO date/time; the error names the option and the forms it takes. */
export function parseSince(text: string, now: Date, option = "--since"): number {
  const duration = DURATION.exec(text.trim());
  if (duration) return now.getTime() - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new InvestigationInputError(
      `${option}: expected a duration such as 7d, 12h or 30m, or a date such as 2026-11-01, got "${text}"`,
    );
  }
  return at;
}
