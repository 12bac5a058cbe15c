import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  type Finding,
  type FindingsQueueMessage,
  findingId,
  type RotationStrategyName,
  rotationGroupKey,
} from "../../lib/finding.ts";
import { redact, redactText } from "../../lib/redaction.ts";
import type { RotationError } from "./errors.ts";
import type { RotationStep } from "./strategy.ts";

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
  step: RotationStep;
  strategy: RotationStrategyName | undefined;
  error: RotationError | Error;
  now: Date;
}): Finding {
  const { secretArn, token, step, strategy, error, now } = input;
  const { region, account, name } = arnParts(secretArn);
  const rule = "rule" in error ? error.rule : "rotation.failed";
  const severity = "severity" in error ? error.severity : "high";
  // A strategy's error may name its own runbook (e.g. the IBKR operator steps).
  const runbook = "runbook" in error && typeof error.runbook === "string" ? error.runbook : RUNBOOK;
  const message = redactText(error.message);
  return {
    id: findingId(rule, secretArn, token, step),
    rule,
    severity,
    // The summary carries the whole message; the title stays short enough for a pager screen.
    title:
      "headline" in error && typeof error.headline === "string"
        ? `${name}: ${error.headline}`
        : `Rotation of ${name} failed at ${step}`,
    summary: message,
    secretArn,
    region,
    account,
    eventIds: [],
    firstSeen: now.toISOString(),
    lastSeen: now.toISOString(),
    count: 1,
    groupKey: rotationGroupKey(secretArn),
    status: "firing",
    details: { step, strategy: strategy ?? "unknown", versionId: token, error: error.name },
    runbook,
  };
}
