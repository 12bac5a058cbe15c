import {
  ListSecretsCommand,
  type SecretListEntry,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { Finding } from "../../lib/finding.ts";
import { findingId, type Severity } from "../../lib/finding-keys.ts";
import {
  DEFAULT_MAX_ROTATION_DAYS,
  type Policy,
  secretNameOf,
  secretPolicyFor,
  stripArnSuffix,
} from "./policy.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** An AWSPENDING older than this is not a rotation in progress (a rotation's four steps take minutes). */
export const DEFAULT_STALE_PENDING_HOURS = 24;
const RUNBOOK = "docs/detections.md#rotation-compliance";
/**
 * The rotate function's `vigil:rotation` tag (STRATEGY_TAG in functions/rotate/registry.ts, which a test
 * checks). Not imported: that module brings the database drivers into this function's bundle.
 */
export const ROTATION_TAG = "vigil:rotation";

export const COMPLIANCE_RULES = ["rotation-disabled", "rotation-overdue", "rotation-stale-pending"] as const;
export type ComplianceRule = (typeof COMPLIANCE_RULES)[number];

/** What the policy says about one secret's rotation. */
export interface RotationExpectation {
  /** A `secrets[]` entry of the policy matches the secret. */
  matched: boolean;
  maxRotationDays?: number | undefined;
  sensitivity?: "critical" | "high" | "normal" | undefined;
  /** Canary secrets are bait: nobody rotates them. */
  canary?: boolean | undefined;
}

/** Looks a secret up in the policy (first match wins). */
export type RotationExpectationLookup = (secret: { arn: string; name: string }) => RotationExpectation;

/** What the policy file says about each secret's rotation (matched on the canonical ARN, as the rules match). */
export function policyExpectations(policy: Policy): RotationExpectationLookup {
  return ({ arn }) => {
    const secret = secretPolicyFor(policy, stripArnSuffix(arn));
    return {
      matched: secret.match !== undefined,
      maxRotationDays: secret.maxRotationDays,
      sensitivity: secret.sensitivity,
      canary: secret.canary,
    };
  };
}

/** A compliance finding that is firing, as the state table remembers it. */
export interface OpenComplianceGroup {
  groupKey: string;
  rule: string;
  severity: Severity;
  secretArn: string;
  title: string;
}

/** Which compliance groups fire, kept between sweeps so a cleared condition can be resolved once. */
export interface ComplianceState {
  openComplianceGroups(): Promise<Map<string, OpenComplianceGroup>>;
  updateComplianceGroups(opened: readonly OpenComplianceGroup[], closed: readonly string[]): Promise<void>;
}

/** One secret's rotation facts, as `vigil status` prints them and the sweep judges them. */
export interface SecretRotationStatus {
  arn: string;
  name: string;
  strategy: string | undefined;
  managed: boolean;
  rotationEnabled: boolean;
  lastRotated: Date | undefined;
  nextRotation: Date | undefined;
  maxRotationDays: number;
  /** Days past `maxRotationDays` since the last rotation (or creation); undefined when not overdue. */
  overdueDays: number | undefined;
  /** The version holding only AWSPENDING, and since when it is known. */
  pending: { versionId: string; since: Date | undefined; stale: boolean } | undefined;
  sensitivity: "critical" | "high" | "normal";
}

export interface ComplianceOptions {
  expectationFor: RotationExpectationLookup;
  now: Date;
  stalePendingHours?: number;
  /** When a pending version was first known (the Lambda: first sweep that saw it; the CLI: its CreatedDate). */
  pendingSince: (secretArn: string, versionId: string) => Promise<Date | undefined>;
}

/** Every secret of the account (ListSecrets pages carry rotation settings, dates, tags and stages). */
export async function listSecrets(client: SecretsManagerClient): Promise<SecretListEntry[]> {
  const secrets: SecretListEntry[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListSecretsCommand({ MaxResults: 100, NextToken: nextToken }));
    secrets.push(...(page.SecretList ?? []));
    nextToken = page.NextToken || undefined;
  } while (nextToken);
  return secrets;
}

/** Judges one secret's rotation against the policy. */
export async function rotationStatus(
  entry: SecretListEntry,
  options: ComplianceOptions,
): Promise<SecretRotationStatus | undefined> {
  if (!entry.ARN) return undefined;
  const name = entry.Name ?? entry.ARN;
  const expectation = options.expectationFor({ arn: entry.ARN, name });
  const strategy = entry.Tags?.find((tag) => tag.Key === ROTATION_TAG)?.Value?.trim() || undefined;
  const maxRotationDays = expectation.maxRotationDays ?? DEFAULT_MAX_ROTATION_DAYS;
  // Managed: the policy names it or it is tagged for Vigil. Canaries are never rotated on purpose.
  const managed = !expectation.canary && (expectation.matched || strategy !== undefined);
  const lastRotated = entry.LastRotatedDate;
  const reference = lastRotated ?? entry.CreatedDate;
  const ageDays = reference ? (options.now.getTime() - reference.getTime()) / DAY_MS : undefined;
  const overdueDays =
    ageDays !== undefined && ageDays > maxRotationDays ? Math.floor(ageDays - maxRotationDays) : undefined;

  const stages = entry.SecretVersionsToStages ?? {};
  const pendingVersion = Object.entries(stages).find(
    ([, labels]) => labels.includes("AWSPENDING") && !labels.includes("AWSCURRENT"),
  )?.[0];
  let pending: SecretRotationStatus["pending"];
  if (pendingVersion) {
    const since = await options.pendingSince(entry.ARN, pendingVersion);
    const limitMs = (options.stalePendingHours ?? DEFAULT_STALE_PENDING_HOURS) * HOUR_MS;
    pending = {
      versionId: pendingVersion,
      since,
      stale: since !== undefined && options.now.getTime() - since.getTime() > limitMs,
    };
  }
  return {
    arn: entry.ARN,
    name,
    strategy,
    managed,
    rotationEnabled: entry.RotationEnabled === true,
    lastRotated,
    nextRotation: entry.NextRotationDate,
    maxRotationDays,
    overdueDays,
    pending,
    sensitivity: expectation.sensitivity ?? "normal",
  };
}

/** The compliance findings one secret raises now (firing only). */
export function complianceFindings(status: SecretRotationStatus, now: Date): Finding[] {
  const findings: Finding[] = [];
  const raise = (base: Severity): Severity =>
    status.sensitivity === "critical" && base === "medium" ? "high" : base;
  const last = status.lastRotated ? `last rotated ${day(status.lastRotated)}` : "never rotated";
  if (status.managed && !status.rotationEnabled) {
    findings.push(
      complianceFinding(status, now, {
        rule: "rotation-disabled",
        severity: raise("medium"),
        title: `Rotation is disabled on ${status.name}`,
        summary: `Rotation is disabled on ${status.name}, which the policy expects rotated at least every ${status.maxRotationDays} days (${last}). Re-enable it with RotateSecret or the console.`,
        discriminator: day(status.lastRotated),
        details: { rotationEnabled: false, lastRotated: status.lastRotated?.toISOString() ?? null },
      }),
    );
  }
  if (status.managed && status.overdueDays !== undefined) {
    findings.push(
      complianceFinding(status, now, {
        rule: "rotation-overdue",
        severity: raise("medium"),
        title: `${status.name}: rotation overdue by ${status.overdueDays} days`,
        summary: `${status.name} was ${last}; the policy allows ${status.maxRotationDays} days, so it is ${status.overdueDays} days overdue. Rotate it now (aws secretsmanager rotate-secret) and check why the schedule did not.`,
        discriminator: day(status.lastRotated),
        details: {
          maxRotationDays: status.maxRotationDays,
          overdueDays: status.overdueDays,
          lastRotated: status.lastRotated?.toISOString() ?? null,
          rotationEnabled: status.rotationEnabled,
        },
      }),
    );
  }
  if (status.pending?.stale) {
    const since = status.pending.since ? day(status.pending.since) : "an earlier sweep";
    findings.push(
      complianceFinding(status, now, {
        rule: "rotation-stale-pending",
        severity: raise("medium"),
        title: `${status.name}: a failed rotation left AWSPENDING behind`,
        summary: `${status.name} has had version ${status.pending.versionId} labelled AWSPENDING (not AWSCURRENT) since ${since}: a rotation failed or was abandoned, and the next one will fail on it. Find the failed step in the rotate function's logs, then finish or drop the pending version.`,
        discriminator: status.pending.versionId,
        details: {
          pendingVersionId: status.pending.versionId,
          pendingSince: status.pending.since?.toISOString(),
        },
      }),
    );
  }
  return findings;
}

/** The finding that closes a group whose condition has cleared (same groupKey, status resolved). */
export function resolvedComplianceFinding(group: OpenComplianceGroup, now: Date, reason: string): Finding {
  const { region, account, name } = arnParts(group.secretArn);
  return {
    id: findingId(group.groupKey, "resolved", now.toISOString()),
    rule: group.rule,
    severity: group.severity,
    title: `Resolved: ${group.title}`,
    summary: `${name}: ${reason}.`,
    secretArn: group.secretArn,
    region,
    account,
    eventIds: [],
    firstSeen: now.toISOString(),
    lastSeen: now.toISOString(),
    count: 1,
    groupKey: group.groupKey,
    status: "resolved",
    details: { reason },
    runbook: RUNBOOK,
  };
}

/** The group of one compliance problem of one secret. */
export function complianceGroupKey(rule: string, secretArn: string): string {
  return `compliance:${rule}:${secretArn}`;
}

/** What the sweep decided: findings to send, then the open groups to remember and forget. */
export interface ComplianceSweepResult {
  findings: Finding[];
  opened: OpenComplianceGroup[];
  closed: string[];
  secrets: number;
}

/**
 * The rotation compliance sweep: judges every secret, raises a finding for each condition that newly
 * fires, and a resolved finding for each open group whose condition cleared (the secret rotated, rotation
 * re-enabled, pending version gone, secret deleted). The caller sends the findings, then records
 * opened/closed, so a failed send is retried by the next sweep.
 */
export async function runComplianceSweep(
  secrets: readonly SecretListEntry[],
  open: ReadonlyMap<string, OpenComplianceGroup>,
  options: ComplianceOptions,
): Promise<ComplianceSweepResult> {
  const findings: Finding[] = [];
  const opened: OpenComplianceGroup[] = [];
  const firingNow = new Set<string>();
  for (const entry of secrets) {
    const status = await rotationStatus(entry, options);
    if (!status) continue;
    for (const finding of complianceFindings(status, options.now)) {
      firingNow.add(finding.groupKey);
      if (open.has(finding.groupKey)) continue;
      findings.push(finding);
      opened.push({
        groupKey: finding.groupKey,
        rule: finding.rule,
        severity: finding.severity,
        secretArn: status.arn,
        title: finding.title,
      });
    }
  }
  const closed: string[] = [];
  const listed = new Set(secrets.map((entry) => entry.ARN));
  for (const [groupKey, group] of open) {
    if (firingNow.has(groupKey)) continue;
    const reason = listed.has(group.secretArn)
      ? CLEARED[group.rule as ComplianceRule]
      : "the secret was deleted";
    findings.push(resolvedComplianceFinding(group, options.now, reason ?? "the condition cleared"));
    closed.push(groupKey);
  }
  return { findings, opened, closed, secrets: secrets.length };
}

const CLEARED: Record<ComplianceRule, string> = {
  "rotation-disabled": "rotation is enabled again",
  "rotation-overdue": "the secret was rotated within the policy's limit",
  "rotation-stale-pending": "the stale AWSPENDING version is gone",
};

function complianceFinding(
  status: SecretRotationStatus,
  now: Date,
  input: {
    rule: ComplianceRule;
    severity: Severity;
    title: string;
    summary: string;
    discriminator: string;
    details: Record<string, unknown>;
  },
): Finding {
  const { region, account } = arnParts(status.arn);
  return {
    id: findingId(input.rule, status.arn, input.discriminator),
    rule: input.rule,
    severity: input.severity,
    title: input.title,
    summary: input.summary,
    secretArn: status.arn,
    region,
    account,
    eventIds: [],
    firstSeen: now.toISOString(),
    lastSeen: now.toISOString(),
    count: 1,
    groupKey: complianceGroupKey(input.rule, status.arn),
    status: "firing",
    details: { ...input.details, strategy: status.strategy ?? null, sensitivity: status.sensitivity },
    runbook: `${RUNBOOK.split("#")[0]}#${input.rule}`,
  };
}

function day(date: Date | undefined): string {
  return date ? date.toISOString().slice(0, 10) : "never";
}

/** Region, account and name of a secret ARN (`arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX`). */
function arnParts(secretArn: string): { region: string; account: string; name: string } {
  // Not rotate/outcomes.ts's twin: importing it brings the SNS client into this function's bundle.
  const [, , , region = "", account = ""] = secretArn.split(":");
  return { region, account, name: secretNameOf(stripArnSuffix(secretArn)) };
}
