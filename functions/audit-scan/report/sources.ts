import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { listSecrets } from "../compliance.ts";
import type { Policy } from "../policy.ts";
import { lookupEventsPage, parseCloudTrailEvent } from "../sources/lookup.ts";
import { type PacerClock, RequestPacer } from "../sources/pacer.ts";
import { trailFileRecords, trailFiles } from "../sources/who.ts";
import { buildComplianceReport, type ComplianceReport } from "./model.ts";

/** How far before the period rotation events are read, to know each secret's last rotation before it. */
const LOOKBACK_MS = 365 * 86_400_000;

export interface ReportSourceDependencies {
  secretsManager: SecretsManagerClient;
  cloudTrail: CloudTrailClient;
  clock?: PacerClock;
}

export interface ReportRequest {
  fromMs: number;
  toMs: number;
  policy: Policy;
  /** Trail files or folders to read instead of LookupEvents (which keeps 90 days). */
  trail: readonly string[];
  now: Date;
}

/** The report for a period, from ListSecrets and LookupEvents (or trail files). */
export async function collectComplianceReport(
  request: ReportRequest,
  deps: ReportSourceDependencies,
): Promise<ComplianceReport> {
  const files = request.trail.length > 0 ? await trailFiles(request.trail) : [];
  const secrets = await listSecrets(deps.secretsManager);
  const records =
    request.trail.length > 0
      ? trailFileRecords(files)
      : lookupSecretsManagerRecords(deps, request.fromMs - LOOKBACK_MS, request.toMs);
  return buildComplianceReport({
    fromMs: request.fromMs,
    toMs: request.toMs,
    policy: request.policy,
    secrets,
    records,
    eventSource: request.trail.length > 0 ? request.trail.join(", ") : "CloudTrail LookupEvents",
    now: request.now,
  });
}

/** Every Secrets Manager record (calls and rotation service events) LookupEvents has in the window. */
async function* lookupSecretsManagerRecords(
  deps: ReportSourceDependencies,
  startMs: number,
  endMs: number,
): AsyncGenerator<unknown> {
  const pacer = new RequestPacer(2, deps.clock);
  let nextToken: string | undefined;
  do {
    const page = await lookupEventsPage(
      deps.cloudTrail,
      {
        attribute: { key: "EventSource", value: "secretsmanager.amazonaws.com" },
        startMs,
        endMs,
        nextToken,
      },
      { pacer, requestsPerSecond: 2, clock: deps.clock },
    );
    for (const event of page.events) {
      const record = parseCloudTrailEvent(event);
      if (typeof record !== "string") yield record;
    }
    nextToken = page.nextToken;
  } while (nextToken);
}
