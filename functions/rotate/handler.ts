import type { Context } from "aws-lambda";
import { ecsClient, secretsManagerClient, snsClient, sqsClient } from "../../lib/aws.ts";
import { createLogger } from "../../lib/logger.ts";
import { createMetrics } from "../../lib/metrics.ts";
import { redactText } from "../../lib/redaction.ts";
import { Deadline } from "./deadline.ts";
import { outcomePublisher, type PublishOutcome, startupFailureFinding } from "./outcomes.ts";
import { parseRotationEvent, type RotationDependencies, rotateSecretStep } from "./protocol.ts";
import { fallbackDestinations, loadRotationSettings, type RotationSettings } from "./settings.ts";

const logger = createLogger("vigil-rotate");
const metrics = createMetrics("rotate");

// Parsed once at cold start. A bad variable must not fail the module's import (Lambda would report an init
// error that reaches nobody): every invocation fails with the variable's name and publishes a finding.
const startup = ((): {
  settings?: RotationSettings;
  error?: unknown;
  publish: PublishOutcome | undefined;
} => {
  try {
    const settings = loadRotationSettings();
    return { settings, publish: publisher(settings) };
  } catch (error) {
    logger.error("invalid rotate function configuration", { error });
    return { error, publish: publisher(fallbackDestinations()) };
  }
})();

function publisher(destinations: Pick<RotationSettings, "findingsQueueUrl" | "rotationEventsTopicArn">) {
  return outcomePublisher({
    sqs: sqsClient,
    sns: snsClient,
    queueUrl: destinations.findingsQueueUrl,
    topicArn: destinations.rotationEventsTopicArn,
  });
}

/** Secrets Manager rotation entry point: `{SecretId, ClientRequestToken, Step}`. */
export const handler = async (
  event: unknown,
  context?: Pick<Context, "getRemainingTimeInMillis"> & Partial<Pick<Context, "invokedFunctionArn">>,
): Promise<void> => {
  try {
    let prepared: Parameters<typeof rotateSecretStep>;
    try {
      prepared = prepare(event, context);
    } catch (error) {
      // rotateSecretStep reports every failure it sees; these happen before it runs.
      metrics.count("RotationFailures", {});
      await reportStartupFailure(event, error, context?.invokedFunctionArn);
      throw error;
    }
    await rotateSecretStep(...prepared);
  } finally {
    metrics.flush();
  }
};

function prepare(
  event: unknown,
  context: Pick<Context, "getRemainingTimeInMillis"> | undefined,
): Parameters<typeof rotateSecretStep> {
  if (!startup.settings) throw startup.error;
  const { settings, publish } = startup;
  const rotationEvent = parseRotationEvent(event);
  // Outside Lambda (the sandbox, a script) there may be no deadline: allow 15 minutes, Lambda's maximum.
  const started = Date.now();
  const remaining = context?.getRemainingTimeInMillis
    ? () => context.getRemainingTimeInMillis()
    : () => 900_000 - (Date.now() - started);
  const dependencies: RotationDependencies = {
    secretsManager: secretsManagerClient(),
    ecs: ecsClient,
    logger,
    settings,
    publish,
    metrics,
  };
  return [rotationEvent, new Deadline(remaining, settings.deadlineReserveMs), dependencies];
}

async function reportStartupFailure(event: unknown, error: unknown, functionArn: string | undefined) {
  logger.error("rotation failed before the protocol ran", { error });
  if (!startup.publish) return;
  const failure = error instanceof Error ? error : new Error(redactText(String(error)));
  try {
    await startup.publish(startupFailureFinding({ event, error: failure, functionArn, now: new Date() }));
  } catch (publishError) {
    logger.error("could not publish the rotation failure finding", { error: publishError });
  }
}
