import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";

/*
 * One client per service, created on first use and reused for the life of the Lambda container.
 * Endpoints are never set here: the SDK itself honours AWS_ENDPOINT_URL and
 * AWS_ENDPOINT_URL_<SERVICE> (that is how the sandbox and tests reach a local peer). Functions take
 * their clients as parameters, so a test passes a mocked or sandbox-bound client instead.
 */

// Bounds on one HTTP attempt, so a stalled endpoint fails (and is retried by the SDK) well inside a
// Lambda deadline instead of holding the invocation until it is killed.
const requestHandler = { connectionTimeout: 3_000, requestTimeout: 10_000, throwOnRequestTimeout: true };

function lazy<T>(create: () => T): () => T {
  let client: T | undefined;
  return () => {
    client ??= create();
    return client;
  };
}

/** The container's Secrets Manager client. */
export const secretsManagerClient = /* @__PURE__ */ lazy(() => new SecretsManagerClient({ requestHandler }));
// LookupEvents callers pace and retry through one token bucket per region (2 requests/s): the SDK's own
// retries would send requests the bucket never counted.
const cloudTrailClients = new Map<string, CloudTrailClient>();
/** The container's CloudTrail client (LookupEvents, for the audit scanner); one per region, no SDK retries. */
export const cloudTrailClient = (region?: string): CloudTrailClient => {
  const key = region ?? "";
  let client = cloudTrailClients.get(key);
  if (!client) {
    client = new CloudTrailClient({ requestHandler, maxAttempts: 1, ...(region ? { region } : {}) });
    cloudTrailClients.set(key, client);
  }
  return client;
};
/** The container's SNS client. */
export const snsClient = /* @__PURE__ */ lazy(() => new SNSClient({ requestHandler }));
/** The container's SQS client (the findings queue). */
export const sqsClient = /* @__PURE__ */ lazy(() => new SQSClient({ requestHandler }));
/** The container's ECS client (forced deployments after a rotation). */
export const ecsClient = /* @__PURE__ */ lazy(() => new ECSClient({ requestHandler }));
/** The container's DynamoDB client (the audit scanner's checkpoints and baselines). */
export const dynamoDbClient = /* @__PURE__ */ lazy(() => new DynamoDBClient({ requestHandler }));
/** The S3 client's options (the benchmark's bare loop over S3 builds its client from them too). */
export const s3ClientOptions: S3ClientConfig = { requestHandler };
/** The container's S3 client (the audit scanner's trail files). */
export const s3Client = /* @__PURE__ */ lazy(() => new S3Client(s3ClientOptions));
