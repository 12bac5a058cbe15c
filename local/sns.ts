import { randomUUID } from "node:crypto";
import { AwsServiceError } from "./errors.ts";
import { type ServiceContext, type ServiceFactory, type WireProtocol, withApi } from "./service.ts";

/** Amazon SNS over the query protocol (form-encoded requests, XML responses): topics and Publish. */

export interface SnsMessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

export interface SnsMessageRecord {
  topicArn: string;
  subject?: string;
  message: string;
  messageAttributes: Record<string, SnsMessageAttribute>;
  messageId: string;
  messageGroupId?: string;
  at: string;
}

const xmlns = "http://sns.amazonaws.com/doc/2010-03-31/";
/** SNS limits: 256 KiB per message with its attributes, subjects under 100 ASCII characters, 10 attributes. */
const maxMessageBytes = 256 * 1024;
const maxSubjectLength = 99;
const maxAttributes = 10;

/** Escapes text for an XML element or attribute. */
export function escapeXml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

export class Sns {
  private readonly topics = new Map<string, { arn: string; attributes: Record<string, string> }>();
  private readonly messages: SnsMessageRecord[] = [];

  constructor(
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** Published messages, oldest first. */
  recorded(): SnsMessageRecord[] {
    return [...this.messages];
  }

  /** Creates a topic outside the API (for seeding); idempotent like CreateTopic. */
  createTopic(name: string): string {
    const arn = `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
    if (!this.topics.has(arn)) this.topics.set(arn, { arn, attributes: {} });
    return arn;
  }

  /** Handles one query-protocol action and returns the XML body; throws AwsServiceError. */
  handle(
    action: string,
    params: URLSearchParams,
  ): { xml: string; resource?: string; published?: SnsMessageRecord } {
    const requestId = randomUUID();
    const wrap = (inner: string) =>
      `<${action}Response xmlns="${xmlns}"><${action}Result>${inner}</${action}Result>` +
      `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
    switch (action) {
      case "CreateTopic": {
        const name = params.get("Name") ?? "";
        if (!/^[A-Za-z0-9_-]{1,256}(\.fifo)?$/.test(name)) {
          throw new AwsServiceError("InvalidParameter", "Invalid parameter: Topic Name");
        }
        const arn = this.createTopic(name);
        return { xml: wrap(`<TopicArn>${escapeXml(arn)}</TopicArn>`), resource: arn };
      }
      case "ListTopics": {
        const members = [...this.topics.keys()]
          .map((arn) => `<member><TopicArn>${escapeXml(arn)}</TopicArn></member>`)
          .join("");
        return { xml: wrap(`<Topics>${members}</Topics>`) };
      }
      case "DeleteTopic": {
        const arn = params.get("TopicArn") ?? "";
        this.topics.delete(arn);
        return {
          xml: `<DeleteTopicResponse xmlns="${xmlns}"><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></DeleteTopicResponse>`,
          resource: arn,
        };
      }
      case "GetTopicAttributes": {
        const arn = params.get("TopicArn") ?? "";
        const topic = this.topics.get(arn);
        if (!topic) throw new AwsServiceError("NotFound", "Topic does not exist", 404);
        const attributes = { TopicArn: arn, Owner: this.accountId, ...topic.attributes };
        const entries = Object.entries(attributes)
          .map(
            ([key, value]) => `<entry><key>${escapeXml(key)}</key><value>${escapeXml(value)}</value></entry>`,
          )
          .join("");
        return { xml: wrap(`<Attributes>${entries}</Attributes>`), resource: arn };
      }
      case "Publish": {
        const published = this.publish(params);
        return {
          xml: wrap(`<MessageId>${published.messageId}</MessageId>`),
          resource: published.topicArn,
          published,
        };
      }
      default:
        throw new AwsServiceError("InvalidAction", `The action ${action} is not valid for this endpoint.`);
    }
  }

  private publish(params: URLSearchParams): SnsMessageRecord {
    const topicArn = params.get("TopicArn") ?? params.get("TargetArn");
    if (!topicArn)
      throw new AwsServiceError(
        "InvalidParameter",
        "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
      );
    if (!this.topics.has(topicArn)) throw new AwsServiceError("NotFound", "Topic does not exist", 404);
    const message = params.get("Message");
    if (message === null || message === "") {
      throw new AwsServiceError("InvalidParameter", "Invalid parameter: Empty message");
    }
    const subject = params.get("Subject") ?? undefined;
    if (
      subject !== undefined &&
      (subject.length === 0 || subject.length > maxSubjectLength || !/^[\x20-\x7e]*$/.test(subject))
    ) {
      throw new AwsServiceError("InvalidParameter", "Invalid parameter: Subject");
    }
    if (params.get("MessageStructure") === "json") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== "object" || parsed === null || !("default" in parsed)) {
        throw new AwsServiceError(
          "InvalidParameter",
          "Invalid parameter: Message Structure - No default entry in JSON message body",
        );
      }
    }
    const messageAttributes = parseMessageAttributes(params);
    // The 256 KiB covers the message and its attributes (each name, data type and value) together.
    const attributeBytes = Object.entries(messageAttributes).reduce(
      (total, [name, value]) =>
        total +
        Buffer.byteLength(name + value.DataType + (value.StringValue ?? value.BinaryValue ?? ""), "utf8"),
      0,
    );
    if (Buffer.byteLength(message, "utf8") + attributeBytes > maxMessageBytes) {
      throw new AwsServiceError("InvalidParameter", "Invalid parameter: Message too long");
    }
    const messageGroupId = params.get("MessageGroupId") ?? undefined;
    if (topicArn.endsWith(".fifo") && !messageGroupId) {
      throw new AwsServiceError(
        "InvalidParameter",
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics",
      );
    }
    const record: SnsMessageRecord = {
      topicArn,
      ...(subject !== undefined ? { subject } : {}),
      message,
      messageAttributes,
      messageId: randomUUID(),
      ...(messageGroupId ? { messageGroupId } : {}),
      at: new Date().toISOString(),
    };
    this.messages.push(record);
    return record;
  }
}

/** Reads `MessageAttributes.entry.N.Name` / `.Value.DataType|StringValue|BinaryValue`. */
function parseMessageAttributes(params: URLSearchParams): Record<string, SnsMessageAttribute> {
  const attributes: Record<string, SnsMessageAttribute> = {};
  for (let index = 1; params.has(`MessageAttributes.entry.${index}.Name`); index += 1) {
    const prefix = `MessageAttributes.entry.${index}`;
    const name = params.get(`${prefix}.Name`)!;
    const dataType = params.get(`${prefix}.Value.DataType`);
    if (!dataType || !/^(String|Number|Binary)(\..+)?$|^String\.Array$/.test(dataType)) {
      throw new AwsServiceError(
        "ParameterValueInvalid",
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    const stringValue = params.get(`${prefix}.Value.StringValue`) ?? undefined;
    const binaryValue = params.get(`${prefix}.Value.BinaryValue`) ?? undefined;
    if (stringValue === undefined && binaryValue === undefined) {
      throw new AwsServiceError(
        "ParameterValueInvalid",
        `The message attribute '${name}' must contain non-empty message attribute value.`,
      );
    }
    attributes[name] = {
      DataType: dataType,
      ...(stringValue !== undefined ? { StringValue: stringValue } : {}),
      ...(binaryValue !== undefined ? { BinaryValue: binaryValue } : {}),
    };
  }
  if (Object.keys(attributes).length > maxAttributes) {
    throw new AwsServiceError(
      "InvalidParameter",
      "Invalid parameter: Number of message attributes exceeds the limit of 10",
    );
  }
  return attributes;
}

/** The query-protocol error document; `Sender` for 4xx, `Receiver` for 5xx. */
export function queryErrorXml(code: string, message: string, status: number, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${xmlns}"><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type>` +
    `<Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

/** SNS's query protocol: a form-encoded POST with `Action=<Operation>`, answered in XML. */
const snsQueryProtocol: WireProtocol = {
  signed: true,
  missingAuthenticationCode: "MissingAuthenticationToken",
  operationOf(request) {
    const contentType = String(request.headers["content-type"] ?? "");
    if (request.method !== "POST" || !contentType.startsWith("application/x-www-form-urlencoded"))
      return undefined;
    return new URLSearchParams(request.body.toString("utf8")).get("Action") ?? "";
  },
  decode: (request) => Object.fromEntries(new URLSearchParams(request.body.toString("utf8"))),
  encode: (output, requestId) => ({
    status: 200,
    headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
    body: (output as { xml: string }).xml,
  }),
  encodeError: (error, requestId) => ({
    status: error.status,
    headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
    body: queryErrorXml(error.code, error.message, error.status, requestId),
  }),
};

/** The sandbox's SNS: topics and Publish over the query protocol. */
export const snsService = ((context: ServiceContext) => {
  const sns = new Sns(context.region, context.accountId);
  for (const topic of context.options.snsTopics ?? []) sns.createTopic(topic);
  return withApi(
    {
      name: "sns",
      protocol: snsQueryProtocol,
      operations: ["CreateTopic", "ListTopics", "DeleteTopic", "GetTopicAttributes", "Publish"],
      handle(call) {
        const result = sns.handle(call.operation, new URLSearchParams(call.input as Record<string, string>));
        if (result.resource) call.resource = { type: "AWS::SNS::Topic", name: result.resource };
        return result;
      },
      cloudTrail: {
        eventSource: "sns.amazonaws.com",
        readOnly: (action) => action === "ListTopics" || action === "GetTopicAttributes",
        // Never the message or subject: only what identifies the call.
        requestParameters({ operation, input }) {
          const topicArn = input.TopicArn ?? input.TargetArn;
          if (operation === "CreateTopic") return { name: input.Name ?? null };
          return typeof topicArn === "string" ? { topicArn } : null;
        },
        category: (action) => (action === "Publish" ? "Data" : "Management"),
      },
      faults: {
        throttle: { code: "Throttling", message: "Rate exceeded", status: 400 },
        server: { code: "InternalFailure", message: "Internal Error", status: 500 },
      },
      views: { sns: () => sns.recorded() },
    },
    {
      recorded: () => sns.recorded(),
      createTopic: (name: string) => sns.createTopic(name),
    },
  );
}) satisfies ServiceFactory;
