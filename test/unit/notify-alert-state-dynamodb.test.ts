import { createHash } from "node:crypto";
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AlertState } from "../../functions/notify/alert-state.ts";
import { alertStateKey, DynamoAlertStateStore } from "../../functions/notify/alert-state-dynamodb.ts";
import { AlertStateError } from "../../functions/notify/errors.ts";
import { clearRegisteredSecrets, registerSecret } from "../../lib/redaction.ts";

const TABLE = "vigil-test-state";
const NOW = Date.parse("2026-11-27T12:00:00Z");
const dynamo = mockClient(DynamoDBClient);
const store = () => new DynamoAlertStateStore(new DynamoDBClient({ region: "us-east-1" }), TABLE, () => NOW);
const state: AlertState = {
  status: "firing",
  at: Date.parse("2026-11-27T10:00:00Z"),
  severity: "critical",
  version: 2,
  leaseOwner: "invocation-1",
  leaseUntil: NOW + 60_000,
  sent: { "pagerduty\u0000vigil-abc": { at: NOW, severity: "critical" } },
};

describe("alertStateKey", () => {
  it("is alert# and the SHA-256 of the group key, as the state table's contract says", () => {
    const hash = createHash("sha256").update("rotation:arn").digest("hex");

    expect(alertStateKey("rotation:arn")).toBe(`alert#${hash}`);
  });
});

describe("DynamoAlertStateStore", () => {
  beforeEach(() => dynamo.reset());
  afterEach(() => clearRegisteredSecrets());

  it("writes a new group only if it is absent, with its TTL in epoch seconds", async () => {
    dynamo.on(PutItemCommand).resolves({});

    const written = await store().write("group-1", state, undefined);

    expect(written).toBe(true);
    const input = dynamo.commandCalls(PutItemCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      TableName: TABLE,
      ConditionExpression: "attribute_not_exists(pk)",
      Item: {
        pk: { S: alertStateKey("group-1") },
        sk: { S: "state" },
        status: { S: "firing" },
        at: { N: String(state.at) },
        version: { N: "2" },
        leaseOwner: { S: "invocation-1" },
        expiresAt: { N: String(NOW / 1000 + 90 * 24 * 3600) },
      },
    });
  });

  it("writes over a stored state only at the version it read", async () => {
    dynamo.on(PutItemCommand).resolves({});

    await store().write("group-1", { ...state, version: 3 }, 2);

    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: "#version = :expected",
      ExpressionAttributeNames: { "#version": "version" },
      ExpressionAttributeValues: { ":expected": { N: "2" } },
    });
  });

  it("answers false when another writer got in first", async () => {
    dynamo
      .on(PutItemCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} }),
      );

    expect(await store().write("group-1", state, 1)).toBe(false);
  });

  it("reads back what it wrote, consistently", async () => {
    dynamo.on(PutItemCommand).resolves({});
    await store().write("group-1", state, undefined);
    const item = dynamo.commandCalls(PutItemCommand)[0]?.args[0].input.Item;
    dynamo.on(GetItemCommand).resolves({ Item: item });

    const read = await store().read("group-1");

    expect(read).toEqual(state);
    expect(dynamo.commandCalls(GetItemCommand)[0]?.args[0].input).toMatchObject({
      Key: { pk: { S: alertStateKey("group-1") }, sk: { S: "state" } },
      ConsistentRead: true,
    });
  });

  it("reads nothing for a group it never stored", async () => {
    dynamo.on(GetItemCommand).resolves({});

    expect(await store().read("group-1")).toBeUndefined();
  });

  it("names the group and the table when DynamoDB fails, and refuses an item that is not a state", async () => {
    dynamo
      .on(GetItemCommand)
      .rejectsOnce(new Error("ProvisionedThroughputExceededException"))
      .resolves({ Item: { pk: { S: "x" }, status: { S: "open" } } });

    await expect(store().read("group-1")).rejects.toThrow(
      new AlertStateError("group-1", `could not be read from ${TABLE}`),
    );
    await expect(store().read("group-1")).rejects.toThrow(/is not a valid alert state/);
  });

  it("keeps the group key readable but never a registered secret in it", async () => {
    registerSecret("Leaked-Secret-Value-9");
    dynamo.on(PutItemCommand).resolves({});

    await store().write("reader:Leaked-Secret-Value-9", state, undefined);

    expect(JSON.stringify(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input)).not.toContain(
      "Leaked-Secret-Value-9",
    );
  });
});
