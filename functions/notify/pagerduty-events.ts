import { createHash } from "node:crypto";
import type { SecretRotatedEvent } from "../../lib/finding.ts";
import { redact } from "../../lib/redaction.ts";
import type { AlertGroup } from "./grouping.ts";
import { findingLinks, type Link, secretConsoleUrl, secretName } from "./links.ts";
import { PAGERDUTY_SEVERITY, type PagerDutySeverity } from "./routing.ts";
import { byteLength, singleLine, truncate } from "./text.ts";

// PagerDuty Events API v2 limits: summary 1024 characters, dedup_key 255, whole event 512 KB. The byte
// budget is kept below 512,000 so the routing key and JSON framing added afterwards always fit.
export const MAX_SUMMARY_CHARS = 1024;
export const MAX_DEDUP_KEY_CHARS = 255;
export const MAX_EVENT_BYTES = 512_000;
const EVENT_BYTE_BUDGET = MAX_EVENT_BYTES - 2_048;
const MAX_FIELD_CHARS = 255;
const MAX_DETAIL_STRING_CHARS = 1_024;

/** An alert event (trigger or resolve) before its routing key is added. */
export interface AlertEventBody {
  event_action: "trigger" | "resolve";
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  client?: string;
  client_url?: string;
  links?: Link[];
}

/** A change event before its routing key is added. */
export interface ChangeEventBody {
  payload: {
    summary: string;
    timestamp: string;
    source?: string;
    custom_details?: Record<string, unknown>;
  };
  links?: Link[];
}

/** The dedup key of a group: stable across batches and redeliveries, so one problem is one incident. */
export function dedupKeyFor(groupKey: string): string {
  return `vigil-${createHash("sha256").update(groupKey).digest("hex")}`;
}

/** The one-line summary a responder reads first, at most 1024 characters, with the occurrence count kept. */
export function alertSummary(title: string, summary: string, count: number): string {
  const suffix = count > 1 ? ` [${count} events]` : "";
  const text = singleLine(summary === "" ? title : `${title}: ${summary}`);
  return truncate(text, MAX_SUMMARY_CHARS - suffix.length) + suffix;
}

/**
 * A trigger event for a firing group, redacted and trimmed to PagerDuty's limits. The finding is redacted
 * before anything is cut: a cut through a secret would leave a prefix that no longer matches it.
 */
export function buildTriggerEvent(group: AlertGroup): AlertEventBody {
  if (!group.latest) throw new Error(`group ${group.groupKey} has no finding to trigger on`);
  const finding = redact(group.latest);
  const latestEventId = group.eventIds.values[0];
  const links = findingLinks({ ...finding, latestEventId });
  const customDetails: Record<string, unknown> = {
    summary: finding.summary,
    rule: finding.rule,
    severity: group.severity,
    secret_arn: finding.secretArn,
    account: finding.account,
    region: finding.region,
    occurrences: group.count,
    findings_in_batch: group.findings.length,
    first_seen: group.firstSeen,
    last_seen: group.lastSeen,
    principals: group.principals.values,
    principal_count: group.principals.total,
    origins: group.origins.values,
    origin_count: group.origins.total,
    sample_event_ids: group.eventIds.values,
    event_id_count: group.eventIds.total,
    runbook: finding.runbook,
    links: Object.fromEntries(links.map((link) => [link.text, link.href])),
    group_key: group.groupKey,
    details: finding.details,
  };
  const event: AlertEventBody = {
    event_action: "trigger",
    dedup_key: dedupKeyFor(group.groupKey),
    payload: {
      summary: alertSummary(finding.title, finding.summary, group.count),
      source: truncate(finding.secretArn ?? `aws:${finding.account}:${finding.region}`, MAX_FIELD_CHARS),
      severity: PAGERDUTY_SEVERITY[group.severity],
      timestamp: group.lastSeen,
      component: truncate(
        finding.secretArn ? secretName(finding.secretArn) : finding.account,
        MAX_FIELD_CHARS,
      ),
      group: truncate(finding.account, MAX_FIELD_CHARS),
      class: truncate(finding.rule, MAX_FIELD_CHARS),
      custom_details: customDetails,
    },
    client: "Vigil",
    links,
  };
  const client_url = links.find((link) => link.text === "Secret in the console")?.href;
  if (client_url) event.client_url = client_url;
  return fitEvent(redact(event));
}

/** A resolve event for a group. */
export function buildResolveEvent(groupKey: string): AlertEventBody {
  return { event_action: "resolve", dedup_key: dedupKeyFor(groupKey) };
}

/** A change event for a successful rotation: shown on the service's timeline, never pages. */
export function buildChangeEvent(rotated: SecretRotatedEvent): ChangeEventBody {
  // Redacted before anything is cut (see buildTriggerEvent).
  const rotation = redact(rotated);
  const name = secretName(rotation.secretArn);
  const region = rotation.secretArn.split(":")[3] || "us-east-1";
  const event: ChangeEventBody = {
    payload: {
      summary: truncate(
        singleLine(`Secret rotated: ${name} (${rotation.strategy}), new version ${rotation.versionId}`),
        MAX_SUMMARY_CHARS,
      ),
      timestamp: rotation.at,
      source: truncate(rotation.secretArn, MAX_FIELD_CHARS),
      custom_details: {
        secret_arn: rotation.secretArn,
        version_id: rotation.versionId,
        strategy: rotation.strategy,
        rotated_at: rotation.at,
      },
    },
    links: [{ href: secretConsoleUrl(rotation.secretArn, region), text: "Secret in the console" }],
  };
  return redact(event);
}

/** Adds the routing key last, after redaction (which would blank a `routing_key` field). */
export function withRoutingKey<T extends object>(body: T, routingKey: string): T & { routing_key: string } {
  return { routing_key: routingKey, ...body };
}

/**
 * Keeps an event within PagerDuty's size limit without ever dropping the page: first the finding's own
 * details go, then long strings are cut, and finally only the essentials stay. What was trimmed is noted.
 */
export function fitEvent(event: AlertEventBody, maxBytes = EVENT_BYTE_BUDGET): AlertEventBody {
  const size = (value: unknown) => byteLength(JSON.stringify(value));
  const details = event.payload?.custom_details;
  if (!event.payload || !details || size(event) <= maxBytes) return event;

  const withDetails = (custom: Record<string, unknown>): AlertEventBody => ({
    ...event,
    payload: { ...event.payload!, custom_details: custom },
  });

  const originalBytes = size(details.details ?? null);
  let trimmed: Record<string, unknown> = {
    ...details,
    details: `[trimmed: the finding's details (${originalBytes} bytes) do not fit PagerDuty's size limit]`,
    trimmed: "details",
  };
  if (size(withDetails(trimmed)) <= maxBytes) return withDetails(trimmed);

  trimmed = {
    ...(cutStrings(trimmed, MAX_DETAIL_STRING_CHARS) as Record<string, unknown>),
    trimmed: "details, long strings",
  };
  if (size(withDetails(trimmed)) <= maxBytes) return withDetails(trimmed);

  const essentials = Object.fromEntries(
    ["rule", "severity", "secret_arn", "account", "region", "occurrences", "first_seen", "last_seen"].map(
      (key) => [key, cutStrings(details[key], MAX_FIELD_CHARS)],
    ),
  );
  const minimal: AlertEventBody = {
    ...withDetails({ ...essentials, trimmed: "everything but the essentials" }),
    links: (event.links ?? []).slice(0, 3).map((link) => ({
      href: truncate(link.href, 2_048, ""),
      text: truncate(link.text, MAX_FIELD_CHARS),
    })),
  };
  if (minimal.client_url) minimal.client_url = truncate(minimal.client_url, 2_048, "");
  return minimal;
}

/** Cuts every string to `maxChars`, every array and object to 100 entries, and nesting to 4 levels. */
function cutStrings(value: unknown, maxChars: number, depth = 0): unknown {
  if (typeof value === "string") return truncate(value, maxChars);
  if (value === null || typeof value !== "object") return value;
  if (depth >= 4) return "[trimmed: nested too deep]";
  if (Array.isArray(value)) return value.slice(0, 100).map((item) => cutStrings(item, maxChars, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, 100)
      .map(([key, inner]) => [truncate(key, MAX_FIELD_CHARS), cutStrings(inner, maxChars, depth + 1)]),
  );
}
