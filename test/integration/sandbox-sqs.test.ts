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
let sqs: SQSClient;

beforeAll(async () => {
  sandbox = await startSandbox();
  sqs = new SQSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
});

afterAll(async () => {
  sqs.destroy();
  await sandbox.stop();
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
