import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type LookupBatch, runLookupSweep } from "../../functions/audit-scan/sources/lookup.ts";
import { DynamoScanState } from "../../functions/audit-scan/state-dynamodb.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

const MINUTE = 60_000;
let sandbox: Sandbox;
let cloudTrail: CloudTrailClient;
let dynamo: DynamoDBClient;

beforeEach(async () => {
  // LookupEvents' real quota: 2 requests/s, answered with ThrottlingException beyond it.
  sandbox = await startSandbox({ lookupEventsPerSecond: 2 });
  cloudTrail = new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
  dynamo = new DynamoDBClient(sandbox.clientConfig());
});

afterEach(async () => {
  cloudTrail.destroy();
  dynamo.destroy();
  await sandbox.stop();
});

const SOURCES = { secretsmanager: "GetSecretValue", kms: "Decrypt", cloudtrail: "DescribeTrails" } as const;

/** Records of `source` spread evenly over [fromMs, toMs], as CloudTrail writes them (second precision). */
function records(
  source: keyof typeof SOURCES,
  count: number,
  fromMs: number,
  toMs: number,
): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, index) => ({
    eventTime: new Date(fromMs + ((toMs - fromMs) * index) / Math.max(1, count - 1))
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z"),
    eventSource: `${source}.amazonaws.com`,
    eventName: SOURCES[source],
    userIdentity: { type: "IAMUser", userName: "app", arn: "arn:aws:iam::111122223333:user/app" },
    readOnly: true,
  }));
}

/**
 * Event ids handed to the engine, leaving out the sandbox's records of the sweeps' own LookupEvents calls
 * (CloudTrail records them too, and the sweep reads them back under cloudtrail.amazonaws.com).
 */
function sweep(processed: string[], remainingMs: () => number = () => 600_000, all: string[] = []) {
  return runLookupSweep(
    {
      regions: [sandbox.region],
      overlapMs: 15 * MINUTE,
      requestsPerSecond: 2,
      initialLookbackMs: 60 * MINUTE,
    },
    {
      cloudTrail: () => cloudTrail,
      store: new DynamoScanState({ client: dynamo, tableName: sandbox.env.STATE_TABLE_NAME! }),
      process: async (batch: LookupBatch) => {
        for (const record of batch.records as { eventID: string; eventName: string }[]) {
          all.push(record.eventID);
          if (record.eventName !== "LookupEvents") processed.push(record.eventID);
        }
      },
      remainingMs,
      holder: `sweep-${processed.length}-${Date.now()}`,
    },
  );
}

describe("the LookupEvents sweep against the sandbox's 2 requests/s", () => {
  it("hands over every event once, late ones included, without a throttle", async () => {
    const now = Date.now();
    const first = sandbox.injectCloudTrailRecords([
      ...records("secretsmanager", 180, now - 50 * MINUTE, now - 1000),
      ...records("kms", 60, now - 40 * MINUTE, now - 1000),
      ...records("cloudtrail", 10, now - 30 * MINUTE, now - 1000),
    ]);
    const processed: string[] = [];
    const all: string[] = [];

    const one = await sweep(processed, undefined, all);
    // CloudTrail delivers events up to 15 minutes late: these happened before the first sweep's checkpoint.
    const late = sandbox.injectCloudTrailRecords([
      ...records("secretsmanager", 30, now - 10 * MINUTE, now - 2 * MINUTE),
      ...records("kms", 5, now - 12 * MINUTE, now - 5 * MINUTE),
    ]);
    const two = await sweep(processed, undefined, all);

    expect(new Set(all).size).toBe(all.length);
    const expected = [...first, ...late].map((record) => record.eventID).sort();
    expect([...processed].sort()).toEqual(expected);
    expect(one.throttles + two.throttles).toBe(0);
    expect([...one.sources, ...two.sources].every((source) => source.complete && !source.error)).toBe(true);
  });

  it("stops for the deadline and resumes where it stopped, losing and repeating nothing", async () => {
    const now = Date.now();
    const injected = sandbox.injectCloudTrailRecords(
      records("secretsmanager", 300, now - 30 * MINUTE, now - 1000),
    );
    const processed: string[] = [];
    let remaining = 600_000;

    const stopped = await sweep(processed, () => {
      // The deadline comes close once two pages are done.
      if (processed.length >= 100) remaining = 1_000;
      return remaining;
    });
    const resumed = await sweep(processed);

    expect(
      stopped.sources.find((source) => source.eventSource === "secretsmanager.amazonaws.com")?.complete,
    ).toBe(false);
    expect(processed.length).toBe(300);
    expect(new Set(processed)).toEqual(new Set(injected.map((record) => record.eventID)));
    expect(resumed.throttles + stopped.throttles).toBe(0);
  });
});
