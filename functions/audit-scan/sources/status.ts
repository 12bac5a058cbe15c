import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { ListSecretVersionIdsCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describeError } from "../../../lib/errors.ts";
import { listSecrets, policyExpectations, rotationStatus, type SecretRotationStatus } from "../compliance.ts";
import { type Policy, stripArnSuffix } from "../policy.ts";
import { lookupEventsPage, parseCloudTrailEvent } from "./lookup.ts";
import { type PacerClock, RequestPacer } from "./pacer.ts";

/** The service events that say a rotation did not complete. */
const FAILURE_EVENTS = ["RotationFailed", "RotationAbandoned"] as const;
const LOOKBACK_MS = 90 * 86_400_000;

/** One secret's rotation status, as `vigil status` shows it. */
export interface SecretStatus extends SecretRotationStatus {
  lastFailure: { at: string; event: string; error?: string | undefined } | undefined;
}

export interface StatusReport {
  secrets: SecretStatus[];
  /** Why last failures are unknown (LookupEvents refused or unreachable), if they are. */
  failuresUnknown?: string;
}

export interface StatusDependencies {
  secretsManager: SecretsManagerClient;
  cloudTrail: CloudTrailClient;
  policy: Policy;
  now: Date;
  clock?: PacerClock;
}

/** Every secret of the region with its strategy, last and next rotation, overdue, stale pending and last failure. */
export async function secretStatuses(deps: StatusDependencies): Promise<StatusReport> {
  const entries = await listSecrets(deps.secretsManager);
  const { failures, unknown } = await lastFailures(deps);
  const secrets: SecretStatus[] = [];
  for (const entry of entries) {
    const status = await rotationStatus(entry, {
      now: deps.now,
      expectationFor: policyExpectations(deps.policy),
      pendingSince: (arn, versionId) => versionCreated(deps.secretsManager, arn, versionId),
    });
    if (!status) continue;
    secrets.push({ ...status, lastFailure: failures.get(stripArnSuffix(status.arn)) });
  }
  secrets.sort((a, b) => a.name.localeCompare(b.name));
  return { secrets, ...(unknown ? { failuresUnknown: unknown } : {}) };
}

/** When a version was created (ListSecretVersionIds): how long an AWSPENDING has been waiting. */
async function versionCreated(
  client: SecretsManagerClient,
  secretArn: string,
  versionId: string,
): Promise<Date | undefined> {
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListSecretVersionIdsCommand({ SecretId: secretArn, MaxResults: 100, NextToken: nextToken }),
    );
    const version = page.Versions?.find((candidate) => candidate.VersionId === versionId);
    if (version) return version.CreatedDate;
    nextToken = page.NextToken || undefined;
  } while (nextToken);
  return undefined;
}

/** The latest RotationFailed / RotationAbandoned per secret (canonical ARN) in LookupEvents' 90 days. */
async function lastFailures(
  deps: StatusDependencies,
): Promise<{ failures: Map<string, NonNullable<SecretStatus["lastFailure"]>>; unknown?: string }> {
  const failures = new Map<string, NonNullable<SecretStatus["lastFailure"]>>();
  const pacer = new RequestPacer(2, deps.clock);
  try {
    for (const eventName of FAILURE_EVENTS) {
      let nextToken: string | undefined;
      do {
        const page = await lookupEventsPage(
          deps.cloudTrail,
          {
            attribute: { key: "EventName", value: eventName },
            startMs: deps.now.getTime() - LOOKBACK_MS,
            endMs: deps.now.getTime(),
            nextToken,
          },
          { pacer, requestsPerSecond: 2, clock: deps.clock },
        );
        for (const event of page.events) {
          const record = parseCloudTrailEvent(event) as {
            eventTime?: unknown;
            errorMessage?: unknown;
            additionalEventData?: { SecretId?: unknown };
          };
          const secretId = record?.additionalEventData?.SecretId;
          if (typeof secretId !== "string" || typeof record.eventTime !== "string") continue;
          const key = stripArnSuffix(secretId);
          const known = failures.get(key);
          if (!known || known.at < record.eventTime) {
            failures.set(key, {
              at: record.eventTime,
              event: eventName,
              error: typeof record.errorMessage === "string" ? record.errorMessage : undefined,
            });
          }
        }
        nextToken = page.nextToken;
      } while (nextToken);
    }
    return { failures };
  } catch (error) {
    // The rest of the status is still worth showing without the failure history.
    return { failures, unknown: describeError(error) };
  }
}
