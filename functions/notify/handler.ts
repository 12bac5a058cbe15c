import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { dynamoDbClient, secretsManagerClient, snsClient } from "../../lib/aws.ts";
import { createLogger } from "../../lib/logger.ts";
import { createMetrics, recordNotifyBatch } from "../../lib/metrics.ts";
import { DynamoAlertStateStore } from "./alert-state-dynamodb.ts";
import { createChannels } from "./channels/index.ts";
import { loadNotifierConfig } from "./config.ts";
import { notifyBatch } from "./notify.ts";
import { systemClock } from "./pagerduty-client.ts";
import { createRoutingKeySource } from "./routing-key.ts";

const logger = createLogger("vigil-notify");
const metrics = createMetrics("notify");
const config = loadNotifierConfig();
const sns = snsClient();
const secretsManager = secretsManagerClient();

const routingKeySource = (secretId: string) =>
  createRoutingKeySource(secretsManager, {
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

logger.info("Notifier configured", {
  pagerDutyEventsUrl: config.pagerDutyEventsUrl,
  stateTableName: config.stateTableName,
  pageSeverities: [...config.routing.page],
  lowUrgencySeverities: config.lowUrgencyRoutingKeySecretId ? [...config.routing.lowUrgency] : [],
  snsSeverities: [...config.routing.sns],
  repeatIntervalSeconds: config.repeatIntervalMs / 1000,
});

const dependencies = {
  config,
  sns,
  routingKeys,
  fetch: globalThis.fetch,
  clock: systemClock,
  logger,
  alertState: new DynamoAlertStateStore(dynamoDbClient(), config.stateTableName),
};
const channels = createChannels(dependencies);

/** SQS findings queue -> every notification channel (PagerDuty, SNS), with partial-batch failure reporting. */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  const { response, report } = await notifyBatch(event.Records, context.getRemainingTimeInMillis(), {
    ...dependencies,
    channels,
  });
  recordNotifyBatch(metrics, report);
  metrics.flush();
  return response;
};
