import type { LambdaDelivery } from "./lambda.ts";
import type { MessageAttribute, Sqs } from "./sqs.ts";

type Json = Record<string, unknown>;

/**
 * A Lambda event source mapping: polls the queue, invokes the handler with up to `batchSize` messages as
 * an SQS event, and deletes the messages it did not report in `batchItemFailures`. A failed invocation
 * leaves the whole batch to come back after the visibility timeout (and the redrive policy), as in AWS.
 */
export async function consume(
  sqs: Sqs,
  queueUrl: string,
  batchSize: number,
  delivery: LambdaDelivery,
  region: string,
): Promise<void> {
  const queueArn = sqs.queueArnOf({ QueueUrl: queueUrl })!;
  while (!sqs.isStopped()) {
    const { Messages } = (await sqs.handle("ReceiveMessage", {
      QueueUrl: queueUrl,
      MaxNumberOfMessages: batchSize,
      WaitTimeSeconds: 1,
    })) as { Messages?: Json[] };
    if (!Messages || Messages.length === 0) continue;
    const event = { Records: Messages.map((message) => lambdaRecord(message, queueArn, region)) };
    let failed: Set<unknown>;
    try {
      const result = (await delivery.invoke(
        "sqs",
        `${Messages.length} message(s) from ${queueUrl}`,
        event,
      )) as { batchItemFailures?: { itemIdentifier?: unknown }[] } | undefined;
      failed = new Set((result?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    } catch {
      continue;
    }
    for (const message of Messages.filter((message) => !failed.has(message.MessageId))) {
      await sqs.handle("DeleteMessage", { QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle });
    }
  }
}

/** One message as Lambda's SQS event carries it: lower-camel keys, attributes with stringValue/dataType. */
function lambdaRecord(message: Json, queueArn: string, region: string): Json {
  const attributes = (message.MessageAttributes ?? {}) as Record<string, MessageAttribute>;
  return {
    messageId: message.MessageId,
    receiptHandle: message.ReceiptHandle,
    body: message.Body,
    attributes: message.Attributes,
    messageAttributes: Object.fromEntries(
      Object.entries(attributes).map(([name, attribute]) => [
        name,
        {
          dataType: attribute.DataType,
          ...(attribute.StringValue !== undefined ? { stringValue: attribute.StringValue } : {}),
          ...(attribute.BinaryValue !== undefined ? { binaryValue: attribute.BinaryValue } : {}),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody,
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}
