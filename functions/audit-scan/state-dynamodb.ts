import { createHash } from "node:crypto";
import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { SEVERITIES, type Severity } from "../../lib/finding-keys.ts";
import type { ComplianceState, OpenComplianceGroup } from "./compliance.ts";
import { StateTableError } from "./sources/errors.ts";
import type { LookupCheckpoint, SweepStore } from "./sources/lookup.ts";
import type { ScanState } from "./state.ts";

const DAY_MS = 86_400_000;
/** How long a baseline ("principal P has read secret S since T") is kept after it was last confirmed. */
const DEFAULT_BASELINE_RETENTION_MS = 400 * DAY_MS;
/** Entries remembered per container before the read-through caches start over. */
const CACHE_LIMIT = 20_000;
/** DynamoDB allows 2048 bytes of partition key; longer engine keys are hashed. */
const MAX_READABLE_KEY = 512;
const BATCH_GET_LIMIT = 100;
const BATCH_WRITE_LIMIT = 25;
const COMPLIANCE_PK = "meta#compliance";
const EARLIEST_PK = "meta#earliest";
const STATE_SK = "state";

/** What DynamoScanState needs: the table, and optionally a clock and the baseline retention. */
export interface DynamoScanStateOptions {
  client: DynamoDBClient;
  tableName: string;
  now?: () => number;
  baselineRetentionMs?: number;
  /** Attempts for items DynamoDB leaves unprocessed in a batch call (throttling). */
  batchAttempts?: number;
}

type Item = Record<string, AttributeValue>;

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(Math.trunc(value)) });
const epochSeconds = (ms: number): number => Math.ceil(ms / 1000);

function numberOf(item: Item | undefined, name: string): number | undefined {
  const value = item?.[name]?.N;
  return value === undefined ? undefined : Number(value);
}

/** Engine keys are free text; a very long one is stored by its hash (the readable prefix is kept). */
function keyOf(prefix: string, key: string): string {
  if (key.length <= MAX_READABLE_KEY) return `${prefix}#${key}`;
  return `${prefix}#${key.slice(0, 64)}#sha256:${createHash("sha256").update(key).digest("hex")}`;
}

/** A Map that forgets everything when it grows past its limit (a container may live for hours). */
class BoundedCache<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    if (this.size >= CACHE_LIMIT && !this.has(key)) this.clear();
    return super.set(key, value);
  }
}

/**
 * The scanner's state in the DynamoDB state table (key prefixes `window#`, `baseline#`, `claim#`,
 * `seen#`, `checkpoint#`, `meta#`), safe under concurrent invocations: distinct sets grow with ADD on a
 * string set, first-seen times only ever move earlier through conditional updates, claims are
 * conditional puts. Read-through caches skip calls whose answer cannot have changed in a way that
 * matters (a member already added, a time not earlier than the one known).
 */
export class DynamoScanState implements ScanState, SweepStore, ComplianceState {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #now: () => number;
  readonly #baselineRetentionMs: number;
  readonly #batchAttempts: number;
  readonly #members = new BoundedCache<{ members: Set<string>; size: number }>();
  readonly #seen = new BoundedCache<number>();
  readonly #claimed = new BoundedCache<true>();
  #earliest: number | undefined;

  constructor(options: DynamoScanStateOptions) {
    this.#client = options.client;
    this.#table = options.tableName;
    this.#now = options.now ?? Date.now;
    this.#baselineRetentionMs = options.baselineRetentionMs ?? DEFAULT_BASELINE_RETENTION_MS;
    this.#batchAttempts = options.batchAttempts ?? 5;
  }

  /** ADD on a string set: concurrent adders never lose a member, and the returned size includes theirs. */
  async addDistinct(key: string, member: string, expiresAtMs: number): Promise<number> {
    const pk = keyOf("window", key);
    const cached = this.#members.get(pk);
    if (cached?.members.has(member)) return cached.size;
    const result = await this.#client.send(
      new UpdateItemCommand({
        TableName: this.#table,
        Key: { pk: s(pk), sk: s(STATE_SK) },
        UpdateExpression: "ADD members :member SET expiresAt = :expiresAt",
        ExpressionAttributeValues: {
          ":member": { SS: [member] },
          ":expiresAt": n(epochSeconds(expiresAtMs)),
        },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    const members = new Set(result.Attributes?.members?.SS ?? [member]);
    this.#members.set(pk, { members, size: members.size });
    return members.size;
  }

  /** First-seen time of a baseline key; the stored time only ever moves earlier, whatever the order. */
  async recordSeen(key: string, atMs: number): Promise<number | undefined> {
    const pk = keyOf("baseline", key);
    const cached = this.#seen.get(pk);
    if (cached !== undefined && cached <= atMs) return cached;
    const result = await this.#client.send(
      new UpdateItemCommand({
        TableName: this.#table,
        Key: { pk: s(pk), sk: s(STATE_SK) },
        UpdateExpression: "SET firstSeenMs = if_not_exists(firstSeenMs, :at), expiresAt = :expiresAt",
        ExpressionAttributeValues: {
          ":at": n(atMs),
          ":expiresAt": n(epochSeconds(this.#now() + this.#baselineRetentionMs)),
        },
        ReturnValues: "ALL_OLD",
      }),
    );
    const before = numberOf(result.Attributes, "firstSeenMs");
    if (before !== undefined && atMs < before) await this.#lower(pk, "firstSeenMs", atMs);
    this.#seen.set(pk, Math.min(before ?? atMs, atMs));
    return before;
  }

  /** A consistent read of a baseline key's time, never from the cache: other invocations record keys. */
  async firstSeen(key: string): Promise<number | undefined> {
    return numberOf(await this.#read(keyOf("baseline", key), "firstSeenMs"), "firstSeenMs");
  }

  /** A consistent read of a distinct set's size, never from the cache: other invocations add members. */
  async countDistinct(key: string): Promise<number> {
    return (await this.#read(keyOf("window", key), "members"))?.members?.SS?.length ?? 0;
  }

  /** One item, read consistently (whatever other invocations wrote is there); only `attribute` if named. */
  async #read(pk: string, attribute?: string): Promise<Item | undefined> {
    const result = await this.#client.send(
      new GetItemCommand({
        TableName: this.#table,
        Key: { pk: s(pk), sk: s(STATE_SK) },
        ...(attribute ? { ProjectionExpression: attribute } : {}),
        ConsistentRead: true,
      }),
    );
    return result.Item;
  }

  /** A conditional put: exactly one caller creates the claim; an expired claim may be taken again. */
  async claimOnce(id: string, expiresAtMs: number): Promise<boolean> {
    const pk = keyOf("claim", id);
    if (this.#claimed.has(pk)) return false;
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: { pk: s(pk), sk: s(STATE_SK), expiresAt: n(epochSeconds(expiresAtMs)) },
          // TTL deletion lags by up to two days: an expired claim counts as absent.
          ConditionExpression: "attribute_not_exists(pk) OR expiresAt < :now",
          ExpressionAttributeValues: { ":now": n(epochSeconds(this.#now())) },
        }),
      );
      this.#claimed.set(pk, true);
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      this.#claimed.set(pk, true);
      return false;
    }
  }

  /**
   * The earliest record time of the whole account, which only ever moves earlier. One call in the common
   * case (a container's first batch on a table that has one: the stored time is earlier): it stores the
   * time if none is stored and hands back what is. Only a record earlier than that costs a conditional
   * update, and a read if another writer lowered it further in between.
   */
  async noteEarliest(atMs: number): Promise<number> {
    if (this.#earliest !== undefined && this.#earliest <= atMs) return this.#earliest;
    const stored = await this.#client.send(
      new UpdateItemCommand({
        TableName: this.#table,
        Key: { pk: s(EARLIEST_PK), sk: s(STATE_SK) },
        UpdateExpression: "SET #value = if_not_exists(#value, :value)",
        ExpressionAttributeNames: { "#value": "earliestMs" },
        ExpressionAttributeValues: { ":value": n(atMs) },
        ReturnValues: "ALL_NEW",
      }),
    );
    const earliest = numberOf(stored.Attributes, "earliestMs") ?? atMs;
    if (earliest <= atMs) {
      this.#earliest = earliest;
      return earliest;
    }
    if (await this.#lower(EARLIEST_PK, "earliestMs", atMs)) {
      this.#earliest = atMs;
      return atMs;
    }
    this.#earliest = numberOf(await this.#read(EARLIEST_PK), "earliestMs") ?? atMs;
    return this.#earliest;
  }

  /** Sets attribute to value if absent or later; false when the stored value is already earlier or equal. */
  async #lower(pk: string, attribute: string, value: number): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: { pk: s(pk), sk: s(STATE_SK) },
          UpdateExpression: "SET #value = :value",
          ConditionExpression: "attribute_not_exists(#value) OR #value > :value",
          ExpressionAttributeNames: { "#value": attribute },
          ExpressionAttributeValues: { ":value": n(value) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** The LookupEvents checkpoint of one region and event source. */
  async readCheckpoint(region: string, eventSource: string): Promise<LookupCheckpoint | undefined> {
    const item = await this.#read(`checkpoint#lookup#${region}#${eventSource}`);
    const processedUntilMs = numberOf(item, "processedUntilMs");
    if (processedUntilMs === undefined) return undefined;
    return { processedUntilMs, chunkMs: numberOf(item, "chunkMs") };
  }

  /** Moves the checkpoint forward; a concurrent writer that got further is never moved back. */
  async writeCheckpoint(region: string, eventSource: string, checkpoint: LookupCheckpoint): Promise<void> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: s(`checkpoint#lookup#${region}#${eventSource}`),
            sk: s(STATE_SK),
            processedUntilMs: n(checkpoint.processedUntilMs),
            ...(checkpoint.chunkMs === undefined ? {} : { chunkMs: n(checkpoint.chunkMs) }),
            updatedAt: s(new Date(this.#now()).toISOString()),
          },
          ConditionExpression: "attribute_not_exists(processedUntilMs) OR processedUntilMs <= :until",
          ExpressionAttributeValues: { ":until": n(checkpoint.processedUntilMs) },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Takes the sweep lease of a region until expiresAtMs; false while another invocation holds it. */
  async acquireLease(name: string, holder: string, expiresAtMs: number): Promise<boolean> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            pk: s(`meta#lease#${name}`),
            sk: s(STATE_SK),
            holder: s(holder),
            leaseUntilMs: n(expiresAtMs),
            expiresAt: n(epochSeconds(expiresAtMs) + 3600),
          },
          ConditionExpression: "attribute_not_exists(pk) OR leaseUntilMs < :now OR holder = :holder",
          ExpressionAttributeValues: { ":now": n(this.#now()), ":holder": s(holder) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Gives the lease back early (only if this holder still has it). */
  async releaseLease(name: string, holder: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteItemCommand({
          TableName: this.#table,
          Key: { pk: s(`meta#lease#${name}`), sk: s(STATE_SK) },
          ConditionExpression: "holder = :holder",
          ExpressionAttributeValues: { ":holder": s(holder) },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** The event ids among `eventIds` already processed by an earlier sweep. */
  async seenEvents(eventIds: readonly string[]): Promise<Set<string>> {
    const seen = new Set<string>();
    const unique = [...new Set(eventIds)];
    for (let start = 0; start < unique.length; start += BATCH_GET_LIMIT) {
      let keys: Item[] = unique
        .slice(start, start + BATCH_GET_LIMIT)
        .map((id) => ({ pk: s(`seen#event#${id}`), sk: s(STATE_SK) }));
      for (let attempt = 1; keys.length > 0; attempt += 1) {
        const result = await this.#client.send(
          new BatchGetItemCommand({
            RequestItems: { [this.#table]: { Keys: keys, ProjectionExpression: "pk", ConsistentRead: true } },
          }),
        );
        for (const item of result.Responses?.[this.#table] ?? []) {
          const pk = item.pk?.S;
          if (pk) seen.add(pk.slice("seen#event#".length));
        }
        keys = result.UnprocessedKeys?.[this.#table]?.Keys ?? [];
        if (keys.length > 0) await this.#backoff(attempt, "BatchGetItem");
      }
    }
    return seen;
  }

  /** Remembers processed event ids until expiresAtMs (past the longest overlap of any later sweep). */
  async markEvents(eventIds: readonly string[], expiresAtMs: number): Promise<void> {
    const requests: WriteRequest[] = [...new Set(eventIds)].map((id) => ({
      PutRequest: {
        Item: { pk: s(`seen#event#${id}`), sk: s(STATE_SK), expiresAt: n(epochSeconds(expiresAtMs)) },
      },
    }));
    await this.#batchWrite(requests);
  }

  /** The compliance findings currently firing, by group key. */
  async openComplianceGroups(): Promise<Map<string, OpenComplianceGroup>> {
    const open = new Map<string, OpenComplianceGroup>();
    let startKey: Item | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": s(COMPLIANCE_PK) },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const groupKey = item.sk?.S;
        const severity = item.severity?.S;
        if (!groupKey || !(SEVERITIES as readonly string[]).includes(severity ?? "")) continue;
        open.set(groupKey, {
          groupKey,
          rule: item.rule?.S ?? "",
          severity: severity as Severity,
          secretArn: item.secretArn?.S ?? "",
          title: item.title?.S ?? groupKey,
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return open;
  }

  /** Remembers the compliance groups that started firing and forgets those that cleared. */
  async updateComplianceGroups(
    opened: readonly OpenComplianceGroup[],
    closed: readonly string[],
  ): Promise<void> {
    const at = s(new Date(this.#now()).toISOString());
    await this.#batchWrite([
      ...opened.map((group) => ({
        PutRequest: {
          Item: {
            pk: s(COMPLIANCE_PK),
            sk: s(group.groupKey),
            rule: s(group.rule),
            severity: s(group.severity),
            secretArn: s(group.secretArn),
            title: s(group.title),
            openedAt: at,
          },
        },
      })),
      ...closed.map((groupKey) => ({ DeleteRequest: { Key: { pk: s(COMPLIANCE_PK), sk: s(groupKey) } } })),
    ]);
  }

  async #batchWrite(requests: WriteRequest[]): Promise<void> {
    for (let start = 0; start < requests.length; start += BATCH_WRITE_LIMIT) {
      let pending = requests.slice(start, start + BATCH_WRITE_LIMIT);
      for (let attempt = 1; pending.length > 0; attempt += 1) {
        const result = await this.#client.send(
          new BatchWriteItemCommand({ RequestItems: { [this.#table]: pending } }),
        );
        pending = result.UnprocessedItems?.[this.#table] ?? [];
        if (pending.length > 0) await this.#backoff(attempt, "BatchWriteItem");
      }
    }
  }

  async #backoff(attempt: number, operation: string): Promise<void> {
    if (attempt >= this.#batchAttempts) {
      throw new StateTableError(
        `${operation} on ${this.#table}: items still unprocessed after ${attempt} attempts`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)));
  }
}
