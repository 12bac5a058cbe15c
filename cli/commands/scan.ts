import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { ScanInputError, ScanStateFileError } from "../../functions/audit-scan/errors.ts";
import { defaultPolicy } from "../../functions/audit-scan/policy.ts";
import { atLeast, nameOf } from "../../functions/audit-scan/rule.ts";
import {
  listTrailFiles,
  type ScanFilesResult,
  scanTrailFiles,
} from "../../functions/audit-scan/scan-files.ts";
import { MemoryScanState } from "../../functions/audit-scan/state.ts";
import { parseTimeBound } from "../../functions/audit-scan/time-range.ts";
import type { Finding } from "../../lib/finding.ts";
import { SEVERITIES } from "../../lib/finding-keys.ts";
import { byCodeUnit } from "../../lib/order.ts";
import { missingFolderOf, writeFileAtomically } from "../../lib/write-atomically.ts";
import type { CommandRegistration } from "../command.ts";

export interface ScanCommandOptions {
  policy?: string;
  state?: string;
  since?: string;
  until?: string;
  format: "table" | "json";
  workers?: string;
}

/** Where `vigil scan` writes: stdout carries findings only; everything else goes to stderr. */
export interface ScanOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/** Runs `vigil scan` and returns its exit code: 0 nothing of medium or above, 1 findings, 2 an error. */
export async function runScan(
  paths: readonly string[],
  options: ScanCommandOptions,
  output: ScanOutput = { stdout: process.stdout, stderr: process.stderr },
  now: () => Date = () => new Date(),
): Promise<number> {
  // The YAML parser and the policy's schemas are loaded only for a policy file (a start-up cost otherwise).
  const policy =
    options.policy === undefined
      ? defaultPolicy()
      : await (await import("../../functions/audit-scan/policy-file.ts")).readPolicyFile(options.policy);
  const state = options.state ? await readState(options.state) : new MemoryScanState();
  const timeRange = {
    ...(options.since ? { sinceMs: parseTimeBound(options.since, "--since", now()).getTime() } : {}),
    ...(options.until ? { untilMs: parseTimeBound(options.until, "--until", now()).getTime() } : {}),
  };
  const workers = options.workers === undefined ? undefined : parseWorkers(options.workers);
  const files = await listTrailFiles(paths);
  // The progress bar and the findings table load only when they are shown: most scans of a pipeline show
  // neither, and their modules are a share of the command's start.
  const bar = output.stderr.isTTY
    ? new (await import("cli-progress")).default.SingleBar({
        stream: output.stderr,
        format: "scanning {bar} {percentage}% | {files} files | {mb} MB",
        hideCursor: true,
        clearOnComplete: true,
      })
    : undefined;
  bar?.start(1, 0, { files: `0/${files.length}`, mb: "0" });
  let result: ScanFilesResult;
  try {
    result = await scanTrailFiles(files, {
      policy,
      state,
      timeRange,
      ...(workers === undefined ? {} : { workers }),
      now,
      onProgress: (progress) => {
        bar?.update(progress.bytesTotal === 0 ? 1 : progress.bytesDone / progress.bytesTotal, {
          files: `${progress.filesDone}/${progress.filesTotal}`,
          mb: (progress.bytesDone / 1_048_576).toFixed(1),
        });
      },
    });
  } finally {
    bar?.stop();
  }
  if (options.state) await saveState(options.state, state, now());

  const findings = [...result.findings].sort(byImportance);
  if (options.format === "json") {
    for (const finding of findings) output.stdout.write(`${JSON.stringify(finding)}\n`);
  } else if (findings.length > 0) {
    output.stdout.write(`${await findingsTable(findings, output.stderr.columns)}\n`);
  }
  output.stderr.write(`${summaryLine(result, findings)}\n`);
  for (const error of result.errors) output.stderr.write(`vigil: scan: ${error.message}\n`);
  if (result.errors.length > 0) return 2;
  return findings.some((finding) => finding.status !== "resolved" && atLeast(finding.severity, "medium"))
    ? 1
    : 0;
}

async function readState(path: string): Promise<MemoryScanState> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EISDIR")
      throw new ScanStateFileError(`--state ${path}: a folder; give the state file's name`);
    // A state file that does not exist yet is created by this run, in a folder that must exist: found
    // missing after the scan, the run's state would be lost.
    if (code === "ENOENT") {
      const missing = await missingFolderOf(path);
      if (missing !== undefined)
        throw new ScanStateFileError(
          `--state ${path}: the folder ${missing} does not exist; create it first`,
        );
      return new MemoryScanState();
    }
    throw new ScanStateFileError(`--state ${path}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ScanStateFileError(`${path}: not a Vigil scan state file (not JSON)`, { cause: error });
  }
  return MemoryScanState.fromJSON(json, path);
}

async function saveState(path: string, state: MemoryScanState, now: Date): Promise<void> {
  await writeFileAtomically(path, `${JSON.stringify(state.toJSON(now.getTime()))}\n`);
}

function parseWorkers(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 64) {
    throw new ScanInputError(`--workers: expected a number of worker threads from 0 to 64, got "${text}"`);
  }
  return Number(text);
}

function byImportance(a: Finding, b: Finding): number {
  return (
    SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
    byCodeUnit(a.firstSeen, b.firstSeen) ||
    byCodeUnit(a.id, b.id)
  );
}

async function findingsTable(findings: readonly Finding[], columns = 120): Promise<string> {
  const wide = columns >= 140;
  const { default: Table } = await import("cli-table3");
  const table = new Table({
    head: ["Severity", "Rule", "Secret", "Principal", "Count", "First seen (UTC)", ...(wide ? ["What"] : [])],
    style: { head: [], border: [] },
    wordWrap: true,
  });
  for (const finding of findings) {
    table.push([
      finding.status === "resolved" ? `${finding.severity} (resolved)` : finding.severity,
      finding.rule,
      finding.secretArn ? nameOf(finding.secretArn) : "-",
      shortPrincipal(finding.principal),
      String(finding.count),
      finding.firstSeen.replace("T", " ").replace(/\.\d+Z$/, ""),
      ...(wide ? [finding.title] : []),
    ]);
  }
  return table.toString();
}

function shortPrincipal(principal: string | undefined): string {
  if (!principal) return "-";
  // arn:aws:iam::111122223333:role/name -> role/name (111122223333)
  const match = /^arn:[^:]+:iam::(\d{12}):(.+)$/.exec(principal);
  return match ? `${match[2]} (${match[1]})` : principal;
}

function summaryLine(result: ScanFilesResult, findings: readonly Finding[]): string {
  const bySeverity = SEVERITIES.map((severity) => [
    severity,
    findings.filter((f) => f.severity === severity).length,
  ])
    .filter(([, count]) => count !== 0)
    .map(([severity, count]) => `${count} ${severity}`);
  const skipped = Object.entries(result.skipped).map(([reason, count]) => `${count} ${reason}`);
  return [
    `Scanned ${result.files} file(s), ${result.records} record(s); ${result.judged} Secrets Manager, KMS and CloudTrail event(s) judged`,
    result.outOfRange > 0 ? `${result.outOfRange} outside --since/--until` : undefined,
    skipped.length > 0 ? `skipped malformed: ${skipped.join(", ")}` : undefined,
    result.suppressed > 0 ? `${result.suppressed} finding(s) suppressed by the policy` : undefined,
    findings.length > 0 ? `${findings.length} finding(s): ${bySeverity.join(", ")}` : "no findings",
  ]
    .filter(Boolean)
    .join("; ");
}

export const registerScan: CommandRegistration = (program: Command) => {
  program
    .command("scan")
    .description("run the audit scanner's rules over CloudTrail log files or folders (exit 1: findings)")
    .argument("<paths...>", "files (.json, .json.gz, lookup-events output) or folders (S3 layout)")
    .option("--policy <file>", "policy file (see policy.example.yaml); default: built-in defaults")
    .option("--state <file>", "keep baselines, windows and learning in this file between runs")
    .option("--since <time>", "only events at or after: 2026-11-01, 2026-11-01T12:00Z, or 30m / 12h / 7d ago")
    .option("--until <time>", "only events before (same forms as --since)")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .option("--workers <n>", "worker threads reading files (0: none; default: by input size and cores)")
    .action(async (paths: string[], options: ScanCommandOptions) => {
      process.exitCode = await runScan(paths, options);
    });
};
