import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { StateTableError } from "../../functions/audit-scan/sources/errors.ts";
import { DynamoScanState } from "../../functions/audit-scan/state-dynamodb.ts";

const TABLE = "vigil-test-state";
const NOW = Date.parse("2026-12-01T12:00:00Z");
const dynamo = mockClient(DynamoDBClient);
const conditionFailed = () => new ConditionalCheckFailedException({ message: "failed", $metadata: {} });
const newState = () =>
  new DynamoScanState({
    client: new DynamoDBClient({ region: "us-east-1" }),
    tableName: TABLE,
    now: () => NOW,
  });

beforeEach(() => dynamo.reset());

describe("DynamoScanState.addDistinct", () => {
  it("ADDs the member to a string set and returns the set's size after the update", async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: { members: { SS: ["a", "b", "c"] } } });
    const state = newState();

    const size = await state.addDistinct("bulk#role/app#2026-12-01T12", "c", NOW + 3_600_000);

    expect(size).toBe(3);
    expect(dynamo).toHaveReceivedCommandWith(UpdateItemCommand, {
      TableName: TABLE,
      Key: { pk: { S: "window#bulk#role/app#2026-12-01T12" }, sk: { S: "state" } },
      UpdateExpression: "ADD members :member SET expiresAt = :expiresAt",
      ExpressionAttributeValues: {
        ":member": { SS: ["c"] },
        ":expiresAt": { N: String((NOW + 3_600_000) / 1000) },
      },
    });
  });

  it("answers a member it already added without calling DynamoDB again", async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: { members: { SS: ["a", "b"] } } });
    const state = newState();

    await state.addDistinct("k", "a", NOW);
    const size = await state.addDistinct("k", "a", NOW);

    expect(size).toBe(2);
    expect(dynamo).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
  });

  it("stores a very long key by its hash, within DynamoDB's key size", async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: { members: { SS: ["m"] } } });
    const state = newState();

    await state.addDistinct("x".repeat(5000), "m", NOW);

    const pk = dynamo.commandCalls(UpdateItemCommand)[0]!.args[0].input.Key!.pk!.S!;
    expect(pk.length).toBeLessThan(200);
    expect(pk).toMatch(/^window#x{64}#sha256:[0-9a-f]{64}$/);
  });
});

describe("DynamoScanState.recordSeen", () => {
  it("returns undefined for a new key and stores its time with a retention TTL", async () => {
    dynamo.on(UpdateItemCommand).resolves({});
    const state = newState();

    const before = await state.recordSeen("reader#role/app#secret/a", NOW - 1000);

    expect(before).toBeUndefined();
    expect(dynamo).toHaveReceivedCommandWith(UpdateItemCommand, {
      Key: { pk: { S: "baseline#reader#role/app#secret/a" }, sk: { S: "state" } },
      UpdateExpression: "SET firstSeenMs = if_not_exists(firstSeenMs, :at), expiresAt = :expiresAt",
      ReturnValues: "ALL_OLD",
    });
  });

  it("returns the earlier time already recorded and leaves it in place", async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: { firstSeenMs: { N: String(NOW - 5000) } } });
    const state = newState();

    const before = await state.recordSeen("k", NOW);

    expect(before).toBe(NOW - 5000);
    expect(dynamo).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
  });

  it("moves the stored time earlier, conditionally, when an older record arrives late", async () => {
    dynamo
      .on(UpdateItemCommand)
      .resolvesOnce({ Attributes: { firstSeenMs: { N: String(NOW) } } })
      .resolves({});
    const state = newState();

    const before = await state.recordSeen("k", NOW - 60_000);

    expect(before).toBe(NOW);
    expect(dynamo).toHaveReceivedNthCommandWith(UpdateItemCommand, 2, {
      UpdateExpression: "SET #value = :value",
      ConditionExpression: "attribute_not_exists(#value) OR #value > :value",
      ExpressionAttributeNames: { "#value": "firstSeenMs" },
      ExpressionAttributeValues: { ":value": { N: String(NOW - 60_000) } },
    });
  });

  it("answers a later time for a known key from its cache", async () => {
    dynamo.on(UpdateItemCommand).resolves({});
    const state = newState();

    await state.recordSeen("k", NOW - 1000);
    const before = await state.recordSeen("k", NOW);

    expect(before).toBe(NOW - 1000);
    expect(dynamo).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
  });
});

describe("DynamoScanState.firstSeen and countDistinct", () => {
  it("read with a consistent GetItem every time, however often they found nothing", async () => {
    dynamo
      .on(GetItemCommand)
      .resolvesOnce({})
      .resolvesOnce({})
      .resolves({ Item: { firstSeenMs: { N: String(NOW) }, members: { SS: ["(probe)", "a", "b"] } } });
    const state = newState();

    const absent = [await state.firstSeen("k"), await state.countDistinct("k")];
    const present = [await state.firstSeen("k"), await state.countDistinct("k")];

    expect(absent).toEqual([undefined, 0]);
    expect(present).toEqual([NOW, 3]);
    expect(dynamo).toHaveReceivedCommandTimes(GetItemCommand, 4);
    expect(dynamo).toHaveReceivedNthCommandWith(GetItemCommand, 1, {
      TableName: TABLE,
      Key: { pk: { S: "baseline#k" }, sk: { S: "state" } },
      ProjectionExpression: "firstSeenMs",
      ConsistentRead: true,
    });
    expect(dynamo).toHaveReceivedNthCommandWith(GetItemCommand, 2, {
      TableName: TABLE,
      Key: { pk: { S: "window#k" }, sk: { S: "state" } },
      ProjectionExpression: "members",
      ConsistentRead: true,
    });
  });

  it("do not answer from what recordSeen and addDistinct cached", async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: { members: { SS: ["a"] } } });
    dynamo.on(GetItemCommand).resolves({
      Item: { firstSeenMs: { N: String(NOW - 5000) }, members: { SS: ["a", "b"] } },
    });
    const state = newState();
    await state.recordSeen("k", NOW);
    await state.addDistinct("k", "a", NOW + 60_000);

    expect(await state.firstSeen("k")).toBe(NOW - 5000);
    expect(await state.countDistinct("k")).toBe(2);
  });
});

describe("DynamoScanState.claimOnce", () => {
  it("is true for the caller whose conditional put succeeds", async () => {
    dynamo.on(PutItemCommand).resolves({});
    const state = newState();

    const claimed = await state.claimOnce("finding-1", NOW + 86_400_000);

    expect(claimed).toBe(true);
    expect(dynamo).toHaveReceivedCommandWith(PutItemCommand, {
      Item: {
        pk: { S: "claim#finding-1" },
        sk: { S: "state" },
        expiresAt: { N: String((NOW + 86_400_000) / 1000) },
      },
      ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
    });
  });

  it("is false when another invocation holds the claim", async () => {
    dynamo.on(PutItemCommand).rejects(conditionFailed());

    expect(await newState().claimOnce("finding-1", NOW)).toBe(false);
  });

  it("is false the second time in one container, without a second put", async () => {
    dynamo.on(PutItemCommand).resolves({});
    const state = newState();

    const answers = [await state.claimOnce("f", NOW), await state.claimOnce("f", NOW)];

    expect(answers).toEqual([true, false]);
    expect(dynamo).toHaveReceivedCommandTimes(PutItemCommand, 1);
  });

  it("lets an error other than the condition through, and tries again next time", async () => {
    dynamo.on(PutItemCommand).rejectsOnce(new Error("socket hang up")).resolves({});
    const state = newState();

    await expect(state.claimOnce("f", NOW)).rejects.toThrow("socket hang up");
    expect(await state.claimOnce("f", NOW)).toBe(true);
  });
});

describe("DynamoScanState.noteEarliest", () => {
  it("stores the time when none is stored, in one call, and returns it", async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: { earliestMs: { N: String(NOW - 1000) } } });

    expect(await newState().noteEarliest(NOW - 1000)).toBe(NOW - 1000);
    expect(dynamo).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(dynamo).toHaveReceivedCommandWith(UpdateItemCommand, {
      Key: { pk: { S: "meta#earliest" }, sk: { S: "state" } },
      UpdateExpression: "SET #value = if_not_exists(#value, :value)",
      ExpressionAttributeNames: { "#value": "earliestMs" },
      ReturnValues: "ALL_NEW",
    });
    expect(dynamo).toHaveReceivedCommandTimes(GetItemCommand, 0);
  });

  it("returns an earlier stored time from that same call, and remembers it", async () => {
    dynamo.on(UpdateItemCommand).resolves({ Attributes: { earliestMs: { N: String(NOW - 9000) } } });
    const state = newState();

    const earliest = await state.noteEarliest(NOW);
    const again = await state.noteEarliest(NOW + 5);

    expect([earliest, again]).toEqual([NOW - 9000, NOW - 9000]);
    expect(dynamo).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(dynamo).toHaveReceivedCommandTimes(GetItemCommand, 0);
  });

  it("lowers a later stored time with a conditional update", async () => {
    dynamo
      .on(UpdateItemCommand)
      .resolvesOnce({ Attributes: { earliestMs: { N: String(NOW) } } })
      .resolves({});

    expect(await newState().noteEarliest(NOW - 1000)).toBe(NOW - 1000);
    expect(dynamo).toHaveReceivedNthCommandWith(UpdateItemCommand, 2, {
      UpdateExpression: "SET #value = :value",
      ConditionExpression: "attribute_not_exists(#value) OR #value > :value",
      ExpressionAttributeValues: { ":value": { N: String(NOW - 1000) } },
    });
  });

  it("reads the stored time when another writer lowered it further in between", async () => {
    dynamo
      .on(UpdateItemCommand)
      .resolvesOnce({ Attributes: { earliestMs: { N: String(NOW) } } })
      .rejects(conditionFailed());
    dynamo.on(GetItemCommand).resolves({ Item: { earliestMs: { N: String(NOW - 9000) } } });

    expect(await newState().noteEarliest(NOW - 1000)).toBe(NOW - 9000);
    expect(dynamo).toHaveReceivedCommandTimes(GetItemCommand, 1);
  });
});

describe("DynamoScanState checkpoints", () => {
  it("reads a region and event source's checkpoint", async () => {
    dynamo
      .on(GetItemCommand)
      .resolves({ Item: { processedUntilMs: { N: "1000" }, chunkMs: { N: "60000" } } });

    const checkpoint = await newState().readCheckpoint("us-east-1", "kms.amazonaws.com");

    expect(checkpoint).toEqual({ processedUntilMs: 1000, chunkMs: 60_000 });
    expect(dynamo).toHaveReceivedCommandWith(GetItemCommand, {
      Key: { pk: { S: "checkpoint#lookup#us-east-1#kms.amazonaws.com" }, sk: { S: "state" } },
      ConsistentRead: true,
    });
  });

  it("writes a checkpoint only forwards, and ignores a writer that got further", async () => {
    dynamo.on(PutItemCommand).rejects(conditionFailed());

    await newState().writeCheckpoint("us-east-1", "kms.amazonaws.com", { processedUntilMs: 5000 });

    expect(dynamo).toHaveReceivedCommandWith(PutItemCommand, {
      ConditionExpression: "attribute_not_exists(processedUntilMs) OR processedUntilMs <= :until",
      ExpressionAttributeValues: { ":until": { N: "5000" } },
    });
  });
});

describe("DynamoScanState leases", () => {
  it("takes a free or expired lease and refuses one held by another invocation", async () => {
    dynamo.on(PutItemCommand).resolvesOnce({}).rejects(conditionFailed());
    const state = newState();

    const answers = [
      await state.acquireLease("lookup#us-east-1", "req-1", NOW + 60_000),
      await state.acquireLease("lookup#us-east-1", "req-2", NOW + 60_000),
    ];

    expect(answers).toEqual([true, false]);
  });

  it("releases only its own lease", async () => {
    dynamo.on(DeleteItemCommand).rejects(conditionFailed());

    await newState().releaseLease("lookup#us-east-1", "req-1");

    expect(dynamo).toHaveReceivedCommandWith(DeleteItemCommand, { ConditionExpression: "holder = :holder" });
  });
});

describe("DynamoScanState seen events", () => {
  it("asks for at most 100 ids per BatchGetItem and retries unprocessed keys", async () => {
    const ids = Array.from({ length: 150 }, (_, index) => `e${index}`);
    dynamo
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { [TABLE]: [{ pk: { S: "seen#event#e1" } }] },
        UnprocessedKeys: { [TABLE]: { Keys: [{ pk: { S: "seen#event#e2" }, sk: { S: "state" } }] } },
      })
      .resolvesOnce({ Responses: { [TABLE]: [{ pk: { S: "seen#event#e2" } }] } })
      .resolves({ Responses: { [TABLE]: [{ pk: { S: "seen#event#e120" } }] } });
    const state = new DynamoScanState({
      client: new DynamoDBClient({ region: "us-east-1" }),
      tableName: TABLE,
      now: () => NOW,
    });

    const seen = await state.seenEvents(ids);

    expect([...seen].sort()).toEqual(["e1", "e120", "e2"]);
    expect(dynamo).toHaveReceivedCommandTimes(BatchGetItemCommand, 3);
    const firstKeys = dynamo.commandCalls(BatchGetItemCommand)[0]!.args[0].input.RequestItems![TABLE]!.Keys!;
    expect(firstKeys).toHaveLength(100);
  });

  it("marks ids in writes of 25 with their TTL", async () => {
    dynamo.on(BatchWriteItemCommand).resolves({});

    await newState().markEvents(
      Array.from({ length: 30 }, (_, index) => `e${index}`),
      NOW + 1000,
    );

    expect(dynamo).toHaveReceivedCommandTimes(BatchWriteItemCommand, 2);
    const first = dynamo.commandCalls(BatchWriteItemCommand)[0]!.args[0].input.RequestItems![TABLE]!;
    expect(first).toHaveLength(25);
    expect(first[0]).toEqual({
      PutRequest: {
        Item: {
          pk: { S: "seen#event#e0" },
          sk: { S: "state" },
          expiresAt: { N: String((NOW + 1000) / 1000) },
        },
      },
    });
  });

  it("gives up with StateTableError when DynamoDB keeps items unprocessed", async () => {
    dynamo.on(BatchWriteItemCommand).callsFake((input) => ({ UnprocessedItems: input.RequestItems }));
    const state = new DynamoScanState({
      client: new DynamoDBClient({ region: "us-east-1" }),
      tableName: TABLE,
      batchAttempts: 1,
    });

    await expect(state.markEvents(["e1"], NOW)).rejects.toThrow(StateTableError);
  });
});

describe("DynamoScanState compliance groups", () => {
  it("lists the open groups of every page and records opened and closed ones", async () => {
    dynamo
      .on(QueryCommand)
      .resolvesOnce({
        Items: [
          {
            sk: { S: "compliance:rotation-overdue:arn:a" },
            rule: { S: "rotation-overdue" },
            severity: { S: "medium" },
            secretArn: { S: "arn:a" },
            title: { S: "a: rotation overdue by 3 days" },
          },
        ],
        LastEvaluatedKey: { pk: { S: "meta#compliance" }, sk: { S: "x" } },
      })
      .resolves({ Items: [] });
    dynamo.on(BatchWriteItemCommand).resolves({});
    const state = newState();

    const open = await state.openComplianceGroups();
    await state.updateComplianceGroups(
      [{ groupKey: "g2", rule: "rotation-disabled", severity: "high", secretArn: "arn:b", title: "t" }],
      ["compliance:rotation-overdue:arn:a"],
    );

    expect([...open.keys()]).toEqual(["compliance:rotation-overdue:arn:a"]);
    expect(open.get("compliance:rotation-overdue:arn:a")?.severity).toBe("medium");
    const writes = dynamo.commandCalls(BatchWriteItemCommand)[0]!.args[0].input.RequestItems![TABLE]!;
    expect(writes.map((write) => Object.keys(write)[0])).toEqual(["PutRequest", "DeleteRequest"]);
  });
});
