import { join } from "node:path";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { ECSClient } from "@aws-sdk/client-ecs";
import { GetResourcePolicyCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { STSClient } from "@aws-sdk/client-sts";
import { readPolicyFile } from "../functions/audit-scan/policy-file.ts";
import {
  type AccessRow,
  collectComplianceReport,
  defaultReportPath,
  writeReport,
} from "../functions/audit-scan/report/index.ts";
import {
  denySid,
  INCIDENT_RULE,
  type IncidentClients,
  type IncidentLog,
  MANIFEST_NAME,
  prepareIncident,
  runIncidentResponse,
  verifyFolder,
} from "../incident/index.ts";
import type { Sandbox } from "./sandbox.ts";

/**
 * The end of `npm start`: what a responder does after the page (`vigil incident --secret ... --deny ...
 * --yes`, through the incident module) and the quarterly evidence (`vigil report`, through the report
 * module), both against the demo's sandbox, then what the demo checks about each.
 */

type Say = (line: string) => void;

/** Who responds, on which secret, against whom, and where the evidence and the report go. */
export interface DemoResponseInput {
  sandbox: Sandbox;
  /** The secret the intruder read (name). */
  secretId: string;
  /** The intruder's principal ARN, denied in the secret's resource policy. */
  intruderArn: string;
  /** The responder's access key id in the sandbox. */
  responderAccessKeyId: string;
  /** The scanner's policy file: the evidence's findings and the report's expected readers. */
  policyPath: string;
  /** The run's folder; the evidence goes into `incident-evidence` below it. */
  runDir: string;
  /** PAGERDUTY_ROUTING_KEY_SECRET_ID, PAGERDUTY_EVENTS_URL, ALERTS_TOPIC_ARN: the notifier's own. */
  env: Readonly<Record<string, string | undefined>>;
}

/** What the response did, and what the demo checked afterwards. */
export interface DemoResponse {
  secret: string;
  outDir: string;
  log: IncidentLog;
  /** The manifest's problems (verifyFolder): empty when every file matches SHA256SUMS. */
  manifestProblems: string[];
  /** The secret's resource policy, read back, holds the Deny for the intruder. */
  denied: boolean;
  /** The PagerDuty incident the record step triggered (class incident.response), if the sandbox has it. */
  pagerDutyIncident: { status: string; summary: string } | undefined;
  /** ECS services restarted with the new credential. */
  restarted: string[];
  /** Every step ran and every check passed. */
  expected: boolean;
}

const clients = (sandbox: Sandbox, accessKeyId: string): IncidentClients => ({
  secretsManager: new SecretsManagerClient(sandbox.clientConfig(accessKeyId)),
  cloudTrail: new CloudTrailClient({ ...sandbox.clientConfig(accessKeyId), maxAttempts: 1 }),
  ecs: new ECSClient(sandbox.clientConfig(accessKeyId)),
  sns: new SNSClient(sandbox.clientConfig(accessKeyId)),
  sts: new STSClient(sandbox.clientConfig(accessKeyId)),
});

/**
 * `vigil incident --secret SECRET --deny INTRUDER --yes`: evidence bundle, deny, rotate now, restart the
 * consumers, record; then verifies the manifest, reads the policy back and finds the PagerDuty incident.
 */
export async function respondToIntrusion(input: DemoResponseInput, say: Say): Promise<DemoResponse> {
  const { sandbox } = input;
  const deps = {
    clients: clients(sandbox, input.responderAccessKeyId),
    env: input.env,
    now: () => new Date(),
  };
  const outDir = join(input.runDir, "incident-evidence");
  const prepared = await prepareIncident(
    {
      secretId: input.secretId,
      deny: [input.intruderArn],
      since: "1d",
      trail: [],
      outDir,
      policyPath: input.policyPath,
      rotate: true,
      record: true,
      rotationTimeoutSeconds: 60,
    },
    deps,
  );
  // The module's progress lines are the CLI's; the demo prints one line per step instead.
  const log = await runIncidentResponse(prepared, {
    ...deps,
    say: () => undefined,
    confirm: undefined,
    stageIbkr: undefined,
    operator: "on-call@demo",
    fetch: globalThis.fetch,
    sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
    pollMs: 100,
    // The rotation restarts the consumers itself; the response only waits to see it.
    consumersWaitMs: 5_000,
  });
  for (const step of log.steps) say(`  ${step.status === "ok" ? "✔" : "✘"} ${step.step}: ${stepLine(step)}`);

  const manifestProblems = await verifyFolder(outDir).catch((error: unknown) => [
    `${MANIFEST_NAME}: ${error instanceof Error ? error.message : String(error)}`,
  ]);
  const policy = (
    await deps.clients.secretsManager.send(new GetResourcePolicyCommand({ SecretId: prepared.facts.arn }))
  ).ResourcePolicy;
  const denied = (
    (JSON.parse(policy ?? "{}") as { Statement?: { Sid?: string; Effect?: string }[] }).Statement ?? []
  ).some((statement) => statement.Sid === denySid(input.intruderArn) && statement.Effect === "Deny");
  const pagerDutyIncident = incidentOfRule(sandbox, INCIDENT_RULE);
  const restart = log.steps.find((step) => step.step === "restart");
  const restarted = ((restart?.data?.restarts ?? []) as { cluster: string; service: string }[]).map(
    (service) => `${service.cluster}/${service.service}`,
  );
  say(
    `  evidence: ${outDir} (${MANIFEST_NAME} ${manifestProblems.length === 0 ? "verified" : `does NOT verify: ${manifestProblems.join(", ")}`})`,
  );
  if (log.undo) {
    // The ARN (84 characters here) cannot fit an 80-column line whole; the name names the same secret.
    say("  undo the deny with (response.json has it with the secret's ARN):");
    // One option a line, with the shell's continuations, so it copies whole from the terminal.
    say(
      `    ${log.undo.replace(prepared.facts.arn, prepared.facts.name).replace(/ (--secret-id|--resource-policy) /g, " \\\n      $1 ")}`,
    );
  }
  return {
    secret: input.secretId,
    outDir,
    log,
    manifestProblems,
    denied,
    pagerDutyIncident,
    restarted,
    expected:
      log.steps.every((step) => step.status === "ok") &&
      manifestProblems.length === 0 &&
      denied &&
      pagerDutyIncident !== undefined,
  };
}

/** A step's outcome in a few words (the module's detail names versions and paths at length). */
function stepLine(step: IncidentLog["steps"][number]): string {
  if (step.status !== "ok") return `${step.status}: ${step.detail}`;
  switch (step.step) {
    case "evidence":
      return step.detail.replace(/ written to .*$/, "");
    case "contain":
      return step.detail.replace(/ \(VigilIncidentDeny\w+\)$/, "");
    case "rotate":
      return step.detail.replace(/^rotated: /, "").replace(/ \(started .*\)$/, "");
    case "restart":
      return step.detail.replace(/ \(deployment [^,]+, /g, " (");
    case "record":
      return "one PagerDuty incident and one SNS message";
  }
}

/** The sandbox's PagerDuty incident whose trigger carried this rule as its class. */
function incidentOfRule(sandbox: Sandbox, rule: string): DemoResponse["pagerDutyIncident"] {
  const trigger = sandbox
    .pagerDutyEvents()
    .find((event) => (event.body as { payload?: { class?: string } }).payload?.class === rule);
  const incident = sandbox.pagerDutyIncidents().find((candidate) => candidate.dedupKey === trigger?.dedupKey);
  return incident ? { status: incident.status, summary: incident.summary } : undefined;
}

/** The compliance report the demo wrote, and what the demo checked in it. */
export interface DemoReport {
  path: string;
  /** The `vigil report` options it matches. */
  from: string;
  to: string;
  totals: { secrets: number; nonCompliant: number; unexpectedReaders: number; findings: number };
  nonCompliant: { name: string; reason: string }[];
  unexpected: AccessRow[];
  /** The intruder is among the unexpected readers. */
  expected: boolean;
}

/**
 * `vigil report --from <quarter start> --to <today> --policy POLICY --trail TRAIL --out RUN_DIR/...html`:
 * the quarter so far, from the sandbox's Secrets Manager (ListSecrets) and the run's CloudTrail trail files
 * (LookupEvents would do too, paced at 2 requests/s: about a second more for the demo), written as HTML.
 */
export async function reportQuarter(
  input: Pick<
    DemoResponseInput,
    "sandbox" | "responderAccessKeyId" | "policyPath" | "runDir" | "intruderArn"
  > & { trailDir: string },
  now: Date,
): Promise<DemoReport> {
  const quarterStart = Date.UTC(now.getUTCFullYear(), Math.floor(now.getUTCMonth() / 3) * 3, 1);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  // As `--to <today>` (a date): the period ends with the day.
  const period = { fromMs: quarterStart, toMs: today + 86_400_000 };
  const config = input.sandbox.clientConfig(input.responderAccessKeyId);
  const report = await collectComplianceReport(
    { ...period, policy: await readPolicyFile(input.policyPath), trail: [input.trailDir], now },
    {
      secretsManager: new SecretsManagerClient(config),
      cloudTrail: new CloudTrailClient({ ...config, maxAttempts: 1 }),
    },
  );
  const path = join(input.runDir, defaultReportPath("html", period));
  await writeReport(report, "html", path);
  const unexpected = report.access.filter((row) => row.unexpected);
  return {
    path,
    from: new Date(period.fromMs).toISOString().slice(0, 10),
    to: new Date(today).toISOString().slice(0, 10),
    totals: report.totals,
    nonCompliant: report.rotation
      .filter((row) => row.compliance === "non-compliant")
      .map((row) => ({ name: row.name, reason: row.reason ?? "" })),
    unexpected,
    expected: unexpected.some((row) => row.principal === input.intruderArn),
  };
}

/** The response and the report in plain words, for "What happened"; kept: the run folder stays (--keep). */
export function responseStory(
  response: DemoResponse,
  report: DemoReport | undefined,
  kept: boolean,
): string[] {
  const rotated = response.log.steps.find((entry) => entry.step === "rotate");
  const version = String(rotated?.data?.versionId ?? "?");
  const lines = ["", "Responded (vigil incident --yes, on the secret the intruder read):"];
  if (response.expected) {
    lines.push(
      `• Evidence first: who called ${response.secret}, its versions, resource policy and the scanner's findings (no secret value), with a ${MANIFEST_NAME} manifest that verifies.`,
      "• Contained: an explicit Deny for the intruder merged into the secret's resource policy, with the command that undoes it.",
      `• Rotated at once (version ${version}); ${response.restarted.join(", ")} (its vigil:ecs-services tag) restarted with the new password.`,
      `• Recorded: one PagerDuty incident, "${response.pagerDutyIncident?.summary.split(":")[0]}" (above), and one SNS message. Runbook: docs/incident-response.md`,
    );
  } else {
    const failed = response.log.steps.filter((entry) => entry.status !== "ok");
    const problems = [
      ...failed.map((entry) => `${entry.step} ${entry.status}: ${entry.detail}`),
      ...response.manifestProblems.map((problem) => `evidence does not verify: ${problem}`),
      ...(response.denied ? [] : ["the Deny is not in the resource policy"]),
      ...(response.pagerDutyIncident ? [] : ["no PagerDuty incident records the response"]),
    ];
    lines.push(`• UNEXPECTED: ${problems.join("; ")}`);
  }
  if (report) {
    const readers = report.unexpected.map((row) => row.principal.replace(/^.*:(user|role)\//, "")).join(", ");
    lines.push(
      "",
      `Reported (vigil report --from ${report.from} --to ${report.to}, the quarter so far):`,
      `• ${report.totals.secrets} secrets, ${report.totals.nonCompliant} not compliant${report.nonCompliant.length > 0 ? ` (${summariseReasons(report.nonCompliant)})` : ""}; ${report.totals.unexpectedReaders} unexpected reader(s)${readers ? ` (${readers})` : ""}; ${report.totals.findings} finding(s). Reading it: docs/quarterly-review.md`,
    );
    if (!report.expected) lines.push("• UNEXPECTED: the intruder is not among the unexpected readers.");
  }
  lines.push(
    kept
      ? `• Evidence in ${response.outDir}; report in ${report?.path ?? "(not written)"}.`
      : "• The evidence and the report are removed with the demo's temporary folder; npm start -- --keep keeps them.",
  );
  return lines;
}

/** "never rotated: a, b; 120 days without a rotation (policy: 90): c". */
function summariseReasons(rows: readonly { name: string; reason: string }[]): string {
  const byReason = new Map<string, string[]>();
  for (const row of rows) byReason.set(row.reason, [...(byReason.get(row.reason) ?? []), row.name]);
  return [...byReason].map(([reason, names]) => `${reason}: ${names.join(", ")}`).join("; ");
}
