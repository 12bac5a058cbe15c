import type { DenyPrincipal } from "./principal.ts";
import type { SecretFacts } from "./secret-facts.ts";

/** The five steps of the response, in the order they run. */
export const INCIDENT_STEPS = ["evidence", "contain", "rotate", "restart", "record"] as const;
export type IncidentStepName = (typeof INCIDENT_STEPS)[number];

/** One step of the plan: what it will do and change, or why it will not run. */
export interface PlannedStep {
  step: IncidentStepName;
  run: boolean;
  /** What the step does and changes (when it runs), or why it does not. */
  action: string;
  /** What to expect: a known obstacle (a rotation in progress, no rotation function, an operator needed). */
  note?: string;
}

export interface PlanRequest {
  deny: readonly DenyPrincipal[];
  rotate: boolean;
  record: boolean;
  outDir: string;
  since: string;
  eventSource: string;
  callerArn: string;
  recordTargets: { routingKeySecretId: string; topicArn: string } | undefined;
  rotationTimeoutSeconds: number;
}

/** The plan `--dry-run` prints and the run follows: every step with what it will change. */
export function planIncidentResponse(facts: SecretFacts, request: PlanRequest): PlannedStep[] {
  const statements = policyStatementCount(facts.resourcePolicy);
  const consumers = facts.consumers.map((service) => `${service.cluster}/${service.service}`);
  const rotateNote = !request.rotate
    ? undefined
    : facts.pendingVersionId
      ? `a rotation is already in progress (pending version ${facts.pendingVersionId}): it will be reported, not forced`
      : !facts.rotationLambdaArn && !facts.ibkr
        ? "no rotation function is configured for the secret: this step will fail"
        : undefined;
  return [
    {
      step: "evidence",
      run: true,
      action: `write evidence.json, timeline.md and SHA256SUMS to ${request.outDir}: who read or changed the secret since ${request.since} (${request.eventSource}), the scanner's findings, its versions and stages, rotation configuration, resource policy and tags (no secret value)`,
    },
    request.deny.length === 0
      ? { step: "contain", run: false, action: "skipped: no --deny given" }
      : {
          step: "contain",
          run: true,
          action: `add an explicit Deny of secretsmanager:* for ${request.deny.map((principal) => principal.arn).join(", ")} ${statements === undefined ? "as the secret's resource policy (it has none)" : `to the secret's resource policy, merged with its ${statements} existing statement(s)`}; the undo command is printed and recorded in ${request.outDir}`,
          ...(request.deny.some((principal) => principal.kind === "assumed-role")
            ? {
                note: "a role session ARN denies that session name only; deny the role (arn:aws:iam::ACCOUNT:role/NAME) to stop new sessions too",
              }
            : {}),
        },
    !request.rotate
      ? { step: "rotate", run: false, action: "skipped: --no-rotate" }
      : facts.ibkr
        ? {
            step: "rotate",
            run: true,
            action: `IBKR secret: Trading Ops changes the password in the IBKR portal, then the \`vigil ibkr stage\` flow stages it and rotates ${facts.name} (needs a person at this terminal)`,
            ...(rotateNote ? { note: rotateNote } : {}),
          }
        : {
            step: "rotate",
            run: true,
            action: `RotateSecret ${facts.name} now with ${facts.rotationLambdaArn ?? "its rotation function"}, following createSecret, setSecret, testSecret and finishSecret until AWSCURRENT moves (up to ${request.rotationTimeoutSeconds} s)`,
            ...(rotateNote ? { note: rotateNote } : {}),
          },
    !request.rotate || consumers.length === 0
      ? {
          step: "restart",
          run: false,
          action: !request.rotate
            ? "skipped: no rotation (--no-rotate)"
            : `skipped: the secret has no vigil:ecs-services tag naming consumers${facts.invalidConsumers.length > 0 ? ` (malformed entries: ${facts.invalidConsumers.join(" ")})` : ""}`,
        }
      : {
          step: "restart",
          run: true,
          action: `wait for the ECS services ${consumers.join(", ")} to roll after the rotation (the rotation function restarts them); restart any it did not with UpdateService --force-new-deployment`,
        },
    !request.record || !request.recordTargets
      ? { step: "record", run: false, action: "skipped: --no-record" }
      : {
          step: "record",
          run: true,
          action: `trigger one PagerDuty incident (routing key from ${request.recordTargets.routingKeySecretId}) and publish one SNS message to ${request.recordTargets.topicArn}: the actions taken, by ${request.callerArn}, when, and where the evidence is`,
        },
  ];
}

/** The plan as text, one step a line (and its note on the next). */
export function renderPlan(secretArn: string, plan: readonly PlannedStep[]): string {
  const lines = [`Incident response plan for ${secretArn}:`];
  plan.forEach((step, index) => {
    lines.push(`  ${index + 1}. ${step.step}: ${step.action}`);
    if (step.note) lines.push(`     note: ${step.note}`);
  });
  return `${lines.join("\n")}\n`;
}

function policyStatementCount(policy: string | undefined): number | undefined {
  if (!policy) return undefined;
  try {
    const statement = (JSON.parse(policy) as { Statement?: unknown }).Statement;
    return Array.isArray(statement) ? statement.length : statement ? 1 : 0;
  } catch {
    return 0;
  }
}
