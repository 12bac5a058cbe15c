import {
  CreateTopicCommand,
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SNSClient,
} from "@aws-sdk/client-sns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;
let sns: SNSClient;

beforeAll(async () => {
  sandbox = await startSandbox();
  sns = new SNSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
});

afterAll(async () => {
  sns.destroy();
  await sandbox.stop();
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

  it("counts message attributes against the 256 KiB, as SNS does", async () => {
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: "limits-with-attributes" }));
    const message = "m".repeat(256 * 1024 - 100);

    await expect(
      sns.send(
        new PublishCommand({
          TopicArn,
          Message: message,
          MessageAttributes: { secret: { DataType: "String", StringValue: "s".repeat(200) } },
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(
      sns.send(
        new PublishCommand({
          TopicArn,
          Message: message,
          MessageAttributes: { severity: { DataType: "String", StringValue: "high" } },
        }),
      ),
    ).resolves.toHaveProperty("MessageId");
  });
});
