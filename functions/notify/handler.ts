import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { secretsManagerClient, snsClient } from "../../lib/aws.ts";
import { createLogger } from "../../lib/logger.ts";
import { loadNotifierConfig } from "./config.ts";
import { notifyBatch } from "./notify.ts";
import { systemClock } from "./pagerduty-client.ts";
import { createRoutingKeySource } from "./routing-key.ts";

const logger = createLogger("vigil-notify");
const config = loadNotifierConfig();

const routingKeySource = (secretId: string) =>
  createRoutingKeySource(secretsManagerClient(), {
    secretId,
    cacheMs: config.routingKeyCacheMs,
    onStaleKey: (error) =>
      logger.warn("Routing key refresh failed; using the cached key", { secretId, error }),
  });

const routingKeys = {
  primary: routingKeySource(config.routingKeySecretId),
  lowUrgency: config.lowUrgencyRoutingKeySecretId
    ? routingKeySource(config.lowUrgencyRoutingKeySecretId)
    : undefined,
};

/** SQS findings queue -> PagerDuty and SNS, with partial-batch failure reporting. */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  const { response } = await notifyBatch(event.Records, context.getRemainingTimeInMillis(), {
    config,
    sns: snsClient(),
    routingKeys,
    fetch: globalThis.fetch,
    clock: systemClock,
    logger,
  });
  return response;
};
