import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import {
  DescribeSecretCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { Command } from "commander";
import { InvestigationInputError } from "../../functions/audit-scan/sources/errors.ts";
import {
  type AccessReport,
  type AccessRow,
  accessReport,
  lookupSecretRecords,
  parseSince,
  trailFileRecords,
  trailFiles,
} from "../../functions/audit-scan/sources/who.ts";
import { cloudTrailClient } from "../../lib/aws.ts";
import type { CommandRegistration } from "../command.ts";
import { renderTable } from "./narrow-table.ts";

export interface WhoOptions {
  secretId: string;
  since: string;
  region: string | undefined;
  format: "table" | "json";
  trail: string[];
}

export interface WhoDependencies {
  secretsManager: (region: string | undefined) => SecretsManagerClient;
  cloudTrail: (region: string | undefined) => CloudTrailClient;
  output: NodeJS.WritableStream;
  now: () => Date;
}

/** Who read or changed a secret, from where, how often, first and last time: from LookupEvents or trail files. */
export async function who(options: WhoOptions, deps: WhoDependencies): Promise<AccessReport> {
  const now = deps.now();
  const sinceMs = parseSince(options.since, now);
  const untilMs = now.getTime();
  let report: AccessReport;
  if (options.trail.length > 0) {
    const files = await trailFiles(options.trail);
    report = await accessReport(trailFileRecords(files), { secretId: options.secretId, sinceMs, untilMs });
  } else {
    const arn = await secretArnOf(deps.secretsManager(options.region), options.secretId, options.region);
    const records = lookupSecretRecords(deps.cloudTrail(options.region), {
      resourceName: arn,
      sinceMs,
      untilMs,
    });
    report = await accessReport(records, { secretId: arn, sinceMs, untilMs });
    report.secret = options.secretId;
  }
  deps.output.write(options.format === "json" ? jsonLines(report) : table(report));
  return report;
}

async function secretArnOf(
  client: SecretsManagerClient,
  secretId: string,
  region: string | undefined,
): Promise<string> {
  try {
    const secret = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    return secret.ARN ?? secretId;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      throw new InvestigationInputError(
        `--secret: no secret "${secretId}" in ${region ?? "the configured region"} (for a deleted secret, use --trail with its trail files)`,
        { cause: error },
      );
    }
    throw error;
  }
}

function jsonLines(report: AccessReport): string {
  return report.rows.map((row) => `${JSON.stringify({ secret: report.secret, ...row })}\n`).join("");
}

/** Month-day hour:minute in UTC: the window is at most 90 days, so the year adds nothing. */
function shortTime(iso: string): string {
  return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/** The principal without the `arn:aws:iam::` / `arn:aws:sts::` prefix; its account stays when it has one. */
function shortPrincipal(row: AccessRow): string {
  const match = /^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(.+)$/.exec(row.principal);
  return match ? `${match[2]} (${match[1]})` : row.principal;
}

function table(report: AccessReport): string {
  const heading = `${report.secret}: ${report.events} event(s) from ${report.since.slice(0, 16)}Z to ${report.until.slice(0, 16)}Z`;
  if (report.rows.length === 0) return `${heading}\nNobody read or changed it in that time.\n`;
  const rows = report.rows.map((row) => [
    shortPrincipal(row),
    row.outcome === "ok" ? row.eventName : `${row.eventName} ${row.outcome}`,
    row.origin,
    String(row.count),
    `${shortTime(row.firstSeen)}\n${shortTime(row.lastSeen)}`,
  ]);
  const body = renderTable(
    [
      { header: "WHO", width: 22 },
      { header: "CALL", width: 18 },
      { header: "FROM", width: 15 },
      { header: "COUNT", width: 5, align: "right" },
      { header: "FIRST/LAST", width: 11 },
    ],
    rows,
  );
  return `${heading}\n${body}\n`;
}

/** Builds `vigil who`; tests pass their own clients and output. */
export function whoCommand(overrides: () => Partial<WhoDependencies> = () => ({})): CommandRegistration {
  return (program: Command) => {
    program
      .command("who")
      .description("who read or changed a secret, from where, how often, first and last time")
      .requiredOption("--secret <id>", "the secret: name or ARN")
      .option("--since <when>", "how far back: 30m, 12h, 7d, or a date (2026-11-01)", "7d")
      .option("--region <region>", "the secret's region (default: AWS_REGION)")
      .option("--format <format>", "table or json (one JSON object per line)", "table")
      .option(
        "--trail <path...>",
        "read trail files or folders (.json, .json.gz, the S3 layout) instead of LookupEvents",
      )
      .action(async (flags: Record<string, unknown>) => {
        const format = String(flags.format);
        if (format !== "table" && format !== "json") {
          throw new InvestigationInputError(`--format: expected table or json, got "${format}"`);
        }
        const region = typeof flags.region === "string" ? flags.region : undefined;
        const deps: WhoDependencies = {
          secretsManager: (at) => new SecretsManagerClient(at ? { region: at } : {}),
          // The shared per-region client without SDK retries: Vigil paces LookupEvents itself (2 requests/s).
          cloudTrail: cloudTrailClient,
          output: process.stdout,
          now: () => new Date(),
          ...overrides(),
        };
        await who(
          {
            secretId: String(flags.secret),
            since: String(flags.since),
            region,
            format,
            trail: Array.isArray(flags.trail) ? flags.trail.map(String) : [],
          },
          deps,
        );
      });
  };
}

/** `vigil who`, as registered in cli/vigil.ts. */
export const registerWho: CommandRegistration = whoCommand();
