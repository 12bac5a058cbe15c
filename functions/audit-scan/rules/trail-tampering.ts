import type { AuditEvent } from "../normalise.ts";
import {
  about,
  describeOrigin,
  describePrincipal,
  NO_SIGNALS,
  type Rule,
  type Signal,
  succeeded,
} from "../rule.ts";

/** CloudTrail stopped, deleted, or told to stop recording the events the scanner reads. */
export const trailTampering: Rule = {
  id: "trail-tampering",
  severity: "critical",
  description:
    "Fires when CloudTrail logging is stopped (`StopLogging`), a trail is deleted (`DeleteTrail`), or a trail's selectors stop recording what the scanner needs: read events (`readWriteType: WriteOnly`), management events, or the Secrets Manager / KMS event sources (`excludeManagementEventSources`, advanced selectors excluding them). Blinding the audit trail usually comes right before the access it would have recorded.",
  runbook:
    "Restore logging first (`aws cloudtrail start-logging --name <trail>`, or put the selectors back), then find out who did it and why: the principal's other calls around that time, its sessions and keys. Anything that happened while logging was off is invisible — assume the secrets the principal could read were read and rotate them.",
  falsePositives:
    "Planned trail migrations (a new trail replacing an old one) delete or stop trails on purpose: suppress this rule for the migrating principal until the date the change window ends.",
  events: { cloudtrail: ["StopLogging", "DeleteTrail", "PutEventSelectors"] },
  evaluate(event) {
    if (event.service !== "cloudtrail" || !succeeded(event)) return NO_SIGNALS;
    const problem = problemOf(event);
    if (!problem) return NO_SIGNALS;
    const trail = trailName(event);
    const signal: Signal = {
      kind: "alert",
      detection: {
        severity: problem.severity,
        title: `CloudTrail ${problem.what}: ${trail}`,
        summary: `${describePrincipal(event)} called ${event.eventName} on the trail ${trail} from ${describeOrigin(event)}: ${problem.what}. ${problem.impact}`,
        group: `${event.account}|${event.region}|${trail}`,
        ...about(event, { trail }),
      },
    };
    return [signal];
  },
};

function problemOf(
  event: AuditEvent,
): { what: string; impact: string; severity: "critical" | "high" } | undefined {
  if (event.eventName === "StopLogging") {
    return {
      what: "logging stopped",
      impact: "Nothing is recorded until logging is started again.",
      severity: "critical",
    };
  }
  if (event.eventName === "DeleteTrail") {
    return { what: "trail deleted", impact: "The trail no longer records anything.", severity: "critical" };
  }
  if (event.eventName === "PutEventSelectors") {
    const selectors = [...list(event.request.eventSelectors), ...list(event.request.advancedEventSelectors)];
    const excluded = selectors.flatMap(exclusionsOf);
    if (excluded.length === 0) return undefined;
    return {
      what: "selectors exclude events the scanner reads",
      impact: `The trail now leaves out ${[...new Set(excluded)].join(", ")}.`,
      severity: "high",
    };
  }
  return undefined;
}

const WATCHED_SOURCES = ["secretsmanager.amazonaws.com", "kms.amazonaws.com"];

function exclusionsOf(selector: unknown): string[] {
  if (typeof selector !== "object" || selector === null) return [];
  const s = selector as Record<string, unknown>;
  const out: string[] = [];
  if (s.readWriteType === "WriteOnly") out.push("read events");
  if (s.includeManagementEvents === false) out.push("management events");
  for (const source of list(s.excludeManagementEventSources)) {
    if (typeof source === "string" && WATCHED_SOURCES.includes(source)) out.push(`${source} events`);
  }
  for (const field of list(s.fieldSelectors)) {
    if (typeof field !== "object" || field === null) continue;
    const f = field as Record<string, unknown>;
    if (f.field === "readOnly" && list(f.equals).some((value) => value === "false" || value === false)) {
      out.push("read events");
    }
    if (
      f.field === "eventSource" &&
      list(f.notEquals).some((value) => WATCHED_SOURCES.includes(String(value)))
    ) {
      out.push(`${list(f.notEquals).join(", ")} events`);
    }
  }
  return out;
}

function trailName(event: AuditEvent): string {
  const name = event.request.name ?? event.request.trailName;
  // StopLogging and DeleteTrail take the name or the ARN; the title keeps the name.
  return typeof name === "string"
    ? name.replace(/^arn:[^:]+:cloudtrail:[^:]*:\d*:trail\//, "")
    : "(unnamed trail)";
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
