import type { ComplianceReport } from "./model.ts";

/** One RFC 4180 field: quoted when it holds a comma, a quote or a line break; quotes doubled. */
export function csvField(value: string | number | boolean | undefined): string {
  const text = value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csv(
  header: readonly string[],
  rows: readonly (readonly (string | number | boolean | undefined)[])[],
): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(",")}\r\n`).join("");
}

/** The report as three RFC 4180 files (CRLF line ends, a header row each), keyed by file name. */
export function renderCsv(
  report: ComplianceReport,
): Record<"rotation.csv" | "access.csv" | "findings.csv", string> {
  return {
    "rotation.csv": csv(
      [
        "secret",
        "arn",
        "owner",
        "sensitivity",
        "strategy",
        "max_rotation_days",
        "rotations_in_period",
        "rotations",
        "last_rotated",
        "days_since_last",
        "longest_gap_days",
        "compliance",
        "reason",
      ],
      report.rotation.map((row) => [
        row.name,
        row.arn,
        row.owner,
        row.sensitivity,
        row.strategy,
        row.maxRotationDays,
        row.rotations.filter((rotation) => rotation.outcome === "succeeded").length,
        row.rotations
          .map(
            (rotation) =>
              `${rotation.at} ${rotation.outcome}${rotation.source ? ` (${rotation.source})` : ""}`,
          )
          .join("; "),
        row.lastRotated ?? "never",
        row.daysSinceLast,
        row.longestGapDays,
        row.compliance,
        row.reason,
      ]),
    ),
    "access.csv": csv(
      [
        "secret",
        "principal",
        "principal_type",
        "reads",
        "denied",
        "first_seen",
        "last_seen",
        "origins",
        "expected",
      ],
      report.access.map((row) => [
        row.secret,
        row.principal,
        row.principalType,
        row.reads,
        row.denied,
        row.firstSeen,
        row.lastSeen,
        row.origins.join(" "),
        row.readersDeclared ? (row.unexpected ? "no" : "yes") : "no readers declared",
      ]),
    ),
    "findings.csv": csv(
      [
        "rule",
        "severity",
        "status",
        "secret",
        "principal",
        "count",
        "first_seen",
        "last_seen",
        "title",
        "id",
      ],
      report.findings.map((finding) => [
        finding.rule,
        finding.severity,
        finding.status,
        finding.secretArn,
        finding.principal,
        finding.count,
        finding.firstSeen,
        finding.lastSeen,
        finding.title,
        finding.id,
      ]),
    ),
  };
}
