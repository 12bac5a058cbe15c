import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SNSClient } from "@aws-sdk/client-sns";
import { groupQueueItems } from "../functions/notify/grouping.ts";
import { postPagerDutyEvent, systemClock } from "../functions/notify/pagerduty-client.ts";
import { buildTriggerEvent, dedupKeyFor, withRoutingKey } from "../functions/notify/pagerduty-events.ts";
import { createRoutingKeySource } from "../functions/notify/routing-key.ts";
import { buildFindingNotification, publishNotification } from "../functions/notify/sns.ts";
import { type Finding, findingId } from "../lib/finding.ts";
import { IncidentError } from "./errors.ts";
import type { IncidentLog } from "./log.ts";

/** The `rule` of the record's finding (its SNS `rule` attribute, PagerDuty's `class`). */
export const INCIDENT_RULE = "incident.response";
export const INCIDENT_RUNBOOK = "docs/incident-response.md";

/** Where the record goes: the notifier's own PagerDuty routing and alerts topic. */
export interface RecordTargets {
  /** The Secrets Manager secret holding the PagerDuty integration key (PAGERDUTY_ROUTING_KEY_SECRET_ID). */
  routingKeySecretId: string;
  /** PAGERDUTY_EVENTS_URL. */
  eventsUrl: string;
  /** ALERTS_TOPIC_ARN. */
  topicArn: string;
}

/** The response as a finding, so the notifier's PagerDuty and SNS builders render it like any alert. */
export function incidentFinding(
  log: IncidentLog,
  secret: { arn: string; name: string; region: string; account: string },
): Finding {
  const done = log.steps.filter((step) => step.step !== "record");
  const failed = done.find((step) => step.status === "failed");
  const actions = done.map((step) => `${step.step}: ${step.status} — ${step.detail}`);
  return {
    id: findingId(INCIDENT_RULE, secret.arn, log.startedAt),
    rule: INCIDENT_RULE,
    severity: "high",
    title: `Incident response on ${secret.name}${failed ? ` stopped at ${failed.step}` : ""}`,
    summary: `${log.by.callerArn} (${log.by.operator}) ran \`vigil incident\` on ${secret.arn} at ${log.startedAt}. ${actions.join(" ")} Evidence: ${log.outDir} (evidence.json sha256 ${log.evidenceSha256 ?? "not written"}).`,
    secretArn: secret.arn,
    principal: log.by.callerArn,
    region: secret.region,
    account: secret.account,
    eventIds: [],
    firstSeen: log.startedAt,
    lastSeen: log.startedAt,
    count: 1,
    groupKey: `${INCIDENT_RULE}:${secret.arn}:${log.startedAt}`,
    details: {
      responder: log.by,
      started_at: log.startedAt,
      evidence: { folder: log.outDir, evidence_json_sha256: log.evidenceSha256 },
      steps: done.map(({ step, status, detail, state, finishedAt }) => ({
        step,
        status,
        detail,
        state,
        at: finishedAt,
      })),
      ...(log.undo ? { undo: log.undo } : {}),
    },
    runbook: INCIDENT_RUNBOOK,
  };
}

/**
 * Triggers one PagerDuty incident (Events API v2, the notifier's client, routing key and event builder) and
 * publishes one SNS message (the notifier's message builder) for the response. Tries both; throws
 * IncidentError naming what did not arrive.
 */
export async function recordIncident(
  finding: Finding,
  targets: RecordTargets,
  deps: { secretsManager: SecretsManagerClient; sns: SNSClient; fetch: typeof fetch; now: () => number },
): Promise<{ dedupKey: string; messageId: string | undefined }> {
  const [group] = groupQueueItems([{ messageId: finding.id, message: finding }]);
  const problems: string[] = [];
  const dedupKey = dedupKeyFor(finding.groupKey);
  let pagerDuty = `incident triggered (dedup key ${dedupKey})`;
  try {
    const routingKey = await createRoutingKeySource(deps.secretsManager, {
      secretId: targets.routingKeySecretId,
      cacheMs: 0,
    }).get();
    await postPagerDutyEvent(targets.eventsUrl, withRoutingKey(buildTriggerEvent(group!), routingKey), {
      fetch: deps.fetch,
      clock: systemClock,
      retry: { baseDelayMs: 250, maxDelayMs: 4_000, requestTimeoutMs: 10_000, deadlineMarginMs: 0 },
      deadline: deps.now() + 30_000,
    });
  } catch (error) {
    pagerDuty = `not reached: ${error instanceof Error ? error.message : String(error)}`;
    problems.push(`PagerDuty ${pagerDuty}`);
  }
  let messageId: string | undefined;
  try {
    messageId = await publishNotification(
      deps.sns,
      targets.topicArn,
      buildFindingNotification(group!, pagerDuty),
    );
  } catch (error) {
    problems.push(
      `SNS Publish to ${targets.topicArn} failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
    );
  }
  if (problems.length > 0) throw new IncidentError(problems.join("; "));
  return { dedupKey, messageId };
}
