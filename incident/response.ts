import { mkdir, readdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import type { ECSClient } from "@aws-sdk/client-ecs";
import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetResourcePolicyCommand,
  PutResourcePolicyCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import type { SNSClient } from "@aws-sdk/client-sns";
import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import type { Policy } from "../functions/audit-scan/policy.ts";
import { readPolicyFile } from "../functions/audit-scan/policy-file.ts";
import { parseSince, trailFiles } from "../functions/audit-scan/sources/who.ts";
import { describeError, VigilError } from "../lib/errors.ts";
import { writeFileAtomically } from "../lib/write-atomically.ts";
import { IncidentInputError, IncidentStepError, StepFailedError } from "./errors.ts";
import { collectEvidence, type Evidence, failingRotation } from "./evidence.ts";
import type { IncidentLog, StepOutcome } from "./log.ts";
import { folderManifest, MANIFEST_NAME, sha256Hex } from "./manifest.ts";
import { type IncidentStepName, type PlannedStep, planIncidentResponse } from "./plan.ts";
import { checkDenyTarget, type DenyPrincipal, parseDenyPrincipal } from "./principal.ts";
import { incidentFinding, type RecordTargets, recordIncident } from "./record.ts";
import {
  deniedPrincipals,
  mergeDenyStatements,
  undoCommand,
  withoutDenyStatements,
} from "./resource-policy.ts";
import { awaitConsumerRestarts } from "./restart.ts";
import { rotateNow } from "./rotation.ts";
import { type SecretFacts, secretFacts } from "./secret-facts.ts";
import { renderTimeline } from "./timeline.ts";

/** Evidence and the response's record are the responder's alone (they name principals and the secret). */
const PRIVATE = { mode: 0o600 };

/** What `vigil incident` was asked, as typed (checked by prepareIncident). */
export interface IncidentRequest {
  secretId: string;
  /** `--deny` values (principal ARNs). */
  deny: readonly string[];
  /** `--since`: 30d, 12h, 30m or a date. */
  since: string;
  /** Trail files or folders to read instead of LookupEvents. */
  trail: readonly string[];
  /** The evidence folder; default `incident-<secret>-<time>` in the working folder. */
  outDir: string | undefined;
  policyPath: string | undefined;
  rotate: boolean;
  record: boolean;
  rotationTimeoutSeconds: number;
}

export interface IncidentClients {
  secretsManager: SecretsManagerClient;
  cloudTrail: CloudTrailClient;
  ecs: ECSClient;
  sns: SNSClient;
  sts: STSClient;
}

export interface IncidentDependencies {
  clients: IncidentClients;
  /** Where PAGERDUTY_ROUTING_KEY_SECRET_ID, PAGERDUTY_EVENTS_URL and ALERTS_TOPIC_ARN are read. */
  env: Readonly<Record<string, string | undefined>>;
  /** Progress and outcomes, one line at a time. */
  say: (line: string) => void;
  /** Asks before each change; undefined: every change is approved (`--yes`). */
  confirm: ((question: string) => Promise<boolean>) | undefined;
  /** The `vigil ibkr stage` flow with a person at the terminal; undefined when nobody is there. */
  stageIbkr: ((secretArn: string) => Promise<{ versionId: string | undefined }>) | undefined;
  /** The person or automation at the keyboard (user@host), recorded next to the AWS caller. */
  operator: string;
  fetch: typeof fetch;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** How often rotation and restarts are polled (default 2000 ms). */
  pollMs?: number;
  /** How long consumers are given to roll after the rotation before this command restarts them (default 60000 ms). */
  consumersWaitMs?: number;
}

/** A checked request, the secret's facts and the plan: everything known before anything is changed. */
export interface PreparedIncident {
  request: IncidentRequest;
  deny: DenyPrincipal[];
  sinceMs: number;
  untilMs: number;
  trailFiles: string[];
  policy: Policy;
  outDir: string;
  recordTargets: RecordTargets | undefined;
  caller: { arn: string; account: string };
  described: DescribeSecretCommandOutput;
  facts: SecretFacts;
  plan: PlannedStep[];
}

const DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";

/**
 * Checks the request and reads what the plan needs (caller identity, the secret, its resource policy),
 * changing nothing and writing nothing. Bad input throws IncidentInputError naming the option.
 */
export async function prepareIncident(
  request: IncidentRequest,
  deps: Pick<IncidentDependencies, "clients" | "env" | "now">,
): Promise<PreparedIncident> {
  const now = deps.now();
  const deny = request.deny.map(parseDenyPrincipal);
  const sinceMs = parseSince(request.since, now);
  if (!(request.rotationTimeoutSeconds > 0)) {
    throw new IncidentInputError(
      `--timeout: expected a positive number of seconds, got ${request.rotationTimeoutSeconds}`,
    );
  }
  const files = request.trail.length > 0 ? await trailFiles(request.trail) : [];
  const policy = await readPolicyFile(request.policyPath);
  const recordTargets = request.record ? readRecordTargets(deps.env) : undefined;
  if (request.outDir !== undefined) await checkOutDir(request.outDir);

  // The first AWS call: without credentials it fails here, before anything is read or changed.
  const identity = await deps.clients.sts.send(new GetCallerIdentityCommand({}));
  const caller = { arn: identity.Arn ?? "unknown", account: identity.Account ?? "unknown" };
  const described = await describeSecret(deps.clients.secretsManager, request.secretId);
  const resourcePolicy = (
    await deps.clients.secretsManager.send(new GetResourcePolicyCommand({ SecretId: described.ARN }))
  ).ResourcePolicy;
  const facts = secretFacts(described, resourcePolicy);
  for (const principal of deny)
    checkDenyTarget(principal, { callerArn: caller.arn, secretAccount: facts.account });
  const outDir = resolve(request.outDir ?? defaultOutDir(facts.name, now));
  if (request.outDir === undefined) await checkOutDir(outDir);
  const plan = planIncidentResponse(facts, {
    deny,
    rotate: request.rotate,
    record: request.record,
    outDir,
    since: new Date(sinceMs).toISOString(),
    eventSource: files.length > 0 ? "trail files" : "CloudTrail LookupEvents",
    callerArn: caller.arn,
    recordTargets,
    rotationTimeoutSeconds: request.rotationTimeoutSeconds,
  });
  return {
    request,
    deny,
    sinceMs,
    untilMs: now.getTime(),
    trailFiles: files,
    policy,
    outDir,
    recordTargets,
    caller,
    described,
    facts,
    plan,
  };
}

/**
 * Runs the plan, in order, each change approved first: evidence, contain, rotate, restart, record. A step
 * that fails stops the changes after it that depend on it (see docs/incident-response.md); the record is
 * made whenever the evidence was written, so no change goes unrecorded. Returns the log; never throws for
 * a failed step (see `incidentFailure`).
 */
export async function runIncidentResponse(
  prepared: PreparedIncident,
  deps: IncidentDependencies,
): Promise<IncidentLog> {
  const { facts, outDir } = prepared;
  const log: IncidentLog = {
    secretArn: facts.arn,
    startedAt: deps.now().toISOString(),
    by: { callerArn: prepared.caller.arn, account: prepared.caller.account, operator: deps.operator },
    outDir,
    plan: prepared.plan,
    steps: [],
  };
  const planned = (step: IncidentStepName) => prepared.plan.find((entry) => entry.step === step)!;
  const outcome = (step: IncidentStepName) => log.steps.find((entry) => entry.step === step);
  const approve = async (question: string) => (deps.confirm ? deps.confirm(question) : true);
  let evidence: Evidence | undefined;

  const run = async (
    step: IncidentStepName,
    body: () => Promise<Omit<StepOutcome, "step" | "startedAt" | "finishedAt">>,
  ): Promise<void> => {
    const startedAt = deps.now().toISOString();
    deps.say(`${step} ...`);
    let result: Omit<StepOutcome, "step" | "startedAt" | "finishedAt">;
    try {
      result = await body();
    } catch (error) {
      const failed = error instanceof StepFailedError ? error : undefined;
      result = {
        status: "failed",
        detail: failed ? failed.message : explain(error),
        ...(failed?.state ? { state: failed.state } : {}),
      };
    }
    const entry: StepOutcome = { step, ...result, startedAt, finishedAt: deps.now().toISOString() };
    log.steps.push(entry);
    deps.say(`${step}: ${entry.status}: ${entry.detail}${entry.state ? ` (${entry.state})` : ""}`);
    if (evidence) await writeResponseFiles(outDir, evidence, log);
  };
  const skip = (step: IncidentStepName, detail: string) =>
    run(step, async () => ({ status: "skipped", detail }));

  await run("evidence", async () => {
    evidence = await collectEvidence(
      {
        described: prepared.described,
        resourcePolicy: facts.resourcePolicy,
        sinceMs: prepared.sinceMs,
        untilMs: prepared.untilMs,
        trailFiles: prepared.trailFiles,
        trailPaths: prepared.request.trail,
        policy: prepared.policy,
        collectedBy: {
          callerArn: prepared.caller.arn,
          account: prepared.caller.account,
          operator: deps.operator,
        },
        now: deps.now(),
        onProgress: (records) => deps.say(`  … ${records} CloudTrail records read`),
      },
      deps.clients,
    );
    await mkdir(outDir, { recursive: true, mode: 0o700 });
    const text = `${JSON.stringify(evidence, null, 2)}\n`;
    await writeFileAtomically(join(outDir, "evidence.json"), text, PRIVATE);
    log.evidenceSha256 = sha256Hex(text);
    const principals = new Set(evidence.access.map((row) => row.principal)).size;
    return {
      status: "ok",
      detail: `${evidence.events.length} call(s) by ${principals} principal(s), ${evidence.findings.length} finding(s), ${evidence.versions.length} version(s) written to ${outDir}`,
    };
  });
  const evidenceOk = outcome("evidence")?.status === "ok";

  if (!evidenceOk) await skip("contain", "not run: nothing is changed before the evidence is safe");
  else if (!planned("contain").run)
    await skip("contain", planned("contain").action.replace(/^skipped: /, ""));
  else {
    await run("contain", async () => {
      const arns = prepared.deny.map((principal) => principal.arn);
      if (
        !(await approve(
          `Add an explicit Deny for ${arns.join(", ")} to the resource policy of ${facts.name}?`,
        ))
      ) {
        return { status: "skipped", detail: "declined by the responder; the resource policy is unchanged" };
      }
      return contain(prepared, arns, deps, log);
    });
  }

  const containFailed = outcome("contain")?.status === "failed";
  if (!evidenceOk) await skip("rotate", "not run: nothing is changed before the evidence is safe");
  else if (containFailed) {
    await skip(
      "rotate",
      "not run: the deny failed, and rotating while that principal can still read the secret would hand it the new value",
    );
  } else if (!planned("rotate").run) await skip("rotate", planned("rotate").action.replace(/^skipped: /, ""));
  else await run("rotate", () => rotate(prepared, evidence!, deps, approve));

  const rotation = outcome("rotate");
  if (!planned("restart").run) await skip("restart", planned("restart").action.replace(/^skipped: /, ""));
  else if (rotation?.status !== "ok")
    await skip("restart", "not run: there is no new credential (the rotation did not complete)");
  else {
    await run("restart", async () => {
      const restarts = await awaitConsumerRestarts(
        {
          services: facts.consumers,
          rotationStartedMs: Date.parse(String(rotation.data?.startedAt ?? rotation.startedAt)),
          waitMs: deps.consumersWaitMs ?? 60_000,
        },
        {
          ecs: deps.clients.ecs,
          allowRestart: (services) =>
            approve(
              `Restart ${services.map((service) => `${service.cluster}/${service.service}`).join(", ")} with UpdateService --force-new-deployment?`,
            ),
        },
        { pollMs: deps.pollMs ?? 2_000, now: () => deps.now().getTime(), sleep: deps.sleep, say: deps.say },
      );
      return {
        status: "ok",
        detail: restarts
          .map(
            (restart) =>
              `${restart.cluster}/${restart.service} rolled at ${restart.startedAt} (deployment ${restart.deploymentId}, ${restart.by === "rotation" ? "by the rotation" : "restarted by this command"})`,
          )
          .join("; "),
        state: "consumers started with the new credential",
        data: { restarts },
      };
    });
  }

  if (!evidenceOk) await skip("record", "not run: nothing was changed");
  else if (!planned("record").run || !prepared.recordTargets) await skip("record", "--no-record");
  else {
    const targets = prepared.recordTargets;
    await run("record", async () => {
      if (!(await approve("Trigger the PagerDuty incident and publish the SNS message for this response?"))) {
        return { status: "skipped", detail: "declined by the responder" };
      }
      const sent = await recordIncident(incidentFinding(log, facts), targets, {
        secretsManager: deps.clients.secretsManager,
        sns: deps.clients.sns,
        fetch: deps.fetch,
        now: () => deps.now().getTime(),
      });
      return {
        status: "ok",
        detail: `PagerDuty incident triggered (dedup key ${sent.dedupKey}) and SNS message ${sent.messageId ?? "(no id)"} published to ${targets.topicArn}`,
        data: sent,
      };
    });
  }
  log.finishedAt = deps.now().toISOString();
  if (evidence) await writeResponseFiles(outDir, evidence, log);
  return log;
}

/** The error to exit with when a step failed: the step, why, and the state the response left. */
export function incidentFailure(log: IncidentLog): IncidentStepError | undefined {
  const failed = log.steps.find((step) => step.status === "failed");
  if (!failed) return undefined;
  const states = log.steps.filter((step) => step.state).map((step) => `${step.step}: ${step.state}`);
  return new IncidentStepError(
    failed.step,
    `incident response for ${log.secretArn} failed at ${failed.step}: ${failed.detail}. State: ${states.join("; ") || "nothing changed"}${log.steps[0]?.status === "ok" ? `; evidence in ${log.outDir}` : ""}`,
  );
}

async function contain(
  prepared: PreparedIncident,
  arns: string[],
  deps: IncidentDependencies,
  log: IncidentLog,
): Promise<Omit<StepOutcome, "step" | "startedAt" | "finishedAt">> {
  const { facts, outDir } = prepared;
  const sm = deps.clients.secretsManager;
  // Read again just before the change: the policy to merge with is the one in force now.
  const current = (await sm.send(new GetResourcePolicyCommand({ SecretId: facts.arn }))).ResourcePolicy;
  let merged: ReturnType<typeof mergeDenyStatements>;
  try {
    merged = mergeDenyStatements(current, arns);
  } catch (error) {
    throw new StepFailedError(explain(error), "resource policy unchanged");
  }
  const before = withoutDenyStatements(current, arns);
  const savedPolicyPath = before === undefined ? undefined : join(outDir, "pre-incident-policy.json");
  if (savedPolicyPath) await writeFileAtomically(savedPolicyPath, before!, PRIVATE);
  const undo = undoCommand({ secretArn: facts.arn, region: facts.region, savedPolicyPath });
  if (!merged.unchanged) {
    try {
      await sm.send(
        new PutResourcePolicyCommand({
          SecretId: facts.arn,
          ResourcePolicy: merged.policy,
          BlockPublicPolicy: true,
        }),
      );
    } catch (error) {
      throw new StepFailedError(`PutResourcePolicy failed: ${explain(error)}`, "resource policy unchanged");
    }
  }
  log.undo = undo;
  const after = (await sm.send(new GetResourcePolicyCommand({ SecretId: facts.arn }))).ResourcePolicy;
  const denied = deniedPrincipals(after, arns);
  const missing = arns.filter((arn) => !denied.includes(arn));
  if (missing.length > 0) {
    throw new StepFailedError(
      `the resource policy read back has no Deny for ${missing.join(", ")}`,
      `resource policy changed; undo: ${undo}`,
    );
  }
  deps.say(`  undo: ${undo}`);
  return {
    status: "ok",
    detail: `${merged.unchanged ? "already in place" : "added"}: Deny secretsmanager:* for ${arns.join(", ")} (${merged.sids.join(", ")})`,
    state: `deny in the resource policy; undo: ${undo}`,
    data: { sids: merged.sids, undo, preIncidentPolicy: savedPolicyPath ?? null },
  };
}

async function rotate(
  prepared: PreparedIncident,
  evidence: Evidence,
  deps: IncidentDependencies,
  approve: (question: string) => Promise<boolean>,
): Promise<Omit<StepOutcome, "step" | "startedAt" | "finishedAt">> {
  const { facts } = prepared;
  const unchanged = "AWSCURRENT unchanged";
  // IBKR first: its scheduled rotations fail on purpose until Trading Ops stages a password, and the stage
  // flow itself reports (never forces) a rotation in progress.
  if (facts.ibkr) {
    const instructions = `IBKR has no API to change a password: Trading Ops must change it in the IBKR portal (Client Portal > Settings > User Settings > Password), then stage it with \`vigil ibkr stage --secret-id ${facts.name}\``;
    deps.say(`  ${instructions}`);
    if (!deps.stageIbkr) {
      throw new StepFailedError(
        `nobody at a terminal to stage the new IBKR password. ${instructions}`,
        unchanged,
      );
    }
    if (
      !(await approve(
        `Has Trading Ops changed the password of ${facts.name} in the IBKR portal? Stage it now?`,
      ))
    ) {
      return { status: "skipped", detail: `declined by the responder. ${instructions}`, state: unchanged };
    }
    const startedAt = deps.now().toISOString();
    const staged = await deps.stageIbkr(facts.arn);
    return {
      status: "ok",
      detail: `staged by the operator and rotated: AWSCURRENT is version ${staged.versionId ?? "(unknown)"}`,
      state: `new IBKR credential current (version ${staged.versionId ?? "unknown"})`,
      data: { versionId: staged.versionId, startedAt, finishedAt: deps.now().toISOString() },
    };
  }
  if (facts.pendingVersionId) {
    throw new StepFailedError(
      `a rotation is already in progress or unfinished (version ${facts.pendingVersionId} is AWSPENDING); not forced: let it finish or fix it (\`vigil status\`, the rotation function's log), then rotate`,
      `${unchanged}; pending version ${facts.pendingVersionId} left as it is`,
    );
  }
  const failing = failingRotation(evidence);
  if (failing) {
    throw new StepFailedError(
      `the last rotation ${failing.outcome} at ${failing.time}${failing.error ? ` (${failing.error})` : ""}; not forced: fix its cause (see the rotation finding and the function's log), then rotate`,
      unchanged,
    );
  }
  if (!facts.rotationLambdaArn) {
    throw new StepFailedError(
      `no rotation function is configured for ${facts.name}: attach one (aws secretsmanager rotate-secret --rotation-lambda-arn ...) or change the credential by hand`,
      unchanged,
    );
  }
  if (!(await approve(`Rotate ${facts.name} now (RotateSecret)?`))) {
    return { status: "skipped", detail: "declined by the responder", state: unchanged };
  }
  try {
    const rotated = await rotateNow(
      { secretArn: facts.arn, name: facts.name },
      {
        secretsManager: deps.clients.secretsManager,
        cloudTrail: prepared.trailFiles.length > 0 ? undefined : deps.clients.cloudTrail,
      },
      {
        timeoutMs: prepared.request.rotationTimeoutSeconds * 1_000,
        pollMs: deps.pollMs ?? 2_000,
        now: () => deps.now().getTime(),
        sleep: deps.sleep,
        say: deps.say,
      },
    );
    return {
      status: "ok",
      detail: `rotated: AWSCURRENT is version ${rotated.versionId} (started ${rotated.startedAt}, done ${rotated.finishedAt})`,
      state: `new credential current (version ${rotated.versionId})`,
      data: rotated,
    };
  } catch (error) {
    throw new StepFailedError(explain(error), `${unchanged} unless the rotation completes in AWS`);
  }
}

/** The files that change as the response goes on (response.json, timeline.md), then the manifest over all. */
async function writeResponseFiles(outDir: string, evidence: Evidence, log: IncidentLog): Promise<void> {
  await writeFileAtomically(join(outDir, "response.json"), `${JSON.stringify(log, null, 2)}\n`, PRIVATE);
  await writeFileAtomically(join(outDir, "timeline.md"), renderTimeline(evidence, log), PRIVATE);
  await writeFileAtomically(join(outDir, MANIFEST_NAME), await folderManifest(outDir), PRIVATE);
}

function explain(error: unknown): string {
  if (error instanceof VigilError) return describeError(error);
  if (error instanceof Error) return `${error.name}: ${describeError(error)}`;
  return describeError(error);
}

async function describeSecret(
  client: SecretsManagerClient,
  secretId: string,
): Promise<DescribeSecretCommandOutput> {
  try {
    return await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      throw new IncidentInputError(
        `--secret: no secret "${secretId}" in this account and region (check --secret and --region)`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}

/** The notifier's routing key secret and topic, from the same variables the notifier reads. */
function readRecordTargets(env: Readonly<Record<string, string | undefined>>): RecordTargets {
  const value = (name: string) => env[name]?.trim() || undefined;
  const routingKeySecretId = value("PAGERDUTY_ROUTING_KEY_SECRET_ID");
  const topicArn = value("ALERTS_TOPIC_ARN");
  const missing = [
    ...(routingKeySecretId
      ? []
      : ["PAGERDUTY_ROUTING_KEY_SECRET_ID (the secret holding the PagerDuty routing key)"]),
    ...(topicArn ? [] : ["ALERTS_TOPIC_ARN (the notifier's SNS topic)"]),
  ];
  if (missing.length > 0) {
    throw new IncidentInputError(
      `record: ${missing.join(" and ")} not set, as the notifier has them; or pass --no-record`,
    );
  }
  if (!/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+(\.fifo)?$/.test(topicArn!)) {
    throw new IncidentInputError(`record: ALERTS_TOPIC_ARN is not an SNS topic ARN: "${topicArn}"`);
  }
  return {
    routingKeySecretId: routingKeySecretId!,
    topicArn: topicArn!,
    eventsUrl: value("PAGERDUTY_EVENTS_URL") ?? DEFAULT_EVENTS_URL,
  };
}

/** Evidence is never written over: the folder must be new or empty. */
async function checkOutDir(path: string): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory())
    throw new IncidentInputError(`--out: ${path} is a file; the evidence goes into a folder`);
  if ((await readdir(path)).length > 0) {
    throw new IncidentInputError(
      `--out: ${path} is not empty; evidence is never written over, give a new folder`,
    );
  }
}

function defaultOutDir(name: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
  return `incident-${name.replace(/[^\w.-]+/g, "_")}-${stamp}`;
}
