import { CloudTrailClient, LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

interface EventBridgeEvent {
  "detail-type": string;
  source: string;
  account: string;
  region: string;
  time: string;
  detail: { eventName: string; eventSource: string; eventID: string; eventTime: string; readOnly: boolean };
}

let sandbox: Sandbox;
let secrets: SecretsManagerClient;
let delivered: EventBridgeEvent[];

beforeAll(async () => {
  sandbox = await startSandbox({
    lookupEventsPerSecond: 0,
    scannerLambda: async (event: EventBridgeEvent) => {
      if (event["detail-type"]) delivered.push(event);
    },
  });
  secrets = new SecretsManagerClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
});

beforeEach(() => {
  delivered = [];
});

afterAll(async () => {
  secrets.destroy();
  await sandbox.stop();
});

const injectRecords = (body: unknown) =>
  fetch(`${sandbox.endpoint}/_sandbox/cloudtrail/records`, { method: "POST", body: JSON.stringify(body) });

describe("EventBridge delivery to the scanner", () => {
  it("delivers write calls as 'AWS API Call via CloudTrail' events and leaves reads out", async () => {
    await secrets.send(new CreateSecretCommand({ Name: "eb/db", SecretString: "v1" }));
    await secrets.send(new GetSecretValueCommand({ SecretId: "eb/db" }));
    await secrets.send(new PutSecretValueCommand({ SecretId: "eb/db", SecretString: "v2" }));
    await sandbox.scannerSettled();

    expect(delivered.map((event) => event.detail.eventName)).toEqual(["CreateSecret", "PutSecretValue"]);
    const put = delivered[1]!;
    const record = sandbox.cloudTrailRecords().find((candidate) => candidate.eventName === "PutSecretValue")!;
    expect(put).toMatchObject({
      version: "0",
      "detail-type": "AWS API Call via CloudTrail",
      source: "aws.secretsmanager",
      account: "111122223333",
      region: "us-east-1",
      time: record.eventTime,
      resources: [],
      detail: record,
    });
    expect(JSON.stringify(delivered)).not.toContain("v2");
  });

  it("delivers a refused write too, with its error code", async () => {
    await secrets
      .send(new PutSecretValueCommand({ SecretId: "eb/missing", SecretString: "x" }))
      .catch(() => undefined);
    await sandbox.scannerSettled();

    expect(delivered).toEqual([
      expect.objectContaining({
        detail: expect.objectContaining({
          eventName: "PutSecretValue",
          errorCode: "ResourceNotFoundException",
        }),
      }),
    ]);
  });
});

describe("late CloudTrail records (POST /_sandbox/cloudtrail/records)", () => {
  it("adds records with an older eventTime that LookupEvents finds in their own window", async () => {
    const eventTime = new Date(Date.now() - 40 * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");

    const response = await injectRecords({
      Records: [
        {
          eventTime,
          eventSource: "kms.amazonaws.com",
          eventName: "DisableKey",
          userIdentity: { type: "IAMUser", userName: "intruder", accessKeyId: "AKIAINTRUDER00000001" },
          requestParameters: { keyId: "arn:aws:kms:us-east-1:111122223333:key/1234" },
        },
      ],
    });
    const { injected } = (await response.json()) as { injected: string[] };
    const cloudTrail = new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
    const found = await cloudTrail.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: "EventId", AttributeValue: injected[0] }],
        StartTime: new Date(Date.now() - 45 * 60_000),
        EndTime: new Date(Date.now() - 35 * 60_000),
      }),
    );
    cloudTrail.destroy();
    await sandbox.scannerSettled();

    expect(response.status).toBe(200);
    expect(found.Events).toEqual([
      expect.objectContaining({
        EventName: "DisableKey",
        Username: "intruder",
        AccessKeyId: "AKIAINTRUDER00000001",
      }),
    ]);
    expect(delivered).toEqual([
      expect.objectContaining({
        source: "aws.kms",
        time: eventTime,
        detail: expect.objectContaining({ eventTime }),
      }),
    ]);
  });

  it("puts late records into the next trail file", async () => {
    await sandbox.deliverTrailFiles();
    await injectRecords({
      Records: [
        {
          eventTime: "2026-01-05T10:00:00Z",
          eventSource: "secretsmanager.amazonaws.com",
          eventName: "GetSecretValue",
          readOnly: true,
        },
      ],
    });

    const keys = await sandbox.deliverTrailFiles();

    expect(keys).toHaveLength(1);
    expect(sandbox.cloudTrailRecords().at(-1)).toMatchObject({
      eventTime: "2026-01-05T10:00:00Z",
      recipientAccountId: "111122223333",
    });
  });

  it("refuses a record without eventTime, naming the record and field, and adds none", async () => {
    const before = sandbox.cloudTrailRecords().length;

    const response = await injectRecords({
      Records: [
        { eventTime: "2026-01-05T10:00:00Z", eventSource: "kms.amazonaws.com", eventName: "DisableKey" },
        { eventSource: "kms.amazonaws.com", eventName: "DisableKey" },
      ],
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      message: "CloudTrail record 1: eventTime must be a non-empty string",
    });
    expect(sandbox.cloudTrailRecords()).toHaveLength(before);
  });

  it("refuses a body without a Records list", async () => {
    const response = await injectRecords([{ eventName: "x" }]);

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ message: 'expected {"Records": [ ...CloudTrail records... ]}' });
  });
});

describe("scanner schedules", () => {
  it("invokes the scanner with a Scheduled Event carrying the rule's input as detail", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const scheduled: unknown[] = [];
    const scheduling = await startSandbox({
      scannerLambda: async (event: unknown) => {
        scheduled.push(event);
      },
      scannerSchedules: [{ detail: { task: "lookup-sweep" }, everyMs: 300_000 }],
    });
    try {
      vi.advanceTimersByTime(299_999);
      await scheduling.scannerSettled();
      const before = scheduled.length;
      vi.advanceTimersByTime(1);
      await scheduling.scannerSettled();

      expect(before).toBe(0);
      expect(scheduled).toEqual([
        expect.objectContaining({
          "detail-type": "Scheduled Event",
          source: "aws.events",
          account: "111122223333",
          region: "us-east-1",
          detail: { task: "lookup-sweep" },
        }),
      ]);
    } finally {
      vi.useRealTimers();
      await scheduling.stop();
    }
  });
});
