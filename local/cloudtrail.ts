import { createHash, randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { AwsServiceError, SandboxError } from "./errors.ts";
import { type SandboxIdentity, userIdentityOf, usernameOf } from "./identity.ts";

export type { SandboxIdentity } from "./identity.ts";

const gzipAsync = promisify(gzip);

/** One CloudTrail record, in the shape AWS delivers in trail files and in LookupEvents' CloudTrailEvent. */
export interface CloudTrailRecord {
  eventVersion: string;
  userIdentity: Record<string, unknown>;
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  additionalEventData?: Record<string, unknown>;
  errorCode?: string;
  errorMessage?: string;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: { accountId?: string; type: string; ARN: string }[];
  eventType: "AwsApiCall" | "AwsServiceEvent";
  managementEvent: boolean;
  recipientAccountId: string;
  eventCategory: "Management" | "Data";
  tlsDetails?: { tlsVersion: string; cipherSuite: string; clientProvidedHostHeader: string };
}

/** The fields of a served call that become a record; the Trail fills in the rest. */
export interface CallRecordInput {
  identity: SandboxIdentity | undefined;
  userAgent: string;
  eventSource: string;
  eventName: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  readOnly: boolean;
  errorCode?: string;
  errorMessage?: string;
  requestId: string;
  /** Data events (SNS Publish, SQS messages) are recorded but, like in AWS, LookupEvents never returns them. */
  category?: "Management" | "Data";
  /** The secret (or other resource) the call was about, for LookupEvents' Resources and ResourceName. */
  resource?: { type: string; name: string };
}

interface StoredRecord {
  sequence: number;
  /**
   * The event's time, to the second as CloudTrail times it (LookupEvents' window: one ending at 10:00:00
   * holds an event of 10:00:00.600); `deliveredAt` is when the sandbox got it (later when injected).
   */
  time: number;
  deliveredAt: number;
  record: CloudTrailRecord;
  username?: string;
  accessKeyId?: string;
  resource?: { type: string; name: string };
}

const lookupAttributeKeys = [
  "EventId",
  "EventName",
  "ReadOnly",
  "Username",
  "ResourceType",
  "ResourceName",
  "EventSource",
  "AccessKeyId",
] as const;
type LookupAttributeKey = (typeof lookupAttributeKeys)[number];

/** CloudTrail keeps 90 days of management events; LookupEvents' default window. */
const retentionMs = 90 * 24 * 60 * 60 * 1000;
const maxLookupResults = 50;

/** CloudTrail's timestamps have second precision. */
function isoSeconds(time: number): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Records every call the sandbox serves and answers LookupEvents and trail-file exports from them. */
export class Trail {
  private readonly records: StoredRecord[] = [];
  private sequence = 0;
  private readonly deliveredPerCursor = new Map<string, number>();
  private readonly listeners: ((record: CloudTrailRecord) => void)[] = [];

  constructor(
    readonly region: string,
    readonly accountId: string,
  ) {}

  /** Records a call served by the sandbox. Callers pass no secret values, only identifiers. */
  recordCall(input: CallRecordInput): CloudTrailRecord {
    const time = Date.now();
    const identity = input.identity;
    const service = input.eventSource.replace(".amazonaws.com", "");
    const record: CloudTrailRecord = {
      eventVersion: "1.11",
      userIdentity: identity ? userIdentityOf(identity, this.accountId) : { type: "Unknown" },
      eventTime: isoSeconds(time),
      eventSource: input.eventSource,
      eventName: input.eventName,
      awsRegion: this.region,
      sourceIPAddress: identity?.sourceIp ?? "127.0.0.1",
      userAgent: identity?.userAgent ?? input.userAgent,
      requestParameters: input.requestParameters,
      responseElements: input.responseElements,
      ...(input.errorCode ? { errorCode: input.errorCode, errorMessage: input.errorMessage ?? "" } : {}),
      requestID: input.requestId,
      eventID: randomUUID(),
      readOnly: input.readOnly,
      eventType: "AwsApiCall",
      managementEvent: (input.category ?? "Management") === "Management",
      recipientAccountId: this.accountId,
      eventCategory: input.category ?? "Management",
      tlsDetails: {
        tlsVersion: "TLSv1.3",
        cipherSuite: "TLS_AES_128_GCM_SHA256",
        clientProvidedHostHeader: `${service}.${this.region}.amazonaws.com`,
      },
    };
    this.store(time, record, usernameOf(identity), identity?.accessKeyId, input.resource);
    return record;
  }

  /** Records a service event such as RotationStarted: no caller, the secret in additionalEventData. */
  recordServiceEvent(
    eventName: string,
    secretArn: string,
    error?: { code: string; message: string },
  ): CloudTrailRecord {
    const time = Date.now();
    const record: CloudTrailRecord = {
      eventVersion: "1.11",
      userIdentity: { accountId: this.accountId, invokedBy: "secretsmanager.amazonaws.com" },
      eventTime: isoSeconds(time),
      eventSource: "secretsmanager.amazonaws.com",
      eventName,
      awsRegion: this.region,
      sourceIPAddress: "secretsmanager.amazonaws.com",
      userAgent: "secretsmanager.amazonaws.com",
      requestParameters: null,
      responseElements: null,
      requestID: randomUUID(),
      eventID: randomUUID(),
      readOnly: false,
      eventType: "AwsServiceEvent",
      managementEvent: true,
      recipientAccountId: this.accountId,
      eventCategory: "Management",
      additionalEventData: { SecretId: secretArn },
      ...(error ? { errorCode: error.code, errorMessage: error.message } : {}),
    };
    this.store(time, record, undefined, undefined, { type: "AWS::SecretsManager::Secret", name: secretArn });
    return record;
  }

  /**
   * Adds records as if CloudTrail delivered them now, late: `eventTime` may lie in the past. Each needs
   * `eventTime`, `eventSource` and `eventName`; what else a record lacks gets this trail's defaults.
   * Throws SandboxError naming the record and field, and then adds none.
   */
  inject(records: unknown[]): CloudTrailRecord[] {
    const complete = records.map((record, index) =>
      completeRecord(record, index, this.region, this.accountId),
    );
    for (const record of complete) {
      const identity = record.userIdentity as {
        type?: string;
        userName?: string;
        arn?: string;
        accessKeyId?: string;
      };
      const username =
        identity.type === "Root"
          ? "root"
          : identity.type === "AssumedRole"
            ? identity.arn?.split("/").at(-1)
            : identity.userName;
      const resource = record.resources?.[0];
      this.store(
        Date.parse(record.eventTime),
        record,
        username,
        identity.accessKeyId,
        resource ? { type: resource.type, name: resource.ARN } : undefined,
      );
    }
    return complete;
  }

  /** Calls `listener` with every record from now on, as it is recorded or injected. */
  onRecord(listener: (record: CloudTrailRecord) => void): void {
    this.listeners.push(listener);
  }

  private store(
    time: number,
    record: CloudTrailRecord,
    username: string | undefined,
    accessKeyId: string | undefined,
    resource: { type: string; name: string } | undefined,
  ): void {
    this.sequence += 1;
    const deliveredAt = Date.now();
    this.records.push({
      sequence: this.sequence,
      time: time - (time % 1000),
      deliveredAt,
      record,
      username,
      accessKeyId,
      resource,
    });
    for (const listener of this.listeners) listener(record);
  }

  /** Every record, oldest first. */
  all(): CloudTrailRecord[] {
    return this.records.map((stored) => stored.record);
  }

  /** CloudTrail LookupEvents: one attribute, a time window, newest first, at most 50 per page. */
  lookupEvents(input: {
    LookupAttributes?: { AttributeKey?: string; AttributeValue?: string }[];
    StartTime?: number;
    EndTime?: number;
    EventCategory?: string;
    MaxResults?: number;
    NextToken?: string;
  }): { Events: Record<string, unknown>[]; NextToken?: string } {
    const attributes = input.LookupAttributes ?? [];
    if (attributes.length > 1) {
      throw new AwsServiceError(
        "InvalidLookupAttributesException",
        "You cannot specify more than one lookup attribute.",
      );
    }
    const attribute = attributes[0];
    if (attribute && !lookupAttributeKeys.includes(attribute.AttributeKey as LookupAttributeKey)) {
      throw new AwsServiceError(
        "InvalidLookupAttributesException",
        `Invalid lookup attribute key: ${attribute.AttributeKey}. Valid keys are ${lookupAttributeKeys.join(", ")}.`,
      );
    }
    if (input.EventCategory !== undefined && input.EventCategory !== "insight") {
      throw new AwsServiceError("InvalidEventCategoryException", "Event category must be 'insight'.");
    }
    const maxResults = input.MaxResults ?? maxLookupResults;
    if (maxResults < 1 || maxResults > maxLookupResults) {
      throw new AwsServiceError("InvalidMaxResultsException", "MaxResults must be between 1 and 50.");
    }
    const now = Date.now();
    const end = input.EndTime !== undefined ? input.EndTime * 1000 : now;
    const start = input.StartTime !== undefined ? input.StartTime * 1000 : now - retentionMs;
    if (start > end) {
      throw new AwsServiceError("InvalidTimeRangeException", "Start time must be earlier than end time.");
    }
    const fingerprint = createHash("sha256")
      .update(JSON.stringify([attribute ?? null, input.StartTime ?? null, input.EndTime ?? null]))
      .digest("hex")
      .slice(0, 16);
    let cursor: { time: number; sequence: number } | undefined;
    if (input.NextToken !== undefined) cursor = parseNextToken(input.NextToken, fingerprint);

    // Newest first; the sequence breaks ties between events of the same second.
    const matching = this.records
      .filter((stored) => stored.record.managementEvent && input.EventCategory !== "insight")
      .filter((stored) => stored.time >= start && stored.time <= end)
      .filter(
        (stored) =>
          !attribute ||
          matchesAttribute(
            stored,
            attribute.AttributeKey as LookupAttributeKey,
            attribute.AttributeValue ?? "",
          ),
      )
      .filter(
        (stored) =>
          !cursor ||
          stored.time < cursor.time ||
          (stored.time === cursor.time && stored.sequence < cursor.sequence),
      )
      .sort((a, b) => b.time - a.time || b.sequence - a.sequence);

    const page = matching.slice(0, maxResults);
    const last = page.at(-1);
    return {
      Events: page.map(toLookupEvent),
      ...(matching.length > maxResults && last
        ? {
            NextToken: Buffer.from(
              JSON.stringify({ f: fingerprint, t: last.time, s: last.sequence }),
            ).toString("base64"),
          }
        : {}),
    };
  }

  /**
   * Writes the records not yet written to `directory` as gzipped trail files in the S3 layout,
   * one file per day, and returns their paths.
   */
  async writeTrailFiles(directory: string): Promise<string[]> {
    const files = await this.trailFiles(`directory:${directory}`);
    const paths: string[] = [];
    for (const file of files) {
      const path = join(directory, ...file.key.split("/"));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.body);
      paths.push(path);
    }
    return paths;
  }

  /**
   * The records not yet delivered to `cursor` (a folder, a bucket) as gzipped trail files, one per day of
   * delivery, keyed `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<time>_<id>.json.gz`.
   */
  async trailFiles(cursor: string): Promise<{ key: string; body: Buffer }[]> {
    const from = this.deliveredPerCursor.get(cursor) ?? 0;
    const pending = this.records.slice(from);
    this.deliveredPerCursor.set(cursor, this.records.length);
    const byDay = new Map<string, StoredRecord[]>();
    for (const stored of pending) {
      const day = isoSeconds(stored.deliveredAt).slice(0, 10);
      byDay.set(day, [...(byDay.get(day) ?? []), stored]);
    }
    const files: { key: string; body: Buffer }[] = [];
    for (const [day, stored] of byDay) {
      const [year, month, date] = day.split("-") as [string, string, string];
      const folder = `AWSLogs/${this.accountId}/CloudTrail/${this.region}/${year}/${month}/${date}`;
      const stamp = new Date(stored.at(-1)!.deliveredAt).toISOString().replace(/[-:]/g, "").slice(0, 13);
      const unique = createHash("sha256").update(`${from}:${randomUUID()}`).digest("hex").slice(0, 16);
      const body = JSON.stringify({ Records: stored.map((entry) => entry.record) });
      files.push({
        key: `${folder}/${this.accountId}_CloudTrail_${this.region}_${stamp}Z_${unique}.json.gz`,
        body: await gzipAsync(body),
      });
    }
    return files;
  }
}

/** An injected record with this trail's defaults for what it lacks; throws SandboxError naming the field. */
function completeRecord(value: unknown, index: number, region: string, accountId: string): CloudTrailRecord {
  const problem = (message: string) => new SandboxError(`CloudTrail record ${index}: ${message}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw problem("expected a JSON object with eventTime, eventSource and eventName");
  }
  const record = value as Record<string, unknown>;
  for (const field of ["eventTime", "eventSource", "eventName"]) {
    if (typeof record[field] !== "string" || record[field] === "")
      throw problem(`${field} must be a non-empty string`);
  }
  if (Number.isNaN(Date.parse(record.eventTime as string))) {
    throw problem(
      `eventTime must be an ISO 8601 time such as 2026-11-26T14:00:00Z, got ${String(record.eventTime)}`,
    );
  }
  if (
    record.userIdentity !== undefined &&
    (typeof record.userIdentity !== "object" || record.userIdentity === null)
  )
    throw problem("userIdentity must be an object");
  const category = record.eventCategory === "Data" ? "Data" : "Management";
  return {
    eventVersion: "1.11",
    userIdentity: { type: "Unknown" },
    awsRegion: region,
    sourceIPAddress: "127.0.0.1",
    userAgent: "",
    requestParameters: null,
    responseElements: null,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: false,
    eventType: "AwsApiCall",
    managementEvent: category === "Management",
    recipientAccountId: accountId,
    eventCategory: category,
    ...(record as Partial<CloudTrailRecord>),
  } as CloudTrailRecord;
}

function parseNextToken(token: string, fingerprint: string): { time: number; sequence: number } {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as {
      f: string;
      t: number;
      s: number;
    };
    if (parsed.f === fingerprint && Number.isFinite(parsed.t) && Number.isFinite(parsed.s)) {
      return { time: parsed.t, sequence: parsed.s };
    }
  } catch {
    // falls through to the error below
  }
  // AWS refuses a token that does not come from the same query.
  throw new AwsServiceError("InvalidNextTokenException", "Invalid NextToken.");
}

function matchesAttribute(stored: StoredRecord, key: LookupAttributeKey, value: string): boolean {
  const record = stored.record;
  switch (key) {
    case "EventId":
      return record.eventID === value;
    case "EventName":
      return record.eventName === value;
    case "ReadOnly":
      return String(record.readOnly) === value;
    case "Username":
      return stored.username === value;
    case "AccessKeyId":
      return stored.accessKeyId === value;
    case "EventSource":
      return record.eventSource === value;
    case "ResourceType":
      return stored.resource?.type === value;
    case "ResourceName":
      return stored.resource?.name === value;
  }
}

function toLookupEvent(stored: StoredRecord): Record<string, unknown> {
  const record = stored.record;
  return {
    EventId: record.eventID,
    EventName: record.eventName,
    ReadOnly: String(record.readOnly),
    ...(stored.accessKeyId ? { AccessKeyId: stored.accessKeyId } : {}),
    EventTime: Math.floor(stored.time / 1000),
    EventSource: record.eventSource,
    ...(stored.username ? { Username: stored.username } : {}),
    Resources: stored.resource
      ? [{ ResourceType: stored.resource.type, ResourceName: stored.resource.name }]
      : [],
    CloudTrailEvent: JSON.stringify(record),
  };
}

/** CloudTrail spells request and response keys in lower camel case ("SecretId" -> "secretId"). */
export function lowerCamel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(lowerCamel);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, entry]) => [
        key.charAt(0).toLowerCase() + key.slice(1),
        lowerCamel(entry),
      ]),
    );
  }
  return value;
}

/** CloudTrail writes DeleteSecret's deletionDate in this console format, e.g. "Nov 26, 2026, 2:00:00 PM". */
export function consoleDate(time: number): string {
  return new Date(time).toLocaleString("en-US", {
    timeZone: "UTC",
    month: "short",
    day: "numeric",
    year: "numeric",
    hour: "numeric",
    minute: "2-digit",
    second: "2-digit",
  });
}
