import { type MessageAttributeValue, PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { type Finding, rotationGroupKey, type SecretRotatedEvent, type Severity } from "../../lib/finding.ts";
import { redact, redactText } from "../../lib/redaction.ts";
import type { AlertGroup, Sample } from "./grouping.ts";
import { findingLinks, secretConsoleUrl, secretName } from "./links.ts";
import { dedupKeyFor } from "./pagerduty-events.ts";
import { byteLength, singleLine, snsSubject, truncate, truncateBytes } from "./text.ts";

// SNS: a whole Publish (message and attributes) at most 256 KiB. Attributes are capped below, so the
// message keeps 4 KiB clear of the limit for them.
export const MAX_PUBLISH_BYTES = 256 * 1024;
const MAX_ATTRIBUTE_CHARS = 1_024;
const MAX_MESSAGE_BYTES = MAX_PUBLISH_BYTES - 4 * 1024;
// Chat messages stay short; the full detail is in the default message and in PagerDuty.
const MAX_CHAT_DESCRIPTION_CHARS = 3_500;
const MAX_CHAT_TITLE_CHARS = 250;

/**
 * One SNS message, published with MessageStructure "json": `default` (email, SQS, Lambda, ...) is the
 * human-readable text followed by the JSON finding; `https` is an Amazon Q Developer in chat applications
 * (AWS Chatbot) custom notification, which is the only format it posts to Slack, Teams or Chime.
 */
export interface SnsNotification {
  readonly subject: string;
  /** The human-readable text plus the JSON finding: what email and queue subscribers receive. */
  readonly defaultMessage: string;
  /** The chat-application custom notification (https subscribers, which is how AWS Chatbot subscribes). */
  readonly chatMessage: ChatNotification;
  /** `severity`, `rule`, `secret` (when known) and `status`, for subscription filter policies. */
  readonly attributes: Record<string, MessageAttributeValue>;
}

/** The custom-notification event format of Amazon Q Developer in chat applications (formerly AWS Chatbot). */
export interface ChatNotification {
  version: "1.0";
  source: "custom";
  id: string;
  content: {
    textType: "client-markdown";
    title: string;
    description: string;
    nextSteps: string[];
    keywords: string[];
  };
  metadata: {
    /** Every update of one problem (firing, resolved) lands in one chat thread. */
    threadId: string;
    summary: string;
    eventType: string;
    relatedResources: string[];
    additionalContext: Record<string, string>;
  };
}

const EMOJI: Record<Severity | "resolved" | "rotated", string> = {
  critical: ":rotating_light:",
  high: ":red_circle:",
  medium: ":large_orange_diamond:",
  low: ":small_blue_diamond:",
  info: ":information_source:",
  resolved: ":white_check_mark:",
  rotated: ":key:",
};

/** The message attributes every notification may carry, for subscription filter policies (docs/alerts.md). */
export const NOTIFICATION_ATTRIBUTES = ["severity", "rule", "secret", "status"] as const;
/** The values of the `status` attribute. */
export const NOTIFICATION_STATUSES = ["firing", "resolved", "rotated"] as const;
/** The `rule` attribute of a rotation notice. */
export const SECRET_ROTATED_RULE = "secret.rotated";

function attributes(values: {
  severity: Severity;
  rule: string;
  secret: string | undefined;
  status: (typeof NOTIFICATION_STATUSES)[number];
}): Record<string, MessageAttributeValue> {
  const result: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(values)) {
    // SNS rejects empty attribute values.
    if (value) {
      result[name] = { DataType: "String", StringValue: truncate(redactText(value), MAX_ATTRIBUTE_CHARS) };
    }
  }
  return result;
}

function listLine(sample: Sample): string {
  if (sample.total === 0) return "none recorded";
  const more = sample.total - sample.values.length;
  return sample.values.join(", ") + (more > 0 ? ` (+${more} more)` : "");
}

/** The SNS Message: the per-protocol JSON envelope. */
export function envelope(notification: Pick<SnsNotification, "defaultMessage" | "chatMessage">): string {
  return JSON.stringify({
    default: notification.defaultMessage,
    https: JSON.stringify(notification.chatMessage),
  });
}

/** Bytes the default message may take inside the envelope, next to the given chat message. */
function defaultBudget(chatMessage: ChatNotification): number {
  return MAX_MESSAGE_BYTES - byteLength(envelope({ defaultMessage: "", chatMessage }));
}

/** Size of a string once JSON-escaped inside the envelope. */
const escapedBytes = (text: string) => byteLength(JSON.stringify(text)) - 2;

/** Cuts text until its JSON-escaped form fits `budget` bytes. */
function fitEscaped(text: string, budget: number): string {
  let cut = Math.min(byteLength(text), budget);
  let fitted = truncateBytes(text, cut);
  while (escapedBytes(fitted) > budget && cut > 0) {
    cut = Math.floor(cut * 0.9);
    fitted = truncateBytes(text, cut);
  }
  return fitted;
}

/**
 * Joins the human-readable text and the JSON finding within the size limit: the finding's details go first,
 * then its event id list, and only then is the whole message cut.
 */
function fitDefaultMessage(text: string, finding: Finding | undefined, budget: number): string {
  if (finding) {
    const trimmed = "[trimmed to fit the SNS size limit]";
    const candidates: unknown[] = [
      finding,
      { ...finding, details: trimmed },
      { ...finding, details: trimmed, eventIds: finding.eventIds.slice(0, 20) },
    ];
    for (const candidate of candidates) {
      const message = `${text}\n\nFinding (JSON):\n${JSON.stringify(redact(candidate), null, 2)}\n`;
      if (escapedBytes(message) <= budget) return message;
    }
    return fitEscaped(`${text}\n\nFinding (JSON): trimmed to fit the SNS size limit.\n`, budget);
  }
  return fitEscaped(text, budget);
}

/** A chat notification; its fields are redacted before they are cut (see buildTriggerEvent). */
function chatNotification(unredacted: {
  id: string;
  threadId: string;
  title: string;
  description: string;
  nextSteps: readonly string[];
  keywords: readonly (string | undefined)[];
  eventType: string;
  secretArn: string | undefined;
  context: Record<string, string | number | undefined>;
}): ChatNotification {
  const fields = redact(unredacted);
  const additionalContext: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields.context)) {
    if (value !== undefined && value !== "") additionalContext[key] = truncate(String(value), 256);
  }
  return redact({
    version: "1.0",
    source: "custom",
    id: fields.id,
    content: {
      textType: "client-markdown",
      title: truncate(singleLine(fields.title), MAX_CHAT_TITLE_CHARS),
      description: truncate(fields.description, MAX_CHAT_DESCRIPTION_CHARS),
      nextSteps: fields.nextSteps.map((step) => truncate(step, 1_000)),
      keywords: fields.keywords.filter((keyword): keyword is string => !!keyword).map((k) => truncate(k, 64)),
    },
    metadata: {
      threadId: fields.threadId,
      summary: truncate(singleLine(fields.title), MAX_CHAT_TITLE_CHARS),
      eventType: truncate(fields.eventType, 256),
      relatedResources: fields.secretArn ? [fields.secretArn] : [],
      additionalContext,
    },
  });
}

/** The SNS message for a group of findings; `pagerDuty` says what happened on PagerDuty, in words. */
export function buildFindingNotification(group: AlertGroup, pagerDuty: string): SnsNotification {
  const finding = group.latest;
  if (!finding) throw new Error(`group ${group.groupKey} has no finding to describe`);
  const resolved = group.state === "resolved";
  const label = resolved ? "RESOLVED" : finding.severity.toUpperCase();
  const links = findingLinks({ ...finding, latestEventId: group.eventIds.values[0] });
  const secret = finding.secretArn ? `${secretName(finding.secretArn)} (${finding.secretArn})` : "n/a";
  const occurrences = `${group.count} event(s) in ${group.findings.length} finding(s), ${group.firstSeen} to ${group.lastSeen}`;
  const lines = [
    `[${label}] ${singleLine(finding.title)}`,
    "",
    finding.summary,
    "",
    `Status:       ${resolved ? "resolved" : "firing"} (severity ${group.severity})`,
    `Rule:         ${finding.rule}`,
    `Secret:       ${secret}`,
    `Account:      ${finding.account} (${finding.region})`,
    `Occurrences:  ${occurrences}`,
    `Principals:   ${listLine(group.principals)}`,
    `Origins:      ${listLine(group.origins)}`,
    `Event ids:    ${listLine(group.eventIds)}`,
    `PagerDuty:    ${pagerDuty}`,
    `Runbook:      ${finding.runbook}`,
    ...links
      .filter((link) => link.text !== "Runbook")
      .map((link) => `${`${link.text}:`.padEnd(13)} ${link.href}`),
  ];
  const chatMessage = chatNotification({
    id: finding.id,
    threadId: dedupKeyFor(group.groupKey),
    title: `${EMOJI[resolved ? "resolved" : group.severity]} [${label}] ${finding.title}`,
    description: [
      finding.summary,
      "",
      `*Secret:* ${secret}`,
      `*Occurrences:* ${occurrences}`,
      `*Principals:* ${listLine(group.principals)}`,
      `*Origins:* ${listLine(group.origins)}`,
      `*PagerDuty:* ${pagerDuty}`,
    ].join("\n"),
    nextSteps: [
      ...(links.some((link) => link.text === "Runbook") ? [] : [`Runbook: ${finding.runbook}`]),
      ...links.map((link) => `${link.text}: ${link.href}`),
    ],
    keywords: [group.severity, finding.rule, finding.account, resolved ? "resolved" : "firing"],
    eventType: finding.rule,
    secretArn: finding.secretArn,
    context: {
      groupKey: group.groupKey,
      account: finding.account,
      region: finding.region,
      count: group.count,
    },
  });
  return {
    subject: snsSubject(redactText(`[${label}] ${finding.title}`)),
    defaultMessage: fitDefaultMessage(redactText(lines.join("\n")), finding, defaultBudget(chatMessage)),
    chatMessage,
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
  const consoleUrl = secretConsoleUrl(rotation.secretArn, region);
  const lines = [
    `[ROTATED] Secret ${name} was rotated`,
    "",
    `Secret:       ${rotation.secretArn}`,
    `Strategy:     ${rotation.strategy}`,
    `New version:  ${rotation.versionId}`,
    `Rotated at:   ${rotation.at}`,
    `PagerDuty:    ${pagerDuty}`,
    `Console:      ${consoleUrl}`,
    "",
    "Services that read the secret only at start-up pick the new version up when they restart.",
    "",
    "Event (JSON):",
    JSON.stringify(rotation, null, 2),
  ];
  const chatMessage = chatNotification({
    id: `${rotation.secretArn}:${rotation.versionId}`,
    threadId: dedupKeyFor(rotationGroupKey(rotation.secretArn)),
    title: `${EMOJI.rotated} [ROTATED] ${name}`,
    description: [
      `Secret *${name}* was rotated (${rotation.strategy}) at ${rotation.at}; new version ${rotation.versionId}.`,
      `*PagerDuty:* ${pagerDuty}`,
    ].join("\n"),
    nextSteps: [`Secret in the console: ${consoleUrl}`],
    keywords: ["info", "secret.rotated", rotation.strategy],
    eventType: "secret.rotated",
    secretArn: rotation.secretArn,
    context: { versionId: rotation.versionId, strategy: rotation.strategy },
  });
  return {
    subject: snsSubject(redactText(`[ROTATED] ${name}`)),
    defaultMessage: fitEscaped(redactText(lines.join("\n")), defaultBudget(chatMessage)),
    chatMessage,
    attributes: attributes({
      severity: "info",
      rule: SECRET_ROTATED_RULE,
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
      MessageStructure: "json",
      Message: envelope(notification),
      MessageAttributes: notification.attributes,
    }),
    abortSignal ? { abortSignal } : {},
  );
  return output.MessageId;
}
