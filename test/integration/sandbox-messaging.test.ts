import {
  DescribeServicesCommand,
  ECSClient,
  ServiceNotFoundException,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import {
  CreateTopicCommand,
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SNSClient,
} from "@aws-sdk/client-sns";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;
let sns: SNSClient;
let sqs: SQSClient;

beforeAll(async () => {
  sandbox = await startSandbox();
  sns = new SNSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
  sqs = new SQSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
});

afterAll(async () => {
  sns.destroy();
  sqs.destroy();
  await sandbox.stop();
});

const routingKey = "R0UT1NGKEY0123456789abcdefABCDEF";

async function sendEvent(path: "/v2/enqueue" | "/v2/change/enqueue", body: unknown) {
  const response = await fetch(`${sandbox.endpoint}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const trigger = (dedupKey: string, summary = "RotationFailed on prod/orders-db") => ({
  routing_key: routingKey,
  event_action: "trigger",
  dedup_key: dedupKey,
  payload: { summary, source: "vigil", severity: "critical" },
});

describe("SNS", () => {
  it("creates a topic idempotently and records published messages with their attributes", async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: "vigil-alerts" }));
    const again = await sns.send(new CreateTopicCommand({ Name: "vigil-alerts" }));

    const { MessageId } = await sns.send(
      new PublishCommand({
        TopicArn,
        Subject: "[high] unexpected reader",
        Message: '{"rule":"unexpected-reader"}',
        MessageAttributes: {
          severity: { DataType: "String", StringValue: "high" },
          count: { DataType: "Number", StringValue: "3" },
        },
      }),
    );

    expect(TopicArn).toBe("arn:aws:sns:us-east-1:111122223333:vigil-alerts");
    expect(again.TopicArn).toBe(TopicArn);
    expect(sandbox.snsMessages().at(-1)).toMatchObject({
      topicArn: TopicArn,
      subject: "[high] unexpected reader",
      message: '{"rule":"unexpected-reader"}',
      messageAttributes: {
        severity: { DataType: "String", StringValue: "high" },
        count: { DataType: "Number", StringValue: "3" },
      },
      messageId: MessageId,
    });
  });

  it("refuses an unknown topic, a subject of 100 characters and an oversized message", async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: "limits" }));

    await expect(
      sns.send(new PublishCommand({ TopicArn: "arn:aws:sns:us-east-1:111122223333:nope", Message: "m" })),
    ).rejects.toBeInstanceOf(NotFoundException);
    await expect(
      sns.send(new PublishCommand({ TopicArn, Message: "m", Subject: "s".repeat(100) })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(
      sns.send(new PublishCommand({ TopicArn, Message: "m".repeat(256 * 1024 + 1) })),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });
});

describe("PagerDuty Events API v2", () => {
  it("accepts a valid trigger with 202 and the dedup key", async () => {
    const response = await sendEvent("/v2/enqueue", trigger("group-accepted"));

    expect(response).toEqual({
      status: 202,
      body: { status: "success", message: "Event processed", dedup_key: "group-accepted" },
    });
  });

  it("generates a dedup key when the trigger has none", async () => {
    const { dedup_key: _omitted, ...event } = trigger("unused");

    const response = await sendEvent("/v2/enqueue", event);

    expect(response.body.dedup_key).toMatch(/^[0-9a-f]{32}$/);
  });

  it("answers 400 with every validation error", async () => {
    const response = await sendEvent("/v2/enqueue", {
      routing_key: "short",
      event_action: "explode",
      payload: { summary: "x".repeat(1025), severity: "fatal" },
    });

    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ status: "invalid event", message: "Event object is invalid" });
    expect(response.body.errors).toEqual([
      "Length of 'routing_key' is incorrect (should be 32 characters)",
      "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)",
    ]);
    const triggerErrors = (
      await sendEvent("/v2/enqueue", {
        ...trigger("k"),
        payload: { summary: "x".repeat(1025), severity: "fatal" },
      })
    ).body.errors;
    expect(triggerErrors).toEqual([
      "'payload.summary' is too long (maximum is 1024 characters)",
      "'payload.source' is missing or blank",
      "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
    ]);
    expect(sandbox.pagerDutyEvents().filter((event) => event.status === 400)).toHaveLength(2);
  });

  it("adds repeated triggers to one incident, resolves it, and opens a new one after", async () => {
    await sendEvent("/v2/enqueue", trigger("group-lifecycle"));
    await sendEvent("/v2/enqueue", trigger("group-lifecycle"));
    await sendEvent("/v2/enqueue", {
      routing_key: routingKey,
      event_action: "acknowledge",
      dedup_key: "group-lifecycle",
    });
    const afterAcknowledge = sandbox
      .pagerDutyIncidents()
      .filter((incident) => incident.dedupKey === "group-lifecycle");
    await sendEvent("/v2/enqueue", {
      routing_key: routingKey,
      event_action: "resolve",
      dedup_key: "group-lifecycle",
    });
    await sendEvent("/v2/enqueue", trigger("group-lifecycle", "again"));

    const incidents = sandbox
      .pagerDutyIncidents()
      .filter((incident) => incident.dedupKey === "group-lifecycle");

    expect(afterAcknowledge).toMatchObject([{ status: "acknowledged", eventCount: 2 }]);
    expect(incidents).toMatchObject([
      {
        status: "resolved",
        eventCount: 2,
        summary: "RotationFailed on prod/orders-db",
        severity: "critical",
      },
      { status: "triggered", eventCount: 1, summary: "again" },
    ]);
  });

  it("requires a dedup key to resolve", async () => {
    const response = await sendEvent("/v2/enqueue", { routing_key: routingKey, event_action: "resolve" });

    expect(response.status).toBe(400);
  });

  it("accepts change events, which never open an incident", async () => {
    const before = sandbox.pagerDutyIncidents().length;

    const response = await sendEvent("/v2/change/enqueue", {
      routing_key: routingKey,
      payload: {
        summary: "secret.rotated prod/orders-db",
        source: "vigil",
        custom_details: { versionId: "v2" },
      },
    });

    expect(response).toEqual({ status: 202, body: { status: "success", message: "Change event processed" } });
    expect(sandbox.pagerDutyEvents().at(-1)).toMatchObject({ kind: "change", status: 202 });
    expect(sandbox.pagerDutyIncidents()).toHaveLength(before);
  });

  it("lists events and incidents on the inspection API", async () => {
    await sendEvent("/v2/enqueue", trigger("group-inspected"));

    const incidents = (await (await fetch(`${sandbox.endpoint}/_sandbox/pagerduty/incidents`)).json()) as {
      dedupKey: string;
    }[];

    expect(incidents.map((incident) => incident.dedupKey)).toContain("group-inspected");
  });
});

describe("SQS", () => {
  let queueUrl: string;

  beforeEach(async () => {
    const name = `findings-${Math.random().toString(36).slice(2, 8)}`;
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("delivers a sent message with its attributes and deletes it by receipt handle", async () => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: '{"type":"secret.rotated"}',
        MessageAttributes: { type: { DataType: "String", StringValue: "secret.rotated" } },
      }),
    );

    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageAttributeNames: ["All"] }),
    );
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: Messages![0]!.ReceiptHandle }),
    );

    expect(Messages?.[0]).toMatchObject({
      Body: '{"type":"secret.rotated"}',
      MessageAttributes: { type: { DataType: "String", StringValue: "secret.rotated" } },
    });
    expect(sandbox.sqsQueues().find((queue) => queue.url === queueUrl)?.messages).toEqual([]);
  });

  it("hides a received message for the visibility timeout, then delivers it again", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: "one" }));

    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 30 }));
    const hidden = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    vi.advanceTimersByTime(31_000);
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, AttributeNames: ["All"] }));

    expect(first.Messages).toHaveLength(1);
    expect(hidden.Messages).toBeUndefined();
    expect(again.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe("2");
  });

  it("sends and deletes in batches", async () => {
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [1, 2, 3].map((n) => ({ Id: `m${n}`, MessageBody: `body ${n}` })),
      }),
    );

    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
    );
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages!.map((message, index) => ({
          Id: `d${index}`,
          ReceiptHandle: message.ReceiptHandle,
        })),
      }),
    );

    expect(sent.Successful).toHaveLength(3);
    expect(Messages?.map((message) => message.Body).sort()).toEqual(["body 1", "body 2", "body 3"]);
    expect(deleted.Successful).toHaveLength(3);
  });

  it("moves a message to the dead-letter queue after maxReceiveCount receives", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { QueueUrl: deadLetterUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `dlq-${Date.now()}` }),
    );
    const deadLetterArn = sandbox.sqsQueues().find((queue) => queue.url === deadLetterUrl)!.arn;
    const { QueueUrl: sourceUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `source-${Date.now()}`,
        Attributes: {
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: 2 }),
        },
      }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl: sourceUrl, MessageBody: "poison" }));

    for (let attempt = 0; attempt < 2; attempt += 1) {
      await sqs.send(new ReceiveMessageCommand({ QueueUrl: sourceUrl, VisibilityTimeout: 1 }));
      vi.advanceTimersByTime(2_000);
    }
    const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl: sourceUrl }));
    const deadLettered = await sqs.send(new ReceiveMessageCommand({ QueueUrl: deadLetterUrl }));

    expect(third.Messages).toBeUndefined();
    expect(deadLettered.Messages?.[0]?.Body).toBe("poison");
  });

  it("answers QueueDoesNotExist for an unknown queue", async () => {
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: "no-such-queue" }))).rejects.toBeInstanceOf(
      QueueDoesNotExist,
    );
  });
});

describe("ECS", () => {
  it("records a forced deployment and shows it as the primary one", async () => {
    const ecs = new ECSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });

    const { service } = await ecs.send(
      new UpdateServiceCommand({ cluster: "trading", service: "order-router", forceNewDeployment: true }),
    );
    const described = await ecs.send(
      new DescribeServicesCommand({ cluster: "trading", services: ["order-router"] }),
    );

    expect(service?.serviceArn).toBe("arn:aws:ecs:us-east-1:111122223333:service/trading/order-router");
    expect(described.services?.[0]?.deployments?.[0]).toMatchObject({
      id: service?.deployments?.[0]?.id,
      status: "PRIMARY",
    });
    expect(sandbox.ecsDeployments()).toMatchObject([
      { cluster: "trading", service: "order-router", forceNewDeployment: true },
    ]);
    ecs.destroy();
  });

  it("refuses services it was not told about when ecsServices is set", async () => {
    const strict = await startSandbox({ ecsServices: ["trading/order-router"] });
    const ecs = new ECSClient({ ...strict.clientConfig(), maxAttempts: 1 });
    try {
      await expect(
        ecs.send(
          new UpdateServiceCommand({ cluster: "trading", service: "risk-engine", forceNewDeployment: true }),
        ),
      ).rejects.toBeInstanceOf(ServiceNotFoundException);
      await expect(
        ecs.send(
          new UpdateServiceCommand({ cluster: "trading", service: "order-router", forceNewDeployment: true }),
        ),
      ).resolves.toBeDefined();
    } finally {
      ecs.destroy();
      await strict.stop();
    }
  });
});
