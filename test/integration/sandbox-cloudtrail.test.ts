import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  CloudTrailClient,
  InvalidLookupAttributesException,
  InvalidMaxResultsException,
  LookupEventsCommand,
} from "@aws-sdk/client-cloudtrail";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

const identities = [
  {
    accessKeyId: "ASIAORDERROUTER00001",
    type: "AssumedRole",
    name: "order-router",
    sessionName: "i-0abc",
    sourceIp: "10.0.1.15",
  },
  {
    accessKeyId: "AKIAINTRUDER00000001",
    type: "IAMUser",
    name: "build-bot",
    sourceIp: "192.0.2.44",
    userAgent: "curl/8.5.0",
  },
  { accessKeyId: "ASIAROOTSESSION00001", type: "Root", name: "root" },
  {
    accessKeyId: "ASIAFOREIGN000000001",
    type: "AssumedRole",
    name: "auditor",
    sessionName: "x",
    accountId: "444455556666",
  },
] as const;

let sandbox: Sandbox;
let cloudTrail: CloudTrailClient;

beforeEach(async () => {
  sandbox = await startSandbox({
    identities: identities.map((identity) => ({ ...identity })),
    lookupEventsPerSecond: 0,
  });
  cloudTrail = new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
});

afterEach(async () => {
  vi.useRealTimers();
  cloudTrail.destroy();
  await sandbox.stop();
});

function secretsManagerAs(accessKeyId: string): SecretsManagerClient {
  return new SecretsManagerClient({ ...sandbox.clientConfig(accessKeyId), maxAttempts: 1 });
}

async function readSecretTimes(count: number, secretId = "prod/broker/credentials"): Promise<void> {
  const client = secretsManagerAs("ASIAORDERROUTER00001");
  for (let index = 0; index < count; index += 1) {
    await client.send(new GetSecretValueCommand({ SecretId: secretId })).catch(() => undefined);
  }
}

describe("CloudTrail records", () => {
  it("identify an assumed role by session, source IP and access key", async () => {
    await readSecretTimes(1);

    const record = sandbox.cloudTrailRecords().at(-1)!;

    expect(record).toMatchObject({
      eventVersion: "1.11",
      eventSource: "secretsmanager.amazonaws.com",
      eventName: "GetSecretValue",
      awsRegion: "us-east-1",
      sourceIPAddress: "10.0.1.15",
      readOnly: true,
      eventType: "AwsApiCall",
      managementEvent: true,
      recipientAccountId: "111122223333",
      eventCategory: "Management",
      userIdentity: {
        type: "AssumedRole",
        arn: "arn:aws:sts::111122223333:assumed-role/order-router/i-0abc",
        accessKeyId: "ASIAORDERROUTER00001",
        sessionContext: {
          sessionIssuer: {
            type: "Role",
            arn: "arn:aws:iam::111122223333:role/order-router",
            userName: "order-router",
          },
        },
      },
    });
    expect(record.userAgent).toContain("aws-sdk-js");
  });

  it("identify root, a user with its own user agent, a cross-account caller and unknown keys", async () => {
    for (const accessKeyId of [
      "ASIAROOTSESSION00001",
      "AKIAINTRUDER00000001",
      "ASIAFOREIGN000000001",
      "AKIAUNKNOWN000000001",
    ]) {
      await secretsManagerAs(accessKeyId)
        .send(new GetSecretValueCommand({ SecretId: "anything" }))
        .catch(() => undefined);
    }

    const [root, user, foreign, unknown] = sandbox.cloudTrailRecords().map((record) => record.userIdentity);
    const userRecord = sandbox.cloudTrailRecords()[1]!;

    expect(root).toMatchObject({ type: "Root", arn: "arn:aws:iam::111122223333:root" });
    expect(user).toMatchObject({ type: "IAMUser", userName: "build-bot" });
    expect(userRecord.userAgent).toBe("curl/8.5.0");
    expect(userRecord.sourceIPAddress).toBe("192.0.2.44");
    expect(foreign).toMatchObject({
      accountId: "444455556666",
      arn: "arn:aws:sts::444455556666:assumed-role/auditor/x",
    });
    expect(unknown).toMatchObject({ type: "IAMUser", userName: "AKIAUNKNOWN000000001" });
  });
});

describe("LookupEvents", () => {
  it("pages newest first with at most 50 events and a NextToken", async () => {
    await readSecretTimes(60);
    const seen: string[] = [];

    const first = await cloudTrail.send(new LookupEventsCommand({ MaxResults: 50 }));
    const second = await cloudTrail.send(
      new LookupEventsCommand({ MaxResults: 50, NextToken: first.NextToken }),
    );
    for (const event of [...(first.Events ?? []), ...(second.Events ?? [])]) seen.push(event.EventId!);

    expect(first.Events).toHaveLength(50);
    expect(second.Events).toHaveLength(10);
    expect(second.NextToken).toBeUndefined();
    expect(new Set(seen).size).toBe(60);
    const records = sandbox
      .cloudTrailRecords()
      .filter((record) => record.eventSource === "secretsmanager.amazonaws.com");
    expect(seen[0]).toBe(records.at(-1)!.eventID);
    expect(seen.at(-1)).toBe(records[0]!.eventID);
  });

  it("filters on one lookup attribute and returns the record as CloudTrailEvent", async () => {
    await readSecretTimes(2);
    await secretsManagerAs("AKIAINTRUDER00000001").send(
      new CreateSecretCommand({ Name: "canary", SecretString: "x" }),
    );

    const byName = await cloudTrail.send(
      new LookupEventsCommand({
        LookupAttributes: [{ AttributeKey: "EventName", AttributeValue: "CreateSecret" }],
      }),
    );
    const byUser = await cloudTrail.send(
      new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: "Username", AttributeValue: "i-0abc" }] }),
    );

    expect(byName.Events).toHaveLength(1);
    expect(byName.Events?.[0]).toMatchObject({
      EventName: "CreateSecret",
      Username: "build-bot",
      ReadOnly: "false",
    });
    expect(JSON.parse(byName.Events![0]!.CloudTrailEvent!)).toMatchObject({
      eventName: "CreateSecret",
      requestParameters: { name: "canary" },
    });
    expect(byUser.Events?.map((event) => event.EventName)).toEqual(["GetSecretValue", "GetSecretValue"]);
  });

  it("keeps to the time window", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-20T10:00:00Z"));
    await readSecretTimes(1);
    vi.setSystemTime(new Date("2026-11-26T10:00:00Z"));
    await readSecretTimes(1);

    const result = await cloudTrail.send(
      new LookupEventsCommand({
        StartTime: new Date("2026-11-26T00:00:00Z"),
        EndTime: new Date("2026-11-27T00:00:00Z"),
      }),
    );

    expect(result.Events?.map((event) => event.EventTime?.toISOString())).toEqual([
      "2026-11-26T10:00:00.000Z",
    ]);
  });

  it("times events to the second, as CloudTrail does: a window ending in an event's second holds it", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-26T10:00:00.600Z"));
    await readSecretTimes(1);

    const result = await cloudTrail.send(
      new LookupEventsCommand({
        StartTime: new Date("2026-11-26T10:00:00Z"),
        EndTime: new Date("2026-11-26T10:00:00Z"),
      }),
    );

    expect(result.Events?.map((event) => event.EventTime?.toISOString())).toEqual([
      "2026-11-26T10:00:00.000Z",
    ]);
  });

  it("refuses two lookup attributes and more than 50 results", async () => {
    await expect(
      cloudTrail.send(
        new LookupEventsCommand({
          LookupAttributes: [
            { AttributeKey: "EventName", AttributeValue: "GetSecretValue" },
            { AttributeKey: "Username", AttributeValue: "x" },
          ],
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidLookupAttributesException);
    await expect(cloudTrail.send(new LookupEventsCommand({ MaxResults: 51 }))).rejects.toBeInstanceOf(
      InvalidMaxResultsException,
    );
  });

  it("answers ThrottlingException beyond 2 requests per second", async () => {
    await sandbox.stop();
    vi.useFakeTimers({ toFake: ["Date"] });
    sandbox = await startSandbox();
    cloudTrail = new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 });

    await cloudTrail.send(new LookupEventsCommand({}));
    await cloudTrail.send(new LookupEventsCommand({}));
    const third = cloudTrail.send(new LookupEventsCommand({}));

    await expect(third).rejects.toMatchObject({ name: "ThrottlingException", message: "Rate exceeded" });
    vi.advanceTimersByTime(500);
    await expect(cloudTrail.send(new LookupEventsCommand({}))).resolves.toMatchObject({
      $metadata: { httpStatusCode: 200 },
      Events: expect.any(Array),
    });
    await expect(cloudTrail.send(new LookupEventsCommand({}))).rejects.toMatchObject({
      name: "ThrottlingException",
    });
  });
});

describe("writeTrailFiles", () => {
  it("writes gzipped {Records} files in the S3 layout, each record once", async () => {
    const directory = join(tmpdir(), `vigil-trail-${process.pid}-${Date.now()}`);
    await readSecretTimes(3);

    const paths = await sandbox.writeTrailFiles(directory);
    const again = await sandbox.writeTrailFiles(directory);

    try {
      expect(paths).toHaveLength(1);
      expect(again).toEqual([]);
      const day = sandbox.cloudTrailRecords()[0]!.eventTime.slice(0, 10).replace(/-/g, "/");
      expect(relative(directory, paths[0]!)).toMatch(
        new RegExp(
          `^AWSLogs/111122223333/CloudTrail/us-east-1/${day}/111122223333_CloudTrail_us-east-1_\\d{8}T\\d{4}Z_[0-9a-f]{16}\\.json\\.gz$`,
        ),
      );
      const file = JSON.parse(gunzipSync(await readFile(paths[0]!)).toString("utf8")) as {
        Records: unknown[];
      };
      expect(file.Records).toEqual(sandbox.cloudTrailRecords());
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("the inspection API", () => {
  it("lists the recorded CloudTrail records over plain HTTP", async () => {
    await readSecretTimes(2);

    const response = await fetch(`${sandbox.endpoint}/_sandbox/cloudtrail`);
    const body = (await response.json()) as { Records: { eventName: string }[] };

    expect(response.status).toBe(200);
    expect(body.Records.map((record) => record.eventName)).toEqual(["GetSecretValue", "GetSecretValue"]);
  });
});
