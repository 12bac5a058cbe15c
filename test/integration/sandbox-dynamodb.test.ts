import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ResourceNotFoundException,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  sandbox = await startSandbox();
  dynamo = new DynamoDBClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
});

afterAll(async () => {
  dynamo.destroy();
  await sandbox.stop();
});

describe("the state table", () => {
  it("exists at start with pk/sk string keys, on demand, and TTL on expiresAt", async () => {
    const tableName = sandbox.env.STATE_TABLE_NAME;

    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
    const { TimeToLiveDescription } = await dynamo.send(
      new DescribeTimeToLiveCommand({ TableName: tableName }),
    );

    expect(tableName).toBe("vigil-local-state");
    expect(Table).toMatchObject({
      TableStatus: "ACTIVE",
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      BillingModeSummary: { BillingMode: "PAY_PER_REQUEST" },
    });
    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: "ENABLED", AttributeName: "expiresAt" });
  });

  it("takes its name from the stateTable option", async () => {
    const other = await startSandbox({ stateTable: "vigil-test-state" });
    const client = new DynamoDBClient({ ...other.clientConfig(), maxAttempts: 1 });
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: "vigil-test-state" }));

      expect(other.env.STATE_TABLE_NAME).toBe("vigil-test-state");
      expect(Table?.TableName).toBe("vigil-test-state");
    } finally {
      client.destroy();
      await other.stop();
    }
  });
});

describe("items", () => {
  it("refuses a conditional put whose condition fails, so exactly one claim wins", async () => {
    const claim = () =>
      dynamo.send(
        new PutItemCommand({
          TableName: sandbox.env.STATE_TABLE_NAME,
          Item: { pk: { S: "claim#finding-1" }, sk: { S: "state" }, expiresAt: { N: "2000000000" } },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );

    const outcomes = await Promise.allSettled([claim(), claim(), claim()]);

    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
    for (const outcome of outcomes.filter((outcome) => outcome.status === "rejected")) {
      expect(outcome.reason).toBeInstanceOf(ConditionalCheckFailedException);
    }
  });

  it("adds to a string set and returns the set afterwards", async () => {
    const add = (member: string) =>
      dynamo.send(
        new UpdateItemCommand({
          TableName: sandbox.env.STATE_TABLE_NAME,
          Key: { pk: { S: "window#bulk" }, sk: { S: "principal" } },
          UpdateExpression: "ADD members :member",
          ExpressionAttributeValues: { ":member": { SS: [member] } },
          ReturnValues: "ALL_NEW",
        }),
      );

    await add("secret-a");
    await add("secret-b");
    const { Attributes } = await add("secret-a");

    expect(Attributes?.members?.SS?.sort()).toEqual(["secret-a", "secret-b"]);
  });

  it("answers ResourceNotFoundException for a table that does not exist", async () => {
    const failure = dynamo.send(new GetItemCommand({ TableName: "missing", Key: { pk: { S: "x" } } }));

    await expect(failure).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it("turns TTL on for a table created over the API", async () => {
    await dynamo.send(
      new CreateTableCommand({
        TableName: "ttl-test",
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );

    const before = await dynamo.send(new DescribeTimeToLiveCommand({ TableName: "ttl-test" }));
    await dynamo.send(
      new UpdateTimeToLiveCommand({
        TableName: "ttl-test",
        TimeToLiveSpecification: { Enabled: true, AttributeName: "ttl" },
      }),
    );
    const after = await dynamo.send(new DescribeTimeToLiveCommand({ TableName: "ttl-test" }));

    expect(before.TimeToLiveDescription?.TimeToLiveStatus).toBe("DISABLED");
    expect(after.TimeToLiveDescription).toEqual({ TimeToLiveStatus: "ENABLED", AttributeName: "ttl" });
  });
});

describe("CloudTrail and faults", () => {
  it("records item calls as data events with the key and never the item's attributes", async () => {
    await dynamo.send(
      new PutItemCommand({
        TableName: sandbox.env.STATE_TABLE_NAME,
        Item: { pk: { S: "seen#event-1" }, sk: { S: "state" }, note: { S: "private-detail" } },
      }),
    );

    const record = sandbox.cloudTrailRecords().at(-1)!;

    expect(record).toMatchObject({
      eventSource: "dynamodb.amazonaws.com",
      eventName: "PutItem",
      eventCategory: "Data",
      managementEvent: false,
      readOnly: false,
      requestParameters: { tableName: "vigil-local-state" },
    });
    expect(JSON.stringify(record)).not.toContain("private-detail");
  });

  it("throttles the matching operation with ThrottlingException", async () => {
    sandbox.faults.inject({ target: "dynamodb", operation: "GetItem", kind: "throttle", times: 1 });

    const failure = dynamo.send(
      new GetItemCommand({
        TableName: sandbox.env.STATE_TABLE_NAME,
        Key: { pk: { S: "x" }, sk: { S: "y" } },
      }),
    );

    await expect(failure).rejects.toMatchObject({
      name: "ThrottlingException",
      $metadata: { httpStatusCode: 400 },
    });
  });
});

describe("the inspection API", () => {
  it("lists each table with its TTL attribute and items", async () => {
    const response = await fetch(`${sandbox.endpoint}/_sandbox/dynamodb`);

    expect(response.status).toBe(200);
    const tables = (await response.json()) as {
      name: string;
      timeToLiveAttribute: string | null;
      items: unknown[];
    }[];
    expect(tables.find((table) => table.name === "vigil-local-state")).toMatchObject({
      timeToLiveAttribute: "expiresAt",
      items: expect.arrayContaining([expect.objectContaining({ pk: { S: "window#bulk" } })]),
    });
  });
});
