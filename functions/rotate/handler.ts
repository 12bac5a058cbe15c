import type { Context } from "aws-lambda";
import { ecsClient, secretsManagerClient, snsClient, sqsClient } from "../../lib/aws.ts";
import { createLogger } from "../../lib/logger.ts";
import { createMetrics } from "../../lib/metrics.ts";
import { Deadline } from "./deadline.ts";
import { InvalidRotationEventError } from "./errors.ts";
import { outcomePublisher } from "./outcomes.ts";
import { parseRotationEvent, rotateSecretStep } from "./protocol.ts";
import { loadRotationSettings } from "./settings.ts";

// Parsed once at cold start: a bad variable fails every invocation with its name.
const settings = loadRotationSettings();
const logger = createLogger("vigil-rotate");
const metrics = createMetrics("rotate");
const publish = outcomePublisher({
  sqs: sqsClient,
  sns: snsClient,
  queueUrl: settings.findingsQueueUrl,
  topicArn: settings.rotationEventsTopicArn,
});

/** Secrets Manager rotation entry point: `{SecretId, ClientRequestToken, Step}`. */
export const handler = async (
  event: unknown,
  context?: Pick<Context, "getRemainingTimeInMillis">,
): Promise<void> => {
  try {
    await rotate(event, context);
  } catch (error) {
    // rotateSecretStep counts every failure it sees; a malformed event never reaches it.
    if (error instanceof InvalidRotationEventError) metrics.count("RotationFailures", {});
    throw error;
  } finally {
    metrics.flush();
  }
};

const rotate = async (event: unknown, context?: Pick<Context, "getRemainingTimeInMillis">): Promise<void> => {
  const rotationEvent = parseRotationEvent(event);
  // Outside Lambda (the sandbox, a script) there may be no deadline: allow 15 minutes, Lambda's maximum.
  const started = Date.now();
  const remaining = context?.getRemainingTimeInMillis
    ? () => context.getRemainingTimeInMillis()
    : () => 900_000 - (Date.now() - started);
  await rotateSecretStep(rotationEvent, new Deadline(remaining, settings.deadlineReserveMs), {
    secretsManager: secretsManagerClient(),
    ecs: ecsClient,
    logger,
    settings,
    publish,
    metrics,
  });
};
