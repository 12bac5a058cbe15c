import { createHash, randomUUID } from "node:crypto";
import { awsJson } from "./aws-json.ts";
import { AwsServiceError } from "./errors.ts";
import { LambdaDelivery } from "./lambda.ts";
import { awsFaults, type ServiceContext, type ServiceFactory, withApi } from "./service.ts";
import { consume } from "./sqs-consumer.ts";

/**
 * A minimal Amazon SQS over AWS JSON 1.0 (`AmazonSQS.<Op>`, what SDK v3 speaks): standard queues with
 * visibility timeouts, long polling, batches and an optional redrive policy to a dead-letter queue.
 */

type Json = Record<string, unknown>;

export interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

interface QueuedMessage {
  messageId: string;
  body: string;
  attributes: Record<string, MessageAttribute>;
  sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  receiptHandle?: string;
}

interface Queue {
  name: string;
  url: string;
  arn: string;
  attributes: Record<string, string>;
  messages: QueuedMessage[];
  created: number;
}

/** What `sandbox.sqsQueues()` shows of a queue. */
export interface SqsQueueSnapshot {
  name: string;
  url: string;
  arn: string;
  attributes: Record<string, string>;
  messages: {
    messageId: string;
    body: string;
    messageAttributes: Record<string, MessageAttribute>;
    receiveCount: number;
    inFlight: boolean;
  }[];
}

const maxBatchEntries = 10;
const maxMessageBytes = 256 * 1024;
const pollIntervalMs = 20;

const nonExistentQueue = () =>
  new AwsServiceError(
    "com.amazonaws.sqs#QueueDoesNotExist",
    "The specified queue does not exist.",
    400,
    "AWS.SimpleQueueService.NonExistentQueue",
  );

function md5(value: Buffer | string): string {
  return createHash("md5").update(value).digest("hex");
}

/** The MD5 of message attributes as SQS computes it: sorted names, length-prefixed fields, a transport byte. */
function attributesMd5(attributes: Record<string, MessageAttribute>): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const parts: Buffer[] = [];
  const lengthPrefixed = (value: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(value.length, 0);
    parts.push(length, value);
  };
  for (const name of names) {
    const attribute = attributes[name]!;
    lengthPrefixed(Buffer.from(name, "utf8"));
    lengthPrefixed(Buffer.from(attribute.DataType, "utf8"));
    if (attribute.BinaryValue !== undefined) {
      parts.push(Buffer.from([2]));
      lengthPrefixed(Buffer.from(attribute.BinaryValue, "base64"));
    } else {
      parts.push(Buffer.from([1]));
      lengthPrefixed(Buffer.from(attribute.StringValue ?? "", "utf8"));
    }
  }
  return md5(Buffer.concat(parts));
}

export class Sqs {
  private readonly queues = new Map<string, Queue>();
  private stopped = false;

  constructor(
    private readonly endpoint: () => string,
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** Ends long polls in progress, for a prompt stop. */
  stop(): void {
    this.stopped = true;
  }

  /** True once stop() was called. */
  isStopped(): boolean {
    return this.stopped;
  }

  snapshot(): SqsQueueSnapshot[] {
    const now = Date.now();
    return [...this.queues.values()].map((queue) => ({
      name: queue.name,
      url: queue.url,
      arn: queue.arn,
      attributes: { ...queue.attributes },
      messages: queue.messages.map((message) => ({
        messageId: message.messageId,
        body: message.body,
        messageAttributes: message.attributes,
        receiveCount: message.receiveCount,
        inFlight: message.visibleAt > now,
      })),
    }));
  }

  /** Creates a queue outside the API (for seeding); returns its URL. */
  createQueue(name: string, attributes: Record<string, string> = {}): string {
    const existing = this.queues.get(name);
    if (existing) return existing.url;
    const queue: Queue = {
      name,
      url: `${this.endpoint()}/${this.accountId}/${name}`,
      arn: `arn:aws:sqs:${this.region}:${this.accountId}:${name}`,
      attributes: {
        VisibilityTimeout: "30",
        MessageRetentionPeriod: "345600",
        DelaySeconds: "0",
        ...attributes,
      },
      messages: [],
      created: Date.now(),
    };
    this.queues.set(name, queue);
    return queue.url;
  }

  /** The queue a call names, for CloudTrail resources. */
  queueArnOf(input: Json): string | undefined {
    const url = typeof input.QueueUrl === "string" ? input.QueueUrl : undefined;
    return url ? this.queues.get(url.split("/").pop() ?? "")?.arn : undefined;
  }

  async handle(operation: string, input: Json): Promise<Json> {
    switch (operation) {
      case "CreateQueue": {
        const name = String(input.QueueName ?? "");
        if (!/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(name)) {
          throw new AwsServiceError(
            "InvalidParameterValue",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
          );
        }
        return { QueueUrl: this.createQueue(name, (input.Attributes as Record<string, string>) ?? {}) };
      }
      case "GetQueueUrl": {
        const queue = this.queues.get(String(input.QueueName ?? ""));
        if (!queue) throw nonExistentQueue();
        return { QueueUrl: queue.url };
      }
      case "ListQueues":
        return { QueueUrls: [...this.queues.values()].map((queue) => queue.url) };
      case "GetQueueAttributes": {
        const queue = this.queue(input);
        const now = Date.now();
        return {
          Attributes: {
            ...queue.attributes,
            QueueArn: queue.arn,
            ApproximateNumberOfMessages: String(
              queue.messages.filter((message) => message.visibleAt <= now).length,
            ),
            ApproximateNumberOfMessagesNotVisible: String(
              queue.messages.filter((message) => message.visibleAt > now).length,
            ),
            CreatedTimestamp: String(Math.floor(queue.created / 1000)),
          },
        };
      }
      case "SetQueueAttributes": {
        const queue = this.queue(input);
        Object.assign(queue.attributes, (input.Attributes as Record<string, string>) ?? {});
        return {};
      }
      case "PurgeQueue":
        this.queue(input).messages = [];
        return {};
      case "DeleteQueue":
        this.queues.delete(this.queue(input).name);
        return {};
      case "SendMessage":
        return this.send(this.queue(input), input);
      case "SendMessageBatch":
        return this.sendBatch(this.queue(input), input);
      case "ReceiveMessage":
        return this.receive(this.queue(input), input);
      case "DeleteMessage": {
        const queue = this.queue(input);
        this.deleteByHandle(queue, String(input.ReceiptHandle ?? ""));
        return {};
      }
      case "DeleteMessageBatch":
        return this.deleteBatch(this.queue(input), input);
      case "ChangeMessageVisibility": {
        const queue = this.queue(input);
        const message = queue.messages.find((candidate) => candidate.receiptHandle === input.ReceiptHandle);
        if (!message)
          throw new AwsServiceError("ReceiptHandleIsInvalid", "The input receipt handle is invalid.");
        message.visibleAt = Date.now() + Number(input.VisibilityTimeout ?? 0) * 1000;
        return {};
      }
      default:
        throw new AwsServiceError(
          "UnknownOperationException",
          `The sandbox does not implement ${operation}.`,
        );
    }
  }

  private queue(input: Json): Queue {
    const url = typeof input.QueueUrl === "string" ? input.QueueUrl : "";
    const queue = this.queues.get(url.split("/").pop() ?? "");
    if (!queue) throw nonExistentQueue();
    return queue;
  }

  private enqueue(queue: Queue, body: unknown, attributes: unknown, delaySeconds: unknown): Json {
    if (typeof body !== "string" || body.length === 0) {
      throw new AwsServiceError("MissingParameter", "The request must contain the parameter MessageBody.");
    }
    if (Buffer.byteLength(body, "utf8") > maxMessageBytes) {
      throw new AwsServiceError(
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.",
      );
    }
    const messageAttributes = (attributes as Record<string, MessageAttribute> | undefined) ?? {};
    const now = Date.now();
    const delay = Number(delaySeconds ?? queue.attributes.DelaySeconds ?? 0);
    const message: QueuedMessage = {
      messageId: randomUUID(),
      body,
      attributes: messageAttributes,
      sentAt: now,
      visibleAt: now + delay * 1000,
      receiveCount: 0,
    };
    queue.messages.push(message);
    const attributesHash = attributesMd5(messageAttributes);
    return {
      MessageId: message.messageId,
      MD5OfMessageBody: md5(body),
      ...(attributesHash ? { MD5OfMessageAttributes: attributesHash } : {}),
    };
  }

  private send(queue: Queue, input: Json): Json {
    return this.enqueue(queue, input.MessageBody, input.MessageAttributes, input.DelaySeconds);
  }

  private sendBatch(queue: Queue, input: Json): Json {
    return eachEntry(input, (entry) =>
      this.enqueue(queue, entry.MessageBody, entry.MessageAttributes, entry.DelaySeconds),
    );
  }

  private async receive(queue: Queue, input: Json): Promise<Json> {
    const max = Number(input.MaxNumberOfMessages ?? 1);
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw new AwsServiceError(
        "InvalidParameterValue",
        "Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
      );
    }
    const visibility = Number(input.VisibilityTimeout ?? queue.attributes.VisibilityTimeout ?? 30);
    const waitMs =
      Number(input.WaitTimeSeconds ?? queue.attributes.ReceiveMessageWaitTimeSeconds ?? 0) * 1000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const taken = this.take(queue, max, visibility);
      if (taken.length > 0 || Date.now() >= deadline || this.stopped) {
        return taken.length > 0 ? { Messages: taken } : {};
      }
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    }
  }

  private take(queue: Queue, max: number, visibilitySeconds: number): Json[] {
    const now = Date.now();
    const redrive = parseRedrive(queue.attributes.RedrivePolicy);
    const taken: Json[] = [];
    for (const message of [...queue.messages]) {
      if (taken.length >= max) break;
      if (message.visibleAt > now) continue;
      // A message received maxReceiveCount times moves to the dead-letter queue instead of being delivered again.
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        const deadLetter = [...this.queues.values()].find(
          (candidate) => candidate.arn === redrive.deadLetterTargetArn,
        );
        if (deadLetter) {
          queue.messages.splice(queue.messages.indexOf(message), 1);
          deadLetter.messages.push({ ...message, visibleAt: now, receiveCount: 0, receiptHandle: undefined });
          continue;
        }
      }
      message.receiveCount += 1;
      message.firstReceivedAt ??= now;
      message.visibleAt = now + visibilitySeconds * 1000;
      message.receiptHandle = Buffer.from(`${queue.name}:${message.messageId}:${randomUUID()}`).toString(
        "base64",
      );
      const attributesHash = attributesMd5(message.attributes);
      taken.push({
        MessageId: message.messageId,
        ReceiptHandle: message.receiptHandle,
        MD5OfBody: md5(message.body),
        Body: message.body,
        Attributes: {
          SenderId: this.accountId,
          SentTimestamp: String(message.sentAt),
          ApproximateReceiveCount: String(message.receiveCount),
          ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt),
        },
        ...(attributesHash
          ? { MessageAttributes: message.attributes, MD5OfMessageAttributes: attributesHash }
          : {}),
      });
    }
    return taken;
  }

  private deleteByHandle(queue: Queue, handle: string): void {
    const index = queue.messages.findIndex((message) => message.receiptHandle === handle);
    if (index >= 0) {
      queue.messages.splice(index, 1);
      return;
    }
    // SQS accepts a stale handle of a message already deleted; a handle it never issued is invalid.
    if (!Buffer.from(handle, "base64").toString("utf8").startsWith(`${queue.name}:`)) {
      throw new AwsServiceError(
        "ReceiptHandleIsInvalid",
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
      );
    }
  }

  private deleteBatch(queue: Queue, input: Json): Json {
    return eachEntry(input, (entry) => {
      this.deleteByHandle(queue, String(entry.ReceiptHandle ?? ""));
      return {};
    });
  }
}

/** Runs `apply` on each entry of a batch request; one entry's failure lands in Failed, not the whole call. */
function eachEntry(input: Json, apply: (entry: Json) => Json): Json {
  const entries = (Array.isArray(input.Entries) ? input.Entries : []) as Json[];
  validateBatch(entries);
  const successful: Json[] = [];
  const failed: Json[] = [];
  for (const entry of entries) {
    try {
      successful.push({ Id: entry.Id, ...apply(entry) });
    } catch (error) {
      const code = error instanceof AwsServiceError ? error.code : "InternalError";
      failed.push({ Id: entry.Id, SenderFault: true, Code: code, Message: (error as Error).message });
    }
  }
  return { Successful: successful, Failed: failed };
}

function validateBatch(entries: Json[]): void {
  if (entries.length === 0) {
    throw new AwsServiceError(
      "com.amazonaws.sqs#EmptyBatchRequest",
      "There should be at least one entry in the request.",
      400,
      "AWS.SimpleQueueService.EmptyBatchRequest",
    );
  }
  if (entries.length > maxBatchEntries) {
    throw new AwsServiceError(
      "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
      "Maximum number of entries per request are 10.",
      400,
      "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    );
  }
  const ids = entries.map((entry) => entry.Id);
  if (new Set(ids).size !== ids.length) {
    throw new AwsServiceError(
      "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
      "Two or more batch entries in the request have the same Id.",
      400,
      "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    );
  }
}

function parseRedrive(
  value: string | undefined,
): { deadLetterTargetArn: string; maxReceiveCount: number } | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as { deadLetterTargetArn?: string; maxReceiveCount?: number | string };
    if (parsed.deadLetterTargetArn && parsed.maxReceiveCount) {
      return {
        deadLetterTargetArn: parsed.deadLetterTargetArn,
        maxReceiveCount: Number(parsed.maxReceiveCount),
      };
    }
  } catch {
    // an unparsable policy is ignored, like no policy
  }
  return undefined;
}

/** Every operation the sandbox's SQS serves. */
const sqsOperations = [
  "CreateQueue",
  "GetQueueUrl",
  "ListQueues",
  "GetQueueAttributes",
  "SetQueueAttributes",
  "PurgeQueue",
  "DeleteQueue",
  "SendMessage",
  "SendMessageBatch",
  "ReceiveMessage",
  "DeleteMessage",
  "DeleteMessageBatch",
  "ChangeMessageVisibility",
] as const;

/** SQS calls CloudTrail logs as management events; the message calls are data events. */
const sqsManagementOperations = new Set<string>([
  "CreateQueue",
  "DeleteQueue",
  "ListQueues",
  "GetQueueUrl",
  "GetQueueAttributes",
  "SetQueueAttributes",
  "PurgeQueue",
]);
const sqsReadOnlyOperations = new Set<string>([
  "ReceiveMessage",
  "GetQueueUrl",
  "GetQueueAttributes",
  "ListQueues",
]);

/** The sandbox's SQS: AWS JSON 1.0 with awsQueryCompatible errors (`AmazonSQS.<Operation>`). */
export const sqsService = ((context: ServiceContext) => {
  const sqs = new Sqs(() => context.endpoint, context.region, context.accountId);
  for (const queue of context.options.sqsQueues ?? []) sqs.createQueue(queue);
  const consumers = (context.options.queueConsumers ?? []).map((consumer) => {
    const delivery = new LambdaDelivery(consumer.functionName, consumer.handler);
    delivery.onInvocation((invocation) => context.emit({ type: "invocation", invocation }));
    const queueUrl = sqs.createQueue(consumer.queue);
    return { delivery, running: consume(sqs, queueUrl, consumer.batchSize ?? 10, delivery, context.region) };
  });
  return withApi(
    {
      name: "sqs",
      protocol: awsJson({ version: "1.0", target: "AmazonSQS.", queryCompatible: true }),
      operations: sqsOperations,
      handle: (call) => sqs.handle(call.operation, call.input),
      cloudTrail: {
        eventSource: "sqs.amazonaws.com",
        readOnly: (operation) => sqsReadOnlyOperations.has(operation),
        requestParameters({ input }) {
          const parameters: Json = {};
          if (typeof input.QueueUrl === "string") parameters.queueUrl = input.QueueUrl;
          if (typeof input.QueueName === "string") parameters.queueName = input.QueueName;
          return Object.keys(parameters).length > 0 ? parameters : null;
        },
        category: (operation) => (sqsManagementOperations.has(operation) ? "Management" : "Data"),
        resource({ input }) {
          const arn = sqs.queueArnOf(input);
          return arn ? { type: "AWS::SQS::Queue", name: arn } : undefined;
        },
      },
      faults: awsFaults("InternalFailure"),
      views: { sqs: () => sqs.snapshot() },
      stop: async () => {
        sqs.stop();
        await Promise.all(consumers.map((consumer) => consumer.running));
      },
    },
    {
      snapshot: () => sqs.snapshot(),
      createQueue: (name: string, attributes?: Record<string, string>) => sqs.createQueue(name, attributes),
    },
  );
}) satisfies ServiceFactory;
