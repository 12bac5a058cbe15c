import { nameOf } from "../rule.ts";
import type { ComplianceReport, RotationRow } from "./model.ts";

/**
 * The report as one self-contained HTML page: inline CSS and SVG, no script, no external resource, so it
 * opens offline, archives as one file and prints (tables repeat their headers, timelines stay whole).
 */

const DAY_MS = 86_400_000;
const WIDTH = 640;
const HEIGHT = 34;
const BAR_Y = 12;
const BAR_H = 10;

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string | number | undefined): string {
  return String(text ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

const day = (iso: string | undefined) => (iso ? iso.slice(0, 10) : "never");
const time = (iso: string) => `${iso.slice(0, 16).replace("T", " ")}Z`;

/** One secret's rotations across the period, the policy deadline after each, and the overdue stretches. */
export function rotationTimeline(row: RotationRow, fromIso: string, toIso: string): string {
  const fromMs = Date.parse(fromIso);
  const toMs = Date.parse(toIso);
  const x = (ms: number) => ((Math.min(Math.max(ms, fromMs), toMs) - fromMs) / (toMs - fromMs)) * WIDTH;
  const parts: string[] = [
    `<rect class="period" x="0" y="${BAR_Y}" width="${WIDTH}" height="${BAR_H}" fill="#e6ebf0"/>`,
  ];
  const successes = row.rotations
    .filter((rotation) => rotation.outcome === "succeeded")
    .map((rotation) => Date.parse(rotation.at));
  const starts = [Date.parse(row.reference), ...successes];
  const neverRotated = row.lastRotated === undefined;
  for (let index = 0; index < starts.length; index++) {
    const start = starts[index] as number;
    const end = starts[index + 1] ?? toMs;
    // Before the first rotation on record the clock runs from creation (or the period's start).
    const deadline = neverRotated ? start : start + row.maxRotationDays * DAY_MS;
    if (!row.canary && deadline < end && deadline < toMs) {
      parts.push(
        `<rect class="overdue" x="${x(deadline).toFixed(1)}" y="${BAR_Y}" width="${(x(end) - x(deadline)).toFixed(1)}" height="${BAR_H}" fill="#d64545"><title>overdue from ${day(new Date(deadline).toISOString())}</title></rect>`,
      );
    }
    if (!row.canary && !neverRotated && deadline >= fromMs && deadline <= toMs) {
      parts.push(
        `<line class="deadline" x1="${x(deadline).toFixed(1)}" x2="${x(deadline).toFixed(1)}" y1="6" y2="28" stroke="#7a4b00" stroke-dasharray="3 2"><title>deadline ${day(new Date(deadline).toISOString())}</title></line>`,
      );
    }
  }
  for (const rotation of row.rotations) {
    const cx = x(Date.parse(rotation.at)).toFixed(1);
    const ok = rotation.outcome === "succeeded";
    parts.push(
      `<circle class="rotation ${rotation.outcome}" cx="${cx}" cy="${BAR_Y + BAR_H / 2}" r="5" fill="${ok ? "#1f8a4c" : "#fff"}" stroke="${ok ? "#1f8a4c" : "#d64545"}" stroke-width="2"><title>${escapeHtml(`${time(rotation.at)} ${rotation.outcome}`)}</title></circle>`,
    );
  }
  const label = `Rotation timeline of ${row.name}: ${row.rotations.length} rotation event(s) between ${day(fromIso)} and ${day(toIso)}, ${row.compliance}`;
  return `<svg class="timeline" role="img" aria-label="${escapeHtml(label)}" data-secret="${escapeHtml(row.name)}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" xmlns="http://www.w3.org/2000/svg">${parts.join("")}<text x="0" y="${HEIGHT - 1}" font-size="9" fill="#555">${day(fromIso)}</text><text x="${WIDTH}" y="${HEIGHT - 1}" font-size="9" fill="#555" text-anchor="end">${day(toIso)}</text></svg>`;
}

function table(header: readonly string[], rows: readonly string[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${escapeHtml(empty)}</p>`;
  const head = header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join("");
  const body = rows.map((row) => `<tr>${row.join("")}</tr>`).join("\n");
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const td = (text: string | number | undefined, className?: string) =>
  `<td${className ? ` class="${className}"` : ""}>${escapeHtml(text)}</td>`;

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1c2430;margin:2em auto;max-width:1100px;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #1c2430}
.meta{color:#555}.totals span{display:inline-block;margin-right:1.5em;font-weight:600}
table{border-collapse:collapse;width:100%;margin:.6em 0}th,td{border:1px solid #c7ced6;padding:.25em .45em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef1f4}td.num{text-align:right}
.bad{color:#a31515;font-weight:600}.ok{color:#1f6b3a}.muted{color:#666}
.secret{margin:1em 0;break-inside:avoid;page-break-inside:avoid}.secret h3{font-size:1em;margin:.2em 0}
.legend svg{vertical-align:middle}
@media print{body{margin:0;max-width:none;font-size:11px}thead{display:table-header-group}tr{break-inside:avoid}h2{break-after:avoid}}
`;

/** The whole report as one HTML document. */
export function renderHtml(report: ComplianceReport): string {
  const period = `${day(report.from)} to ${day(new Date(Date.parse(report.to) - 1).toISOString())}`;
  const rotationRows = report.rotation.map((row) => [
    td(row.name),
    td(row.owner ?? "-"),
    td(row.sensitivity),
    td(row.strategy ?? "-"),
    td(row.maxRotationDays, "num"),
    td(
      row.rotations
        .map(
          (rotation) =>
            `${day(rotation.at)} ${rotation.outcome}${rotation.source ? ` (${rotation.source})` : ""}`,
        )
        .join(", ") || "none",
    ),
    td(day(row.lastRotated)),
    td(row.daysSinceLast ?? "-", "num"),
    td(row.longestGapDays, "num"),
    td(
      row.compliance + (row.reason ? `: ${row.reason}` : ""),
      row.compliance === "non-compliant" ? "bad" : row.compliance === "compliant" ? "ok" : "muted",
    ),
  ]);
  const timelines = report.rotation
    .map(
      (row) =>
        `<div class="secret"><h3>${escapeHtml(row.name)} <span class="${row.compliance === "non-compliant" ? "bad" : "muted"}">(${escapeHtml(row.compliance)}, every ${row.maxRotationDays} days)</span></h3>${rotationTimeline(row, report.from, report.to)}</div>`,
    )
    .join("\n");
  const accessRows = report.access.map((row) => [
    td(row.secret),
    td(row.principal),
    td(row.reads, "num"),
    td(row.denied, "num"),
    td(time(row.firstSeen)),
    td(time(row.lastSeen)),
    td(row.origins.join(", ")),
    row.readersDeclared
      ? td(row.unexpected ? "NOT EXPECTED" : "expected", row.unexpected ? "bad unexpected" : "ok")
      : td("no readers declared", "muted"),
  ]);
  const summaryRows = report.findingsByRule.map((summary) => [
    td(summary.rule),
    td(summary.severity),
    td(summary.count, "num"),
  ]);
  const findingRows = report.findings.map((finding) => [
    td(finding.severity),
    td(finding.rule),
    td(finding.secretArn ? nameOf(finding.secretArn) : "-"),
    td(finding.principal ?? "-"),
    td(finding.count, "num"),
    td(time(finding.firstSeen)),
    // A resolve (a rotation that succeeded after failing) is filed under the rule that fired.
    td(finding.status === "resolved" ? "resolved" : "open", finding.status === "resolved" ? "ok" : ""),
    td(finding.title),
  ]);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vigil secrets compliance report, ${escapeHtml(period)}</title><style>${STYLE}</style></head>
<body>
<h1>Secrets compliance report</h1>
<p class="meta">Period ${escapeHtml(period)} (UTC) &middot; generated ${escapeHtml(time(report.generatedAt))} &middot; policy: ${escapeHtml(report.policySource)} &middot; events: ${escapeHtml(report.eventSource)}</p>
<p class="totals"><span>${report.totals.secrets} secret(s)</span><span class="${report.totals.nonCompliant > 0 ? "bad" : "ok"}">${report.totals.nonCompliant} not compliant</span><span class="${report.totals.unexpectedReaders > 0 ? "bad" : "ok"}">${report.totals.unexpectedReaders} unexpected reader(s)</span><span>${report.totals.findings} finding(s)</span></p>
<h2>Rotation</h2>
${table(["Secret", "Owner", "Sensitivity", "Strategy", "Policy (days)", "Rotations in period", "Last rotated", "Days since", "Longest gap (days)", "Compliance"], rotationRows, "No secrets.")}
<h3>Timelines</h3>
<p class="legend">Each bar is the period; <svg width="12" height="12"><circle cx="6" cy="6" r="5" fill="#1f8a4c"/></svg> a rotation, <svg width="12" height="12"><circle cx="6" cy="6" r="4" fill="#fff" stroke="#d64545" stroke-width="2"/></svg> a failed one, <svg width="12" height="12"><line x1="6" x2="6" y1="0" y2="12" stroke="#7a4b00" stroke-dasharray="3 2"/></svg> the policy deadline, <svg width="18" height="10"><rect width="18" height="10" fill="#d64545"/></svg> overdue.</p>
${timelines}
<h2>Access review</h2>
${table(["Secret", "Principal", "Reads", "Denied", "First", "Last", "Origins", "Expected reader"], accessRows, "Nobody read a secret in the period.")}
<h2>Findings</h2>
${table(["Rule", "Severity", "Count"], summaryRows, "The scanner found nothing in the period.")}
${findingRows.length > 0 ? table(["Severity", "Rule", "Secret", "Principal", "Count", "First seen", "Status", "What"], findingRows, "") : ""}
</body></html>
`;
}
