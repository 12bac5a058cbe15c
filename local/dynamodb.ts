import type { IncomingHttpHeaders, RequestListener } from "node:http";
import { Readable } from "node:stream";
import dynalite from "dynalite";
import { awsJson } from "./aws-json.ts";
import { AwsServiceError } from "./errors.ts";
import { awsFaults, type ServiceCall, type ServiceContext, type ServiceFactory, withApi } from "./service.ts";

/**
 * DynamoDB for the sandbox: the JSON 1.0 API (`DynamoDB_20120810.<Operation>`) served by dynalite, a
 * maintained implementation of the DynamoDB API, in memory and in-process (no second port). The sandbox
 * adds what dynalite lacks: UpdateTimeToLive / DescribeTimeToLive.
 */

type Json = Record<string, unknown>;

/** What dynalite implements, plus the TTL operations the sandbox answers itself. */
const dynamoDbOperations = [
  "BatchGetItem",
  "BatchWriteItem",
  "CreateTable",
  "DeleteItem",
  "DeleteTable",
  "DescribeTable",
  "DescribeTimeToLive",
  "GetItem",
  "ListTables",
  "ListTagsOfResource",
  "PutItem",
  "Query",
  "Scan",
  "TagResource",
  "UntagResource",
  "UpdateItem",
  "UpdateTable",
  "UpdateTimeToLive",
] as const;

/** Item-level calls are data events in CloudTrail; the table-level ones are management events. */
const dataOperations = new Set<string>([
  "BatchGetItem",
  "BatchWriteItem",
  "DeleteItem",
  "GetItem",
  "PutItem",
  "Query",
  "Scan",
  "UpdateItem",
]);
const readOnlyOperations = new Set<string>([
  "BatchGetItem",
  "DescribeTable",
  "DescribeTimeToLive",
  "GetItem",
  "ListTables",
  "ListTagsOfResource",
  "Query",
  "Scan",
]);

/** The sandbox's DynamoDB; creates the state table (`stateTable`, default "vigil-local-state") at start. */
export const dynamoDbService = (async (context: ServiceContext) => {
  const database = new DynaliteDatabase();
  const stateTable = context.options.stateTable ?? "vigil-local-state";
  await createStateTable(database, stateTable);
  const tableArn = (name: unknown) =>
    `arn:aws:dynamodb:${context.region}:${context.accountId}:table/${String(name)}`;
  return withApi(
    {
      name: "dynamodb",
      protocol: awsJson({ version: "1.0", target: "DynamoDB_20120810." }),
      operations: dynamoDbOperations,
      handle: (call: ServiceCall) => database.call(call.operation, call.input),
      cloudTrail: {
        eventSource: "dynamodb.amazonaws.com",
        readOnly: (operation) => readOnlyOperations.has(operation),
        // The table and the key, never an item's attributes.
        requestParameters: ({ input }) => {
          const parameters: Json = {};
          if (typeof input.TableName === "string") parameters.tableName = input.TableName;
          if (input.Key !== undefined) parameters.key = input.Key;
          if (input.RequestItems && typeof input.RequestItems === "object")
            parameters.requestItems = Object.keys(input.RequestItems);
          return Object.keys(parameters).length > 0 ? parameters : null;
        },
        category: (operation) => (dataOperations.has(operation) ? "Data" : "Management"),
        resource: ({ input }) =>
          typeof input.TableName === "string"
            ? { type: "AWS::DynamoDB::Table", name: tableArn(input.TableName) }
            : undefined,
      },
      faults: awsFaults("InternalServerError"),
      views: { dynamodb: () => database.tables() },
    },
    { stateTable },
  );
}) satisfies ServiceFactory;

/** CreateTable's input for Vigil's state table: pk/sk strings, on demand (benchmarks create more of them). */
export function stateTableDefinition(name: string) {
  return {
    TableName: name,
    AttributeDefinitions: [
      { AttributeName: "pk", AttributeType: "S" as const },
      { AttributeName: "sk", AttributeType: "S" as const },
    ],
    KeySchema: [
      { AttributeName: "pk", KeyType: "HASH" as const },
      { AttributeName: "sk", KeyType: "RANGE" as const },
    ],
    BillingMode: "PAY_PER_REQUEST" as const,
  };
}

/** Creates Vigil's state table: pk/sk strings, on demand, TTL on `expiresAt` (epoch seconds). */
async function createStateTable(database: DynaliteDatabase, name: string): Promise<void> {
  await database.call("CreateTable", stateTableDefinition(name));
  await database.call("UpdateTimeToLive", {
    TableName: name,
    TimeToLiveSpecification: { Enabled: true, AttributeName: "expiresAt" },
  });
}

/** dynalite called in-process through its request listener, plus the TTL settings it does not keep. */
class DynaliteDatabase {
  private readonly listener = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }).listeners(
    "request",
  )[0] as RequestListener;
  private readonly timeToLive = new Map<string, string>();

  /** Runs one operation; throws AwsServiceError with DynamoDB's error type for an API error. */
  async call(operation: string, input: Json): Promise<Json> {
    if (operation === "UpdateTimeToLive") return this.updateTimeToLive(input);
    if (operation === "DescribeTimeToLive") {
      await this.call("DescribeTable", { TableName: input.TableName });
      const attribute = this.timeToLive.get(String(input.TableName));
      return {
        TimeToLiveDescription: attribute
          ? { TimeToLiveStatus: "ENABLED", AttributeName: attribute }
          : { TimeToLiveStatus: "DISABLED" },
      };
    }
    if (operation === "DeleteTable") this.timeToLive.delete(String(input.TableName));
    const { status, body } = await this.send(operation, JSON.stringify(input));
    const parsed = (body === "" ? {} : JSON.parse(body)) as Json;
    if (status === 200) return parsed;
    throw new AwsServiceError(
      String(parsed.__type ?? "InternalServerError"),
      String(parsed.message ?? ""),
      status,
    );
  }

  /** Every table with its TTL attribute and items (first page), for the inspection API. */
  async tables(): Promise<Json[]> {
    const { TableNames } = (await this.call("ListTables", {})) as { TableNames: string[] };
    return Promise.all(
      TableNames.map(async (name) => {
        const { Items } = (await this.call("Scan", { TableName: name })) as { Items: Json[] };
        return { name, timeToLiveAttribute: this.timeToLive.get(name) ?? null, items: Items };
      }),
    );
  }

  private async updateTimeToLive(input: Json): Promise<Json> {
    const specification = input.TimeToLiveSpecification as
      | { Enabled?: boolean; AttributeName?: string }
      | undefined;
    if (
      !specification ||
      typeof specification.AttributeName !== "string" ||
      specification.AttributeName === ""
    ) {
      throw new AwsServiceError(
        "ValidationException",
        "1 validation error detected: Value null at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must not be null",
      );
    }
    await this.call("DescribeTable", { TableName: input.TableName });
    const name = String(input.TableName);
    if (specification.Enabled) this.timeToLive.set(name, specification.AttributeName);
    else this.timeToLive.delete(name);
    return { TimeToLiveSpecification: specification };
  }

  /** One request through dynalite's HTTP handler, with a well-formed signature (the sandbox checked the caller). */
  private send(operation: string, body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const headers: IncomingHttpHeaders = {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": `DynamoDB_20120810.${operation}`,
        "x-amz-date": "20260101T000000Z",
        authorization:
          "AWS4-HMAC-SHA256 Credential=AKIAVIGILSANDBOX0001/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
      };
      const request = Object.assign(Readable.from([Buffer.from(body, "utf8")]), {
        method: "POST",
        url: "/",
        headers,
      });
      const responseHeaders = new Map<string, unknown>();
      const response = {
        statusCode: 200,
        setHeader: (name: string, value: unknown) => responseHeaders.set(name.toLowerCase(), value),
        end: (text?: string) => resolve({ status: response.statusCode, body: text ?? "" }),
      };
      try {
        this.listener(request as never, response as never);
      } catch (error) {
        reject(error);
      }
    });
  }
}
