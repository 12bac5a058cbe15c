import type { Evidence } from "./evidence.ts";
import type { IncidentLog } from "./log.ts";

/** At most this many calls are listed in timeline.md; evidence.json always has all of them. */
export const TIMELINE_EVENT_LIMIT = 500;

/** A Markdown table cell: pipes escaped, one line. */
function cell(value: string | number | undefined): string {
  return String(value ?? "")
    .replace(/\|/g, "\\|")
    .replace(/\s*\n\s*/g, " ");
}

function table(
  headers: readonly string[],
  rows: readonly (readonly (string | number | undefined)[])[],
): string[] {
  return [
    `| ${headers.join(" | ")} |`,
    `| ${headers.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
}

/** timeline.md: the evidence and the response in the order a reviewer reads them. */
export function renderTimeline(evidence: Evidence, log: IncidentLog): string {
  const { secret } = evidence;
  const lines = [
    `# Incident response: ${secret.name}`,
    "",
    `- Secret: \`${secret.arn}\``,
    `- Started: ${log.startedAt} by \`${log.by.callerArn}\` (${log.by.operator})`,
    `- Evidence window: ${evidence.window.since} to ${evidence.window.until}, from ${evidence.window.source}`,
    "- Files: `evidence.json` (everything below, as data), `response.json` (the plan and each step's outcome),",
    "  this file, and `SHA256SUMS` (check with `sha256sum -c SHA256SUMS` in this folder). No secret value is in any of them.",
    "",
    "## The secret before the response",
    "",
    `- Rotation: ${secret.rotation.enabled ? "enabled" : "not enabled"}${secret.rotation.lambdaArn ? ` with \`${secret.rotation.lambdaArn}\`` : ""}; last rotated ${secret.rotation.lastRotatedDate ?? "never"}; next ${secret.rotation.nextRotationDate ?? "not scheduled"}`,
    `- Rotation rules: ${secret.rotation.rules ? `\`${JSON.stringify(secret.rotation.rules)}\`` : "none"}`,
    `- KMS key: ${secret.kmsKeyId ?? "aws/secretsmanager (default)"}; created ${secret.createdDate ?? "?"}; last changed ${secret.lastChangedDate ?? "?"}; last accessed ${secret.lastAccessedDate ?? "?"}`,
    `- Resource policy: ${evidence.resourcePolicy === null ? "none" : "see evidence.json (`resourcePolicy`)"}`,
    `- Tags: ${
      Object.entries(secret.tags)
        .map(([key, value]) => `\`${key}=${value}\``)
        .join(", ") || "none"
    }`,
    "",
    ...table(
      ["Version", "Stages", "Created", "Last accessed"],
      evidence.versions.map((version) => [
        version.versionId,
        version.stages.join(", ") || "(deprecated)",
        version.createdDate,
        version.lastAccessedDate,
      ]),
    ),
    "",
    "## Who read or changed it",
    "",
    ...(evidence.access.length === 0
      ? ["Nobody, in the window."]
      : table(
          ["Principal", "Call", "Outcome", "From", "Count", "First", "Last"],
          evidence.access.map((row) => [
            row.principal,
            row.eventName,
            row.outcome,
            row.origin,
            row.count,
            row.firstSeen,
            row.lastSeen,
          ]),
        )),
    "",
    "## Scanner findings",
    "",
    ...(evidence.findings.length === 0
      ? ["None."]
      : table(
          ["Severity", "Rule", "Title", "First", "Last"],
          evidence.findings.map((finding) => [
            finding.severity,
            finding.rule,
            finding.title,
            finding.firstSeen,
            finding.lastSeen,
          ]),
        )),
    "",
    "## Calls, oldest first",
    "",
    ...(evidence.events.length > TIMELINE_EVENT_LIMIT
      ? [`The last ${TIMELINE_EVENT_LIMIT} of ${evidence.events.length}; evidence.json lists every one.`, ""]
      : []),
    ...(evidence.events.length === 0
      ? ["None in the window."]
      : table(
          ["Time (UTC)", "Who", "Call", "Outcome", "From", "Event id"],
          evidence.events
            .slice(-TIMELINE_EVENT_LIMIT)
            .map((event) => [
              event.time,
              event.session ? `${event.principal} (${event.session})` : event.principal,
              event.eventName,
              event.outcome,
              event.origin,
              event.eventId,
            ]),
        )),
    "",
    "## Response",
    "",
    ...table(
      ["Step", "Outcome", "When", "What happened", "State left"],
      log.steps.map((step) => [
        step.step,
        step.status,
        step.finishedAt ?? step.startedAt,
        step.detail,
        step.state,
      ]),
    ),
    ...(log.undo
      ? [
          "",
          "To undo the deny (puts the resource policy back as it was before the response):",
          "",
          "```sh",
          log.undo,
          "```",
        ]
      : []),
    "",
  ];
  return lines.join("\n");
}
