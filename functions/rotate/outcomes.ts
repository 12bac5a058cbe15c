import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Finding, FindingsQueueMessage } from "../../lib/finding.ts";
// The ids and group keys only: lib/finding.ts would build the findings' zod schemas at every cold start.
import { findingId, rotationGroupKey, type Severity } from "../../lib/finding-keys.ts";
import { redact, redactText } from "../../lib/redaction.ts";
import { RotationError } from "./errors.ts";
import { ROTATION_STEPS, type RotationStep, type RotationStrategyName } from "./strategy.ts";

/** Sends one message (a finding or a `secret.rotated` event) towards the notifier. */
export type PublishOutcome = (message: FindingsQueueMessage) => Promise<void>;

const RUNBOOK = "docs/rotation.md#when-a-rotation-fails";

/** Publishes to the findings queue when configured, else to an SNS topic, else nowhere (logged only). */
export function outcomePublisher(options: {
  sqs: () => SQSClient;
  sns: () => SNSClient;
  queueUrl: string | undefined;
  topicArn: string | undefined;
}): PublishOutcome | undefined {
  const { queueUrl, topicArn } = options;
  if (queueUrl) {
    return async (message) => {
      await options
        .sqs()
        .send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(redact(message)) }));
    };
  }
  if (topicArn) {
    return async (message) => {
      await options
        .sns()
        .send(new PublishCommand({ TopicArn: topicArn, Message: JSON.stringify(redact(message)) }));
    };
  }
  return undefined;
}

/** Splits `arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX`. */
export function arnParts(secretArn: string): { region: string; account: string; name: string } {
  const [, , , region = "", account = "", , ...rest] = secretArn.split(":");
  const name = rest.join(":").replace(/-[A-Za-z0-9]{6}$/, "");
  return { region, account, name };
}

/** The finding raised when a step fails; one group per secret, resolved by the next successful rotation. */
export function rotationFailureFinding(input: {
  secretArn: string;
  token: string;
  /** The step, or "startup" when the function failed before it could run one. */
  step: RotationStep | "startup";
  strategy: RotationStrategyName | undefined;
  error: Error;
  now: Date;
}): Finding {
  const { secretArn, token, step, strategy, error, now } = input;
  const { region, account, name } = arnParts(secretArn);
  const rotationError = error instanceof RotationError ? error : undefined;
  const rule = rotationError?.rule ?? "rotation.failed";
  return firingFinding({
    id: findingId(rule, secretArn, token, step),
    rule,
    severity: rotationError?.severity ?? "high",
    // The summary carries the whole message; the title stays short enough for a pager screen.
    title: rotationError?.headline
      ? `${name}: ${rotationError.headline}`
      : `Rotation of ${name} failed at ${step}`,
    error,
    secretArn,
    region,
    account,
    groupKey: rotationGroupKey(secretArn),
    details: { step, strategy: strategy ?? "unknown", versionId: token, error: error.name },
    // A strategy's error may name its own runbook (e.g. the IBKR operator steps).
    runbook: rotationError?.runbook ?? RUNBOOK,
    now,
  });
}

/**
 * The finding raised when the function fails before the protocol runs (a configuration error at cold start,
 * a malformed event, a client that cannot be built). It names the secret when the event does, so the next
 * successful rotation resolves it; otherwise it is grouped under the function itself.
 */
export function startupFailureFinding(input: {
  event: unknown;
  error: Error;
  functionArn: string | undefined;
  now: Date;
}): Finding {
  const { error, now } = input;
  const event = (input.event ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  const secretArn = text(event.SecretId);
  const token = text(event.ClientRequestToken) ?? "unknown";
  const step = ROTATION_STEPS.find((name) => name === event.Step) ?? "startup";
  if (secretArn) {
    return rotationFailureFinding({ secretArn, token, step, strategy: undefined, error, now });
  }
  const [, , , region = process.env.AWS_REGION ?? "", account = "", , name = "vigil-rotate"] = (
    input.functionArn ?? ""
  ).split(":");
  const groupKey = `rotation-function:${input.functionArn ?? name}`;
  return firingFinding({
    id: findingId("rotation.failed", groupKey, error.name, redactText(error.message)),
    rule: "rotation.failed",
    severity: "high",
    title: `The rotation function ${name} failed before rotating`,
    error,
    secretArn: undefined,
    region,
    account,
    groupKey,
    details: { step, versionId: token, error: error.name },
    runbook: RUNBOOK,
    now,
  });
}

/** A new, firing rotation finding whose summary is the error's message, redacted. */
function firingFinding(input: {
  id: string;
  rule: string;
  severity: Severity;
  title: string;
  error: Error;
  secretArn: string | undefined;
  region: string;
  account: string;
  groupKey: string;
  details: Record<string, unknown>;
  runbook: string;
  now: Date;
}): Finding {
  const { error, now, secretArn, ...fields } = input;
  return {
    ...fields,
    summary: redactText(error.message),
    ...(secretArn === undefined ? {} : { secretArn }),
    eventIds: [],
    firstSeen: now.toISOString(),
    lastSeen: now.toISOString(),
    count: 1,
    status: "firing",
  };
}
