import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ECSClient } from "@aws-sdk/client-ecs";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";

/**
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

export const secretsManagerClient = /* @__PURE__ */ lazy(() => new SecretsManagerClient({ requestHandler }));
export const cloudTrailClient = /* @__PURE__ */ lazy(() => new CloudTrailClient({ requestHandler }));
export const snsClient = /* @__PURE__ */ lazy(() => new SNSClient({ requestHandler }));
export const sqsClient = /* @__PURE__ */ lazy(() => new SQSClient({ requestHandler }));
export const ecsClient = /* @__PURE__ */ lazy(() => new ECSClient({ requestHandler }));
export const dynamoDbClient = /* @__PURE__ */ lazy(() => new DynamoDBClient({ requestHandler }));
