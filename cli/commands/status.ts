import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Command } from "commander";
import { readPolicyFile } from "../../functions/audit-scan/policy-file.ts";
import { InvestigationInputError } from "../../functions/audit-scan/sources/errors.ts";
import {
  type SecretStatus,
  type StatusReport,
  secretStatuses,
} from "../../functions/audit-scan/sources/status.ts";
import { STRATEGY_TAG } from "../../functions/rotate/registry.ts";
import { cloudTrailClient } from "../../lib/aws.ts";
import type { CommandRegistration } from "../command.ts";
import { renderTable } from "./narrow-table.ts";

export interface StatusOptions {
  format: "table" | "json";
  policyPath: string | undefined;
  region: string | undefined;
}

export interface StatusCommandDependencies {
  secretsManager: (region: string | undefined) => SecretsManagerClient;
  cloudTrail: (region: string | undefined) => CloudTrailClient;
  output: NodeJS.WritableStream;
  errors: NodeJS.WritableStream;
  now: () => Date;
}

/** Prints every secret's rotation status; returns the report. */
export async function status(options: StatusOptions, deps: StatusCommandDependencies): Promise<StatusReport> {
  const report = await secretStatuses({
    secretsManager: deps.secretsManager(options.region),
    cloudTrail: deps.cloudTrail(options.region),
    policy: await readPolicyFile(options.policyPath),
    now: deps.now(),
  });
  if (report.failuresUnknown) {
    deps.errors.write(`vigil: last rotation failures unknown (LookupEvents: ${report.failuresUnknown})\n`);
  }
  deps.output.write(options.format === "json" ? jsonLines(report) : table(report));
  return report;
}

function jsonLines(report: StatusReport): string {
  return report.secrets
    .map((secret) => `${JSON.stringify({ ...secret, stale: secret.pending?.stale ?? false })}\n`)
    .join("");
}

function day(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 10) : "never";
}

/** What needs attention, shortest first; "ok" when nothing does. */
export function statusWords(secret: SecretStatus): string {
  const words: string[] = [];
  if (secret.managed && !secret.rotationEnabled) words.push("disabled");
  if (!secret.managed && !secret.rotationEnabled) words.push("not rotated");
  if (secret.managed && secret.overdueDays !== undefined) words.push(`overdue ${secret.overdueDays}d`);
  if (secret.pending?.stale) words.push("stale pending");
  else if (secret.pending) words.push("rotating");
  if (
    secret.lastFailure &&
    (!secret.lastRotated || secret.lastFailure.at > secret.lastRotated.toISOString())
  ) {
    words.push(`failed ${secret.lastFailure.at.slice(5, 10)}`);
  }
  return words.length === 0 ? "ok" : words.join(", ");
}

function table(report: StatusReport): string {
  if (report.secrets.length === 0) return "No secrets in this region.\n";
  const rows = report.secrets.map((secret) => [
    secret.name,
    secret.strategy ?? (secret.rotationEnabled ? `(no ${STRATEGY_TAG} tag)` : "-"),
    day(secret.lastRotated),
    secret.rotationEnabled ? day(secret.nextRotation) : "-",
    statusWords(secret),
  ]);
  return `${renderTable(
    [
      { header: "SECRET", width: 20 },
      { header: "STRATEGY", width: 20 },
      { header: "LAST", width: 10 },
      { header: "NEXT", width: 10 },
      { header: "STATUS", width: 12 },
    ],
    rows,
  )}\n`;
}

/** Builds `vigil status`; tests pass their own clients and streams. */
export function statusCommand(
  overrides: () => Partial<StatusCommandDependencies> = () => ({}),
): CommandRegistration {
  return (program: Command) => {
    program
      .command("status")
      .description(
        "every secret with its rotation strategy, last and next rotation, overdue, stale pending, last failure",
      )
      .option("--format <format>", "table or json (one JSON object per line)", "table")
      .option("--policy <file>", "the scanner's policy file (maxRotationDays per secret; default 90 days)")
      .option("--region <region>", "the region (default: AWS_REGION)")
      .action(async (flags: Record<string, unknown>) => {
        const format = String(flags.format);
        if (format !== "table" && format !== "json") {
          throw new InvestigationInputError(`--format: expected table or json, got "${format}"`);
        }
        const deps: StatusCommandDependencies = {
          secretsManager: (region) => new SecretsManagerClient(region ? { region } : {}),
          // The shared per-region client without SDK retries: Vigil paces LookupEvents itself (2 requests/s).
          cloudTrail: cloudTrailClient,
          output: process.stdout,
          errors: process.stderr,
          now: () => new Date(),
          ...overrides(),
        };
        await status(
          {
            format,
            policyPath: typeof flags.policy === "string" ? flags.policy : undefined,
            region: typeof flags.region === "string" ? flags.region : undefined,
          },
          deps,
        );
      });
  };
}

/** `vigil status`, as registered in cli/vigil.ts. */
export const registerStatus: CommandRegistration = statusCommand();
