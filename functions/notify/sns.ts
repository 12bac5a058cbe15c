import { type MessageAttributeValue, PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { Finding, SecretRotatedEvent } from "../../lib/finding.ts";
import { redact, redactText } from "../../lib/redaction.ts";
import type { AlertGroup, Sample } from "./grouping.ts";
import { findingLinks, secretConsoleUrl, secretName } from "./links.ts";
import { byteLength, singleLine, snsSubject, truncate, truncateBytes } from "./text.ts";

// SNS: a whole Publish (message and attributes) at most 256 KiB; attributes are capped below, so the
// message keeps 4 KiB clear of the limit for them.
export const MAX_PUBLISH_BYTES = 256 * 1024;
const MAX_ATTRIBUTE_CHARS = 1_024;
const MAX_MESSAGE_BYTES = MAX_PUBLISH_BYTES - 4 * 1024;

/** One SNS message, ready to publish. */
export interface SnsNotification {
  readonly subject: string;
  readonly message: string;
  /** `severity`, `rule`, `secret` (when known) and `status`, for subscription filter policies. */
  readonly attributes: Record<string, MessageAttributeValue>;
}

function attributes(values: Record<string, string | undefined>): Record<string, MessageAttributeValue> {
  const result: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(values)) {
    // SNS rejects empty attribute values.
    if (value)
      result[name] = { DataType: "String", StringValue: truncate(redactText(value), MAX_ATTRIBUTE_CHARS) };
  }
  return result;
}

function listLine(sample: Sample): string {
  if (sample.total === 0) return "none recorded";
  const more = sample.total - sample.values.length;
  return sample.values.join(", ") + (more > 0 ? ` (+${more} more)` : "");
}

/**
 * Joins the human-readable text and the JSON finding within the size limit: the finding's details go first,
 * then its event id list, and only then is the whole message cut.
 */
function fitMessage(text: string, finding: Finding | undefined): string {
  if (!finding) return truncateBytes(text, MAX_MESSAGE_BYTES);
  const candidates: unknown[] = [
    finding,
    { ...finding, details: "[trimmed to fit the SNS size limit]" },
    { ...finding, details: "[trimmed to fit the SNS size limit]", eventIds: finding.eventIds.slice(0, 20) },
  ];
  for (const candidate of candidates) {
    const message = `${text}\n\nFinding (JSON):\n${JSON.stringify(redact(candidate), null, 2)}\n`;
    if (byteLength(message) <= MAX_MESSAGE_BYTES) return message;
  }
  return truncateBytes(`${text}\n\nFinding (JSON): trimmed to fit the SNS size limit.\n`, MAX_MESSAGE_BYTES);
}

/** The SNS message for a group of findings; `pagerDuty` says what happened on PagerDuty, in words. */
export function buildFindingNotification(group: AlertGroup, pagerDuty: string): SnsNotification {
  const finding = group.latest;
  if (!finding) throw new Error(`group ${group.groupKey} has no finding to describe`);
  const resolved = group.state === "resolved";
  const label = resolved ? "RESOLVED" : finding.severity.toUpperCase();
  const links = findingLinks({ ...finding, latestEventId: group.eventIds.values[0] });
  const lines = [
    `[${label}] ${singleLine(finding.title)}`,
    "",
    finding.summary,
    "",
    `Status:       ${resolved ? "resolved" : "firing"} (severity ${group.severity})`,
    `Rule:         ${finding.rule}`,
    `Secret:       ${finding.secretArn ? `${secretName(finding.secretArn)} (${finding.secretArn})` : "n/a"}`,
    `Account:      ${finding.account} (${finding.region})`,
    `Occurrences:  ${group.count} event(s) in ${group.findings.length} finding(s), ${group.firstSeen} to ${group.lastSeen}`,
    `Principals:   ${listLine(group.principals)}`,
    `Origins:      ${listLine(group.origins)}`,
    `Event ids:    ${listLine(group.eventIds)}`,
    `PagerDuty:    ${pagerDuty}`,
    `Runbook:      ${finding.runbook}`,
    ...links
      .filter((link) => link.text !== "Runbook")
      .map((link) => `${`${link.text}:`.padEnd(13)} ${link.href}`),
  ];
  return {
    subject: snsSubject(redactText(`[${label}] ${finding.title}`)),
    message: fitMessage(redactText(lines.join("\n")), finding),
    attributes: attributes({
      severity: group.severity,
      rule: finding.rule,
      secret: finding.secretArn,
      status: resolved ? "resolved" : "firing",
    }),
  };
}

/** The SNS message for a successful rotation. */
export function buildRotationNotification(rotation: SecretRotatedEvent, pagerDuty: string): SnsNotification {
  const name = secretName(rotation.secretArn);
  const region = rotation.secretArn.split(":")[3] || "us-east-1";
  const lines = [
    `[ROTATED] Secret ${name} was rotated`,
    "",
    `Secret:       ${rotation.secretArn}`,
    `Strategy:     ${rotation.strategy}`,
    `New version:  ${rotation.versionId}`,
    `Rotated at:   ${rotation.at}`,
    `PagerDuty:    ${pagerDuty}`,
    `Console:      ${secretConsoleUrl(rotation.secretArn, region)}`,
    "",
    "Services that read the secret only at start-up pick the new version up when they restart.",
    "",
    "Event (JSON):",
    JSON.stringify(rotation, null, 2),
  ];
  return {
    subject: snsSubject(redactText(`[ROTATED] ${name}`)),
    message: truncateBytes(redactText(lines.join("\n")), MAX_MESSAGE_BYTES),
    attributes: attributes({
      severity: "info",
      rule: "secret.rotated",
      secret: rotation.secretArn,
      status: "rotated",
    }),
  };
}

/** Publishes one notification; the abort signal keeps it inside the invocation's deadline. */
export async function publishNotification(
  client: SNSClient,
  topicArn: string,
  notification: SnsNotification,
  abortSignal?: AbortSignal,
): Promise<string | undefined> {
  const output = await client.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: notification.subject,
      Message: notification.message,
      MessageAttributes: notification.attributes,
    }),
    abortSignal ? { abortSignal } : {},
  );
  return output.MessageId;
}
