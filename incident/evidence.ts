import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import {
  type DescribeSecretCommandOutput,
  ListSecretVersionIdsCommand,
  type SecretsManagerClient,
  type SecretVersionsListEntry,
} from "@aws-sdk/client-secrets-manager";
import { createScanner } from "../functions/audit-scan/engine.ts";
import { type AuditEvent, normaliseRecord } from "../functions/audit-scan/normalise.ts";
import type { Policy } from "../functions/audit-scan/policy.ts";
import {
  type AccessRow,
  accessReport,
  lookupSecretRecords,
  secretMatcher,
  trailFileRecords,
} from "../functions/audit-scan/sources/who.ts";
import { MemoryScanState } from "../functions/audit-scan/state.ts";
import type { Finding } from "../lib/finding.ts";

/** One call on the secret, as the timeline lists it. */
export interface EvidenceEvent {
  time: string;
  eventId: string;
  eventName: string;
  principal: string;
  principalType: string;
  session?: string;
  /** "ok" or the error code. */
  outcome: string;
  origin: string;
  readOnly: boolean;
}

/** What evidence.json holds: the secret as it was before the response changed anything. Never a value. */
export interface Evidence {
  collectedAt: string;
  collectedBy: { callerArn: string; account: string; operator: string };
  window: { since: string; until: string; source: string; records: number };
  secret: {
    arn: string;
    name: string;
    description?: string;
    kmsKeyId?: string;
    createdDate?: string;
    lastChangedDate?: string;
    lastAccessedDate?: string;
    deletedDate?: string;
    tags: Record<string, string>;
    rotation: {
      enabled: boolean;
      lambdaArn?: string;
      rules?: unknown;
      lastRotatedDate?: string;
      nextRotationDate?: string;
    };
  };
  versions: { versionId: string; stages: string[]; createdDate?: string; lastAccessedDate?: string }[];
  /** The resource policy document (parsed), the raw text when it is not JSON, or null when there is none. */
  resourcePolicy: unknown;
  access: AccessRow[];
  events: EvidenceEvent[];
  /** Secrets Manager's rotation service events in the window, oldest first. */
  rotations: { time: string; outcome: "started" | "succeeded" | "failed" | "abandoned"; error?: string }[];
  findings: Finding[];
}

export interface EvidenceRequest {
  described: DescribeSecretCommandOutput;
  resourcePolicy: string | undefined;
  sinceMs: number;
  untilMs: number;
  /** Trail files to read instead of LookupEvents. */
  trailFiles: readonly string[];
  /** The files and folders `--trail` named, for the record of where the calls came from. */
  trailPaths: readonly string[];
  policy: Policy;
  collectedBy: Evidence["collectedBy"];
  now: Date;
  /** Told every PROGRESS_EVERY records read (LookupEvents gives 50 a call at 2 calls/s: 6,000 a minute). */
  onProgress?: (records: number) => void;
}

const PROGRESS_EVERY = 1_000;

const ROTATION_EVENTS: Record<string, Evidence["rotations"][number]["outcome"]> = {
  RotationStarted: "started",
  RotationSucceeded: "succeeded",
  RotationFailed: "failed",
  RotationAbandoned: "abandoned",
};

const iso = (date: Date | undefined) => date?.toISOString();

/** Collects the evidence: DescribeSecret (given), ListSecretVersionIds, the window's CloudTrail records and findings. */
export async function collectEvidence(
  request: EvidenceRequest,
  deps: { secretsManager: SecretsManagerClient; cloudTrail: CloudTrailClient },
): Promise<Evidence> {
  const { described } = request;
  const arn = described.ARN!;
  const versions = await listVersions(deps.secretsManager, arn);
  const source =
    request.trailFiles.length > 0
      ? trailFileRecords(request.trailFiles)
      : lookupSecretRecords(deps.cloudTrail, {
          resourceName: arn,
          sinceMs: request.sinceMs,
          untilMs: request.untilMs,
        });
  const matches = secretMatcher(arn);
  const records: unknown[] = [];
  const events: AuditEvent[] = [];
  const seen = new Set<string>();
  let read = 0;
  for await (const record of source) {
    read += 1;
    if (read % PROGRESS_EVERY === 0) request.onProgress?.(read);
    const normalised = normaliseRecord(record);
    if (!normalised.ok) continue;
    const event = normalised.event;
    if (event.timeMs < request.sinceMs || event.timeMs > request.untilMs || !matches(event)) continue;
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    records.push(record);
    events.push(event);
  }
  events.sort((a, b) => a.timeMs - b.timeMs || a.eventId.localeCompare(b.eventId));
  const access = await accessReport(records, {
    secretId: arn,
    sinceMs: request.sinceMs,
    untilMs: request.untilMs,
  });
  const scanner = createScanner({
    policy: request.policy,
    state: new MemoryScanState(),
    now: () => request.now,
    timeRange: { sinceMs: request.sinceMs, untilMs: request.untilMs + 1 },
  });
  const findings = (await scanner.scan(records)).findings.sort(
    (a, b) => a.firstSeen.localeCompare(b.firstSeen) || a.id.localeCompare(b.id),
  );
  return {
    collectedAt: request.now.toISOString(),
    collectedBy: request.collectedBy,
    window: {
      since: new Date(request.sinceMs).toISOString(),
      until: new Date(request.untilMs).toISOString(),
      source:
        request.trailFiles.length > 0
          ? `${request.trailFiles.length} trail file(s) from ${request.trailPaths.join(", ")}`
          : "CloudTrail LookupEvents",
      records: read,
    },
    secret: {
      arn,
      name: described.Name ?? arn,
      description: described.Description,
      kmsKeyId: described.KmsKeyId,
      createdDate: iso(described.CreatedDate),
      lastChangedDate: iso(described.LastChangedDate),
      lastAccessedDate: iso(described.LastAccessedDate),
      deletedDate: iso(described.DeletedDate),
      tags: Object.fromEntries((described.Tags ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""])),
      rotation: {
        enabled: described.RotationEnabled === true,
        lambdaArn: described.RotationLambdaARN,
        rules: described.RotationRules,
        lastRotatedDate: iso(described.LastRotatedDate),
        nextRotationDate: iso(described.NextRotationDate),
      },
    },
    versions: versions.map((version) => ({
      versionId: version.VersionId ?? "",
      stages: version.VersionStages ?? [],
      createdDate: iso(version.CreatedDate),
      lastAccessedDate: iso(version.LastAccessedDate),
    })),
    resourcePolicy: parsedPolicy(request.resourcePolicy),
    access: access.rows,
    events: events.map(evidenceEvent),
    rotations: events
      .filter((event) => ROTATION_EVENTS[event.eventName] !== undefined)
      .map((event) => ({
        time: event.time,
        outcome: ROTATION_EVENTS[event.eventName]!,
        ...(event.errorMessage ? { error: event.errorMessage } : {}),
      })),
    findings,
  };
}

/** The last rotation that ended, when it failed or was abandoned: a failing rotation is reported, never forced. */
export function failingRotation(evidence: Evidence): Evidence["rotations"][number] | undefined {
  const ended = evidence.rotations.filter((rotation) => rotation.outcome !== "started").at(-1);
  return ended && ended.outcome !== "succeeded" ? ended : undefined;
}

async function listVersions(
  client: SecretsManagerClient,
  secretArn: string,
): Promise<SecretVersionsListEntry[]> {
  const versions: SecretVersionsListEntry[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListSecretVersionIdsCommand({ SecretId: secretArn, IncludeDeprecated: true, NextToken: nextToken }),
    );
    versions.push(...(page.Versions ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return versions.sort((a, b) => (a.CreatedDate?.getTime() ?? 0) - (b.CreatedDate?.getTime() ?? 0));
}

function parsedPolicy(policy: string | undefined): unknown {
  if (policy === undefined) return null;
  try {
    return JSON.parse(policy);
  } catch {
    return policy;
  }
}

function evidenceEvent(event: AuditEvent): EvidenceEvent {
  return {
    time: event.time,
    eventId: event.eventId,
    eventName: event.eventName,
    principal: event.principal.id,
    principalType: event.principal.type,
    ...(event.principal.session ? { session: event.principal.session } : {}),
    outcome: event.errorCode ?? "ok",
    origin: event.origin.vpcEndpointId ?? event.origin.sourceIp ?? event.principal.invokedBy ?? "unknown",
    readOnly: event.readOnly,
  };
}
