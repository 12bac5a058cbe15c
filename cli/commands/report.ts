import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Command } from "commander";
import { readPolicyFile } from "../../functions/audit-scan/policy-file.ts";
import {
  type ComplianceReport,
  checkReportPath,
  collectComplianceReport,
  defaultReportPath,
  parseReportFormat,
  parseReportPeriod,
  writeReport,
} from "../../functions/audit-scan/report/index.ts";
import { cloudTrailClient } from "../../lib/aws.ts";
import type { CommandRegistration } from "../command.ts";

export interface ReportOptions {
  from: string;
  to: string;
  policyPath: string | undefined;
  trail: string[];
  format: string;
  out: string | undefined;
  region: string | undefined;
}

export interface ReportCommandDependencies {
  secretsManager: (region: string | undefined) => SecretsManagerClient;
  cloudTrail: (region: string | undefined) => CloudTrailClient;
  output: NodeJS.WritableStream;
  now: () => Date;
}

/** Builds the compliance report for a period, writes it, and prints where it went and the totals. */
export async function report(
  options: ReportOptions,
  deps: ReportCommandDependencies,
): Promise<{ report: ComplianceReport; written: string[] }> {
  // Every argument is checked before anything is read from AWS or written to disk.
  const period = parseReportPeriod(options.from, options.to);
  const format = parseReportFormat(options.format);
  const out = options.out ?? defaultReportPath(format, period);
  await checkReportPath(format, out);
  const policy = await readPolicyFile(options.policyPath);
  const built = await collectComplianceReport(
    { ...period, policy, trail: options.trail, now: deps.now() },
    { secretsManager: deps.secretsManager(options.region), cloudTrail: deps.cloudTrail(options.region) },
  );
  const written = await writeReport(built, format, out);
  const { totals } = built;
  deps.output.write(
    `${written.join("\n")}\n${totals.secrets} secret(s), ${totals.nonCompliant} not compliant, ${totals.unexpectedReaders} unexpected reader(s), ${totals.findings} finding(s)\n`,
  );
  return { report: built, written };
}

/** Builds `vigil report`; tests pass their own clients and output. */
export function reportCommand(
  overrides: () => Partial<ReportCommandDependencies> = () => ({}),
): CommandRegistration {
  return (program: Command) => {
    program
      .command("report")
      .description("the compliance report for a period: rotations against policy, access review, findings")
      .requiredOption("--from <date>", "first day of the period (2026-10-01, UTC)")
      .requiredOption("--to <date>", "last day of the period, included (2026-12-31, UTC)")
      .option("--policy <file>", "policy file: expected readers and rotation periods (default: 90 days)")
      .option(
        "--trail <path...>",
        "read trail files or folders instead of LookupEvents (which keeps 90 days)",
      )
      .option("--format <format>", "html, csv (rotation.csv, access.csv, findings.csv) or json", "html")
      .option(
        "--out <path>",
        "the file (html, json) or folder (csv) to write (default: named after the period)",
      )
      .option("--region <region>", "the secrets' region (default: AWS_REGION)")
      .action(async (flags: Record<string, unknown>) => {
        const deps: ReportCommandDependencies = {
          secretsManager: (at) => new SecretsManagerClient(at ? { region: at } : {}),
          // The shared per-region client without SDK retries: Vigil paces LookupEvents itself (2 requests/s).
          cloudTrail: cloudTrailClient,
          output: process.stdout,
          now: () => new Date(),
          ...overrides(),
        };
        await report(
          {
            from: String(flags.from),
            to: String(flags.to),
            policyPath: typeof flags.policy === "string" ? flags.policy : undefined,
            trail: Array.isArray(flags.trail) ? flags.trail.map(String) : [],
            format: String(flags.format),
            out: typeof flags.out === "string" ? flags.out : undefined,
            region: typeof flags.region === "string" ? flags.region : undefined,
          },
          deps,
        );
      });
  };
}

/** `vigil report`, as registered in cli/vigil.ts. */
export const registerReport: CommandRegistration = reportCommand();
