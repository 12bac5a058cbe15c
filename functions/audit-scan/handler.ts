import type { Context } from "aws-lambda";
import {
  cloudTrailClient,
  dynamoDbClient,
  s3Client,
  secretsManagerClient,
  sqsClient,
} from "../../lib/aws.ts";
import { createLogger } from "../../lib/logger.ts";
import { createMetrics } from "../../lib/metrics.ts";
import { createScanner } from "./engine.ts";
import { publishFindings } from "./publish.ts";
import { runScanEvent, type ScanRunResponse } from "./sources/run.ts";
import { loadAuditScanSettings } from "./sources/settings.ts";
import { DynamoScanState } from "./state-dynamodb.ts";

/** DynamoDB calls one scan keeps in flight (the SDK's default agent allows 50 sockets). */
const STATE_CONCURRENCY = 16;
const logger = createLogger("vigil-audit-scan");
const metrics = createMetrics("audit-scan");
const settings = await loadAuditScanSettings();
const state = new DynamoScanState({ client: dynamoDbClient(), tableName: settings.stateTableName });
// A batch's pending findings are decided concurrently: a first file's state updates overlap instead of
// queueing one round trip after another.
const scanner = createScanner({ policy: settings.policy, state, stateConcurrency: STATE_CONCURRENCY });
const sqs = sqsClient();

logger.info("Audit scanner configured", {
  regions: settings.regions,
  policy: settings.policy.source,
  overlapMinutes: settings.overlapMs / 60_000,
  lookupRequestsPerSecond: settings.requestsPerSecond,
});

/** Scheduled sweeps, S3 trail-file notifications and near-real-time CloudTrail events -> findings queue. */
export const handler = async (event: unknown, context: Context): Promise<ScanRunResponse> => {
  logger.addContext(context);
  try {
    return await runScanEvent(event, {
      ...settings,
      scanner,
      state,
      cloudTrail: cloudTrailClient,
      s3: s3Client(),
      secretsManager: secretsManagerClient(),
      publish: (findings) => publishFindings(findings, { sqs, queueUrl: settings.findingsQueueUrl }),
      metrics,
      logger,
      remainingMs: () => context.getRemainingTimeInMillis(),
      holder: context.awsRequestId,
    });
  } finally {
    metrics.flush();
  }
};
