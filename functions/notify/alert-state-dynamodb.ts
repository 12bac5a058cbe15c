/** The alert states in the DynamoDB state table: `pk = alert#<sha256(groupKey)>`, `sk = state`. */
import { createHash } from "node:crypto";
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { SEVERITIES, type Severity } from "../../lib/finding.ts";
import { redactText } from "../../lib/redaction.ts";
import type { AlertState, AlertStateStore, SentRecord } from "./alert-state.ts";
import { AlertStateError } from "./errors.ts";

// A group quiet this long is forgotten (TTL): a resolve for it is then unknown, a recurrence pages afresh.
const RETENTION_SECONDS = 90 * 24 * 3600;

/** The partition key of a group's state (the group key itself may be long and is not needed to find it). */
export function alertStateKey(groupKey: string): string {
  return `alert#${createHash("sha256").update(groupKey).digest("hex")}`;
}

const number = (value: number) => ({ N: String(value) });

function parseState(groupKey: string, item: Record<string, AttributeValue>): AlertState {
  const status = item.status?.S;
  const severity = item.severity?.S as Severity | undefined;
  const at = Number(item.at?.N);
  const version = Number(item.version?.N);
  if (
    (status !== "firing" && status !== "resolved") ||
    !severity ||
    !SEVERITIES.includes(severity) ||
    !Number.isFinite(at) ||
    !Number.isSafeInteger(version)
  ) {
    throw new AlertStateError(groupKey, "the stored item is not a valid alert state");
  }
  let sent: Record<string, SentRecord> = {};
  try {
    sent = JSON.parse(item.sent?.S ?? "{}") as Record<string, SentRecord>;
  } catch (error) {
    throw new AlertStateError(groupKey, "the stored sent records are not JSON", { cause: error });
  }
  return {
    status,
    at,
    severity,
    version,
    leaseOwner: item.leaseOwner?.S,
    leaseUntil: item.leaseUntil?.N === undefined ? undefined : Number(item.leaseUntil.N),
    sent,
  };
}

/** An AlertStateStore over the state table; every write is conditional on the version it read. */
export class DynamoAlertStateStore implements AlertStateStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async read(groupKey: string): Promise<AlertState | undefined> {
    try {
      const { Item } = await this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: alertStateKey(groupKey) }, sk: { S: "state" } },
          ConsistentRead: true,
        }),
      );
      return Item ? parseState(groupKey, Item) : undefined;
    } catch (error) {
      if (error instanceof AlertStateError) throw error;
      throw new AlertStateError(groupKey, `could not be read from ${this.tableName}`, { cause: error });
    }
  }

  async write(groupKey: string, next: AlertState, expectedVersion: number | undefined): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      pk: { S: alertStateKey(groupKey) },
      sk: { S: "state" },
      // Kept for whoever reads the table by hand; the key is a hash of it.
      groupKey: { S: redactText(groupKey).slice(0, 1_024) },
      status: { S: next.status },
      at: number(next.at),
      severity: { S: next.severity },
      version: number(next.version),
      sent: { S: JSON.stringify(next.sent) },
      updatedAt: number(this.now()),
      expiresAt: number(Math.floor(this.now() / 1000) + RETENTION_SECONDS),
    };
    if (next.leaseOwner !== undefined) item.leaseOwner = { S: next.leaseOwner };
    if (next.leaseUntil !== undefined) item.leaseUntil = number(next.leaseUntil);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ...(expectedVersion === undefined
            ? { ConditionExpression: "attribute_not_exists(pk)" }
            : {
                ConditionExpression: "#version = :expected",
                ExpressionAttributeNames: { "#version": "version" },
                ExpressionAttributeValues: { ":expected": number(expectedVersion) },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw new AlertStateError(groupKey, `could not be written to ${this.tableName}`, { cause: error });
    }
  }
}
