import { mkdir, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import { missingFolderOf, writeFileAtomically } from "../../../lib/write-atomically.ts";
import { ReportInputError } from "./errors.ts";
import type { ComplianceReport } from "./model.ts";
import { renderCsv } from "./render-csv.ts";
import { renderHtml } from "./render-html.ts";

export { ReportError, ReportInputError } from "./errors.ts";
export {
  type AccessRow,
  buildComplianceReport,
  type ComplianceReport,
  type ReportInput,
  type RotationRow,
} from "./model.ts";
export { renderCsv } from "./render-csv.ts";
export { renderHtml, rotationTimeline } from "./render-html.ts";
export { collectComplianceReport, type ReportRequest, type ReportSourceDependencies } from "./sources.ts";

export const REPORT_FORMATS = ["html", "csv", "json"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z$/;

/** A `--from`/`--to` value: a UTC date (YYYY-MM-DD) or date-time ending in Z; the error names the option. */
export function parseReportDate(text: string, option: string): { ms: number; dateOnly: boolean } {
  const value = text.trim();
  const dateOnly = DATE.test(value);
  const ms = dateOnly || DATE_TIME.test(value) ? Date.parse(value) : Number.NaN;
  // Date.parse rolls 2026-02-30 over to March; a date that does not read back is not a date.
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value.slice(0, 10)) {
    throw new ReportInputError(
      `${option}: expected a date (2026-10-01) or a UTC date-time (2026-10-01T00:00:00Z), got "${text}"`,
    );
  }
  return { ms, dateOnly };
}

/** The period [from, to) of `--from`/`--to`; a date-only `--to` includes that whole day. */
export function parseReportPeriod(from: string, to: string): { fromMs: number; toMs: number } {
  const start = parseReportDate(from, "--from");
  const end = parseReportDate(to, "--to");
  const toMs = end.dateOnly ? end.ms + DAY_MS : end.ms;
  if (toMs <= start.ms) {
    throw new ReportInputError(`--to: the period ends (${to}) before it starts (--from ${from})`);
  }
  return { fromMs: start.ms, toMs };
}

/** Checks `--format`; the error lists the formats. */
export function parseReportFormat(text: string): ReportFormat {
  if (!(REPORT_FORMATS as readonly string[]).includes(text)) {
    throw new ReportInputError(`--format: expected html, csv or json, got "${text}"`);
  }
  return text as ReportFormat;
}

/** Where a report goes by default: a file for html/json, a folder for csv, named after the period. */
export function defaultReportPath(format: ReportFormat, period: { fromMs: number; toMs: number }): string {
  const from = new Date(period.fromMs).toISOString().slice(0, 10);
  const to = new Date(period.toMs - 1).toISOString().slice(0, 10);
  const base = `vigil-report-${from}_${to}`;
  return format === "csv" ? base : `${base}.${format}`;
}

/**
 * Refuses an output path of the wrong kind (a folder for html/json, a file for csv), or a file whose
 * folder does not exist, before any work is done.
 */
export async function checkReportPath(format: ReportFormat, path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (format === "csv") {
    if (info && !info.isDirectory())
      throw new ReportInputError(`--out: ${path} is a file; csv writes three files into a folder`);
    return;
  }
  const example = join(path, `report.${format}`);
  if (info?.isDirectory() || path.endsWith("/") || path.endsWith(sep))
    throw new ReportInputError(
      `--out: ${path} names a folder; ${format} writes one file (such as ${example})`,
    );
  const missing = await missingFolderOf(path);
  if (missing !== undefined)
    throw new ReportInputError(`--out: the folder ${missing} does not exist; create it first`);
}

/** The report's files in a format: name (relative to the output) to content. */
export function renderReport(report: ComplianceReport, format: ReportFormat): Record<string, string> {
  if (format === "csv") return renderCsv(report);
  if (format === "json") return { "": `${JSON.stringify(report, null, 2)}\n` };
  return { "": renderHtml(report) };
}

/** Writes the report (each file beside its target, then renamed: never half a file); returns the paths written. */
export async function writeReport(
  report: ComplianceReport,
  format: ReportFormat,
  path: string,
): Promise<string[]> {
  const files = renderReport(report, format);
  if (format === "csv") await mkdir(path, { recursive: true });
  const written: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const target = name === "" ? path : join(path, name);
    await writeFileAtomically(target, content);
    written.push(target);
  }
  return written;
}
