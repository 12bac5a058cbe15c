import { CloudTrailClient, LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import { ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  sandbox = await startSandbox({ snsTopics: ["alerts"], sqsQueues: ["findings"], lookupEventsPerSecond: 0 });
  secrets = new SecretsManagerClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
  await secrets.send(new CreateSecretCommand({ Name: "prod/db", SecretString: "v1" }));
});

afterAll(async () => {
  secrets.destroy();
  await sandbox.stop();
});

afterEach(() => {
  sandbox.faults.clear();
});

const pagerDutyEvent = {
  routing_key: "a".repeat(32),
  event_action: "trigger",
  payload: { summary: "rotation failed", source: "vigil", severity: "critical" },
};

describe("faults.inject", () => {
  it("throttles the matching operation, which the SDK retries until the fault is used up", async () => {
    const retrying = new SecretsManagerClient({
      ...sandbox.clientConfig(),
      maxAttempts: 3,
      retryMode: "standard",
    });
    sandbox.faults.inject({
      target: "secretsmanager",
      operation: "GetSecretValue",
      kind: "throttle",
      times: 2,
    });

    const result = await retrying.send(new GetSecretValueCommand({ SecretId: "prod/db" }));

    expect(result.SecretString).toBe("v1");
    expect(result.$metadata.attempts).toBe(3);
    const throttled = sandbox
      .cloudTrailRecords()
      .filter((record) => record.errorCode === "ThrottlingException");
    expect(throttled).toHaveLength(2);
  });

  it("answers 5xx with the given status", async () => {
    sandbox.faults.inject({ target: "secretsmanager", kind: "5xx", status: 503 });

    const failure = secrets.send(new PutSecretValueCommand({ SecretId: "prod/db", SecretString: "v2" }));

    await expect(failure).rejects.toMatchObject({
      name: "InternalServiceError",
      $metadata: { httpStatusCode: 503 },
    });
  });

  it("leaves other operations and targets alone", async () => {
    sandbox.faults.inject({ target: "secretsmanager", operation: "PutSecretValue", kind: "5xx" });
    sandbox.faults.inject({ target: "cloudtrail", kind: "throttle" });

    const result = await secrets.send(new GetSecretValueCommand({ SecretId: "prod/db" }));

    expect(result.SecretString).toBe("v1");
  });

  it("delays responses by the given latency", async () => {
    const impatient = new SecretsManagerClient({
      ...sandbox.clientConfig(),
      maxAttempts: 1,
      requestHandler: { requestTimeout: 100, throwOnRequestTimeout: true },
    });
    sandbox.faults.inject({ target: "secretsmanager", kind: "latency", latencyMs: 5_000, times: 1 });

    await expect(impatient.send(new GetSecretValueCommand({ SecretId: "prod/db" }))).rejects.toMatchObject({
      name: "TimeoutError",
    });
    impatient.destroy();
  });

  it("drops the connection without an answer", async () => {
    sandbox.faults.inject({ target: "cloudtrail", operation: "LookupEvents", kind: "drop", times: 1 });
    const cloudTrail = new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 });

    const failure = cloudTrail.send(new LookupEventsCommand({}));

    await expect(failure).rejects.toMatchObject({ $metadata: {} });
    await expect(failure).rejects.not.toHaveProperty("$metadata.httpStatusCode");
    await expect(cloudTrail.send(new LookupEventsCommand({}))).resolves.toMatchObject({
      $metadata: { httpStatusCode: 200 },
      Events: expect.any(Array),
    });
  });

  it("throttles SNS Publish with the query protocol's Throttling error", async () => {
    const sns = new SNSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
    sandbox.faults.inject({ target: "sns", operation: "Publish", kind: "throttle" });

    const failure = sns.send(
      new PublishCommand({ TopicArn: "arn:aws:sns:us-east-1:111122223333:alerts", Message: "m" }),
    );

    await expect(failure).rejects.toMatchObject({ name: "Throttling" });
    expect(sandbox.snsMessages()).toEqual([]);
  });

  it("fails SQS SendMessage with a server error", async () => {
    const sqs = new SQSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
    sandbox.faults.inject({ target: "sqs", operation: "SendMessage", kind: "5xx", times: 1 });

    const failure = sqs.send(
      new SendMessageCommand({ QueueUrl: `${sandbox.endpoint}/111122223333/findings`, MessageBody: "{}" }),
    );

    await expect(failure).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
  });

  it("answers PagerDuty with 429 for throttle and records the attempt", async () => {
    sandbox.faults.inject({ target: "pagerduty", operation: "enqueue", kind: "throttle", times: 1 });

    const throttled = await fetch(sandbox.env.PAGERDUTY_EVENTS_URL!, {
      method: "POST",
      body: JSON.stringify(pagerDutyEvent),
    });
    const accepted = await fetch(sandbox.env.PAGERDUTY_EVENTS_URL!, {
      method: "POST",
      body: JSON.stringify(pagerDutyEvent),
    });

    expect(throttled.status).toBe(429);
    expect(accepted.status).toBe(202);
    expect(sandbox.pagerDutyEvents().map((event) => event.status)).toEqual([429, 202]);
    expect(sandbox.pagerDutyIncidents()).toHaveLength(1);
  });

  it("drops a PagerDuty connection", async () => {
    sandbox.faults.inject({ target: "pagerduty", kind: "drop", times: 1 });

    await expect(
      fetch(sandbox.env.PAGERDUTY_EVENTS_URL!, { method: "POST", body: JSON.stringify(pagerDutyEvent) }),
    ).rejects.toThrow();
  });

  it("can be injected over HTTP for a sandbox running in another process", async () => {
    await fetch(`${sandbox.endpoint}/_sandbox/faults`, {
      method: "POST",
      body: JSON.stringify({ target: "secretsmanager", kind: "5xx", times: 1 }),
    });

    await expect(secrets.send(new GetSecretValueCommand({ SecretId: "prod/db" }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 500 },
    });
    await expect(secrets.send(new GetSecretValueCommand({ SecretId: "prod/db" }))).resolves.toMatchObject({
      SecretString: "v1",
    });
  });

  it("refuses a rule that could never apply, naming the field, and injects nothing", async () => {
    const response = await fetch(`${sandbox.endpoint}/_sandbox/faults`, {
      method: "POST",
      body: JSON.stringify({ target: "secretmanager", kind: "5xx" }),
    });

    expect(response.status).toBe(400);
    const message = ((await response.json()) as { message: string }).message;
    expect(message).toMatch(/^fault rule: target must be one of [a-z0-9, ]+$/);
    for (const target of ["secretsmanager", "cloudtrail", "sns", "sqs", "pagerduty", "ibgateway", "ecs"]) {
      expect(message.split("one of ")[1]!.split(", ")).toContain(target);
    }
    expect(() => sandbox.faults.inject({ target: "sns", kind: "latency", latencyMs: -1 })).toThrow(
      "fault rule: latencyMs must be an integer 0-600000",
    );
    await expect(secrets.send(new GetSecretValueCommand({ SecretId: "prod/db" }))).resolves.toMatchObject({
      SecretString: "v1",
    });
  });

  it("refuses an operation the target does not have, listing the valid ones", async () => {
    const response = await fetch(`${sandbox.endpoint}/_sandbox/faults`, {
      method: "POST",
      body: JSON.stringify({ target: "secretsmanager", operation: "GetSecretValu", kind: "5xx" }),
    });

    expect(response.status).toBe(400);
    const { message } = (await response.json()) as { message: string };
    expect(message).toMatch(
      /^fault rule: operation "GetSecretValu" is not an operation of secretsmanager; valid: /,
    );
    expect(message).toContain("GetSecretValue, ");
    expect(sandbox.faults.list()).toEqual([]);
  });

  it("refuses a body that is not JSON with a message saying so", async () => {
    const response = await fetch(`${sandbox.endpoint}/_sandbox/faults`, {
      method: "POST",
      body: "target=sns",
    });

    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toBe(
      "POST /_sandbox/faults: the body must be JSON (got 10 bytes that do not parse)",
    );
  });

  it("lists the active rules with the uses they have left", async () => {
    sandbox.faults.inject({ target: "sqs", operation: "SendMessage", kind: "throttle", times: 2 });
    sandbox.faults.inject({ target: "pagerduty", kind: "latency", latencyMs: 10 });
    const sqs = new SQSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
    await sqs
      .send(
        new SendMessageCommand({ QueueUrl: `${sandbox.endpoint}/111122223333/findings`, MessageBody: "{}" }),
      )
      .catch(() => undefined);

    const response = await fetch(`${sandbox.endpoint}/_sandbox/faults`);

    expect(response.status).toBe(200);
    const listed = (await response.json()) as { rules: unknown[]; targets: Record<string, string[]> };
    expect(listed.rules).toEqual([
      { target: "sqs", operation: "SendMessage", kind: "throttle", times: 1 },
      { target: "pagerduty", kind: "latency", latencyMs: 10 },
    ]);
    expect(listed.targets.pagerduty).toEqual(["enqueue", "change"]);
  });

  it("fails ECS UpdateService with a server error", async () => {
    const ecs = new ECSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
    sandbox.faults.inject({ target: "ecs", operation: "UpdateService", kind: "5xx", times: 1 });

    const failure = ecs.send(
      new UpdateServiceCommand({ cluster: "trading", service: "order-router", forceNewDeployment: true }),
    );

    await expect(failure).rejects.toMatchObject({
      name: "ServerException",
      $metadata: { httpStatusCode: 500 },
    });
    expect(sandbox.ecsDeployments()).toEqual([]);
  });
});
