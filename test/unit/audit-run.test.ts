import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { CloudTrailClient, LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import { GetObjectCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import { ListSecretsCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { defaultPolicy } from "../../functions/audit-scan/policy.ts";
import { loadPolicy } from "../../functions/audit-scan/policy-file.ts";
import { UnknownScanEventError } from "../../functions/audit-scan/sources/errors.ts";
import {
  classifyScanEvent,
  runScanEvent,
  type ScanRunDependencies,
} from "../../functions/audit-scan/sources/run.ts";
import type { Finding } from "../../lib/finding.ts";
import { createLogger } from "../../lib/logger.ts";
import { VigilMetrics } from "../../lib/metrics.ts";
import { MemoryAuditState } from "../helpers/audit-state.ts";
import { captureOutput } from "../helpers/output.ts";
import { iamUser, record } from "./scenarios/records.ts";
import { databaseRotation, POLICY } from "./scenarios/stories.ts";

const NOW = new Date("2026-12-01T12:00:00Z");
const KEY =
  "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T1200Z_a.json.gz";
const cloudTrail = mockClient(CloudTrailClient);
const s3 = mockClient(S3Client);
const secretsManager = mockClient(SecretsManagerClient);

const stopLogging = (seq = 0) =>
  record({
    identity: iamUser("mallory"),
    source: "cloudtrail",
    name: "StopLogging",
    time: "2026-12-01T11:58:00Z",
    request: { name: "arn:aws:cloudtrail:us-east-1:111122223333:trail/main-trail" },
    seq,
  });
const getObjectBody = (records: unknown[]) =>
  Readable.from([gzipSync(JSON.stringify({ Records: records }))]) as unknown as never;

function deps(overrides: Partial<ScanRunDependencies> = {}): ScanRunDependencies & { published: Finding[] } {
  const state = new MemoryAuditState();
  const published: Finding[] = [];
  return {
    regions: ["us-east-1"],
    overlapMs: 15 * 60_000,
    requestsPerSecond: 2,
    policy: defaultPolicy(),
    scanner: createScanner({ policy: defaultPolicy(), state, now: () => NOW }),
    state,
    cloudTrail: () => new CloudTrailClient({ region: "us-east-1" }),
    s3: new S3Client({ region: "us-east-1" }),
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    publish: async (findings) => {
      published.push(...findings);
      return findings.length;
    },
    metrics: new VigilMetrics("audit-scan", {}),
    logger: createLogger("vigil-audit-scan-test"),
    remainingMs: () => 600_000,
    holder: "req-1",
    now: () => NOW,
    published,
    ...overrides,
  };
}

let output: ReturnType<typeof captureOutput>;
beforeEach(() => {
  cloudTrail.reset();
  s3.reset();
  secretsManager.reset();
  output = captureOutput();
});
afterEach(() => {
  output.restore();
  vi.useRealTimers();
});

describe("classifyScanEvent", () => {
  it("reads the task from a rule's constant input or a scheduled event's detail", () => {
    expect(classifyScanEvent({ task: "lookup-sweep" })).toEqual({ kind: "lookup-sweep" });
    expect(
      classifyScanEvent({ "detail-type": "Scheduled Event", detail: { task: "compliance-sweep" } }),
    ).toEqual({ kind: "compliance-sweep" });
  });

  it("names the accepted tasks when the task is unknown", () => {
    expect(() => classifyScanEvent({ task: "sweep-all" })).toThrow(
      new UnknownScanEventError('unknown task "sweep-all" (expected one of: lookup-sweep, compliance-sweep)'),
    );
  });

  it("takes the CloudTrail record from an AWS API Call via CloudTrail event's detail", () => {
    const detail = stopLogging();

    expect(classifyScanEvent({ "detail-type": "AWS API Call via CloudTrail", detail })).toEqual({
      kind: "eventbridge",
      record: detail,
    });
  });

  it("says which events it accepts when it recognises none", () => {
    expect(() => classifyScanEvent({ hello: "world" })).toThrow(/^unrecognised event: expected \{"task"/);
    expect(() => classifyScanEvent("text")).toThrow(UnknownScanEventError);
  });
});

describe("runScanEvent", () => {
  it("scans an EventBridge CloudTrail event and publishes its finding", async () => {
    const run = deps();

    const response = await runScanEvent(
      { "detail-type": "AWS API Call via CloudTrail", detail: stopLogging() },
      run,
    );

    expect(response).toEqual({ kind: "eventbridge", findings: 1 });
    expect(run.published.map((finding) => [finding.rule, finding.severity])).toEqual([
      ["trail-tampering", "critical"],
    ]);
  });

  it("streams each trail file of an SQS batch and reports the message whose file failed", async () => {
    s3.on(GetObjectCommand, { Key: KEY }).resolves({ Body: getObjectBody([stopLogging()]) });
    s3.on(GetObjectCommand, { Key: KEY.replace("_a.json", "_b.json") }).rejects(
      new NoSuchKey({ message: "The specified key does not exist.", $metadata: {} }),
    );
    const message = (id: string, key: string) => ({
      eventSource: "aws:sqs",
      messageId: id,
      body: JSON.stringify({
        Records: [
          {
            eventSource: "aws:s3",
            eventName: "ObjectCreated:Put",
            s3: { bucket: { name: "b" }, object: { key } },
          },
        ],
      }),
    });
    const run = deps();

    const response = await runScanEvent(
      { Records: [message("m1", KEY), message("m2", KEY.replace("_a.json", "_b.json"))] },
      run,
    );

    expect(response).toEqual({ kind: "s3", findings: 1, batchItemFailures: [{ itemIdentifier: "m2" }] });
    expect(run.published).toHaveLength(1);
  });

  it("scans a batch's files in order while the next ones are read ahead, failing only the message whose file could not be read", async () => {
    // A RotationStarted in the first file marks the rotation function's calls in the second (no rotationRoles).
    const policy = { ...loadPolicy(POLICY, "scenario policy"), learningDays: 0 };
    const run = deps({
      policy,
      scanner: createScanner({ policy, state: new MemoryAuditState(), now: () => NOW }),
    });
    const rotation = databaseRotation("algo-trade/production/db", "2026-12-01T10:00:00Z", {
      token: "70e00000-0000-4000-8000-000000000002",
      previous: "cur00000-0000-4000-8000-000000000000",
    });
    const key = (name: string) => KEY.replace("_a.json", `_${name}.json`);
    const gzipped = (records: unknown[]) => gzipSync(JSON.stringify({ Records: records }));
    const files = {
      [key("1")]: gzipped(rotation.slice(0, 1)),
      [key("2")]: gzipped(rotation.slice(1)),
      [key("3")]: gzipped([stopLogging(1)]),
      [key("4")]: gzipped([stopLogging(2)]),
    };
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
      const bytes = files[input.Key]!;
      if (input.Key !== key("3")) return { Body: Readable.from([bytes]) };
      // The third file's connection breaks half-way through its body.
      const body = new Readable({ read() {} });
      body.push(bytes.subarray(0, bytes.length >> 1));
      setImmediate(() => body.destroy(new Error("socket hang up")));
      return { Body: body };
    });
    const message = (id: string) => ({
      eventSource: "aws:sqs",
      messageId: `m${id}`,
      body: JSON.stringify({
        Records: [
          {
            eventSource: "aws:s3",
            eventName: "ObjectCreated:Put",
            s3: { bucket: { name: "b" }, object: { key: key(id), size: files[key(id)]!.length } },
          },
        ],
      }),
    });

    const response = await runScanEvent({ Records: ["1", "2", "3", "4"].map(message) }, run);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m3" }]);
    // The rotation's calls were recognised (nothing open about them); the fourth file was still scanned.
    expect(
      run.published
        .filter((finding) => finding.status !== "resolved")
        .map((finding) => [finding.rule, finding.eventIds]),
    ).toEqual([["trail-tampering", [stopLogging(2).eventID]]]);
  });

  it("judges and publishes a batch's files one after another while the next file is read, and stops at a failure no queue can retry", async () => {
    const key = (name: string) => KEY.replace("_a.json", `_${name}.json`);
    const otherTrail = {
      ...stopLogging(2),
      requestParameters: { name: "arn:aws:cloudtrail:us-east-1:111122223333:trail/audit-trail" },
    };
    const files: Record<string, Buffer> = {
      [key("1")]: gzipSync(JSON.stringify({ Records: [stopLogging(1)] })),
      [key("2")]: gzipSync(JSON.stringify({ Records: [otherTrail] })),
    };
    const timeline: string[] = [];
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
      timeline.push(`read ${input.Key === key("1") ? 1 : 2}`);
      return { Body: Readable.from([files[input.Key]!]) };
    });
    const notification = (name: string) => ({
      eventSource: "aws:s3",
      eventName: "ObjectCreated:Put",
      s3: { bucket: { name: "b" }, object: { key: key(name), size: files[key(name)]!.length } },
    });
    const event = { Records: [notification("1"), notification("2")] };
    // Publishing the first file's finding waits, so the second file is read meanwhile.
    const order: string[] = [];
    const ordered = deps({
      publish: async (findings) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push(...findings.map((finding) => finding.eventIds.join()));
        timeline.push(`published ${order.length}`);
        return findings.length;
      },
    });
    await expect(runScanEvent(event, ordered)).resolves.toEqual({ kind: "s3", findings: 2 });
    expect(order).toEqual([stopLogging(1).eventID, stopLogging(2).eventID]);
    // The second file was read before the first file's findings were published.
    expect(timeline).toEqual(["read 1", "read 2", "published 1", "published 2"]);

    // Direct S3 notifications have no partial retry: the first file's failure fails the invocation, and
    // the second file, read meanwhile, is neither judged nor published.
    let calls = 0;
    const failing = deps({
      publish: async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error("the findings queue is unavailable");
      },
    });
    await expect(runScanEvent(event, failing)).rejects.toThrow("the findings queue is unavailable");
    expect(calls).toBe(1);
  });

  it("skips the files of a message whose earlier file failed, also while files are read ahead of their judging", async () => {
    const key = (name: string) => KEY.replace("_a.json", `_${name}.json`);
    const otherTrail = (seq: number, trail: string) => ({
      ...stopLogging(seq),
      requestParameters: { name: `arn:aws:cloudtrail:us-east-1:111122223333:trail/${trail}` },
    });
    const files: Record<string, Buffer> = {
      [key("1")]: gzipSync(JSON.stringify({ Records: [stopLogging(1)] })),
      [key("2")]: gzipSync(JSON.stringify({ Records: [otherTrail(2, "second")] })),
      [key("3")]: gzipSync(JSON.stringify({ Records: [otherTrail(3, "third")] })),
    };
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => ({
      Body: Readable.from([files[input.Key]!]),
    }));
    const object = (name: string) => ({
      eventSource: "aws:s3",
      eventName: "ObjectCreated:Put",
      s3: { bucket: { name: "b" }, object: { key: key(name), size: files[key(name)]!.length } },
    });
    const message = (id: string, names: string[]) => ({
      eventSource: "aws:sqs",
      messageId: id,
      body: JSON.stringify({ Records: names.map(object) }),
    });
    const published: string[] = [];
    const run = deps({
      // The first file's finding cannot be published (after a while, so the second file is read meanwhile).
      publish: async (findings) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (findings.some((finding) => finding.eventIds.includes(String(stopLogging(1).eventID))))
          throw new Error("the findings queue is unavailable");
        published.push(...findings.flatMap((finding) => finding.eventIds));
        return findings.length;
      },
    });

    const response = await runScanEvent({ Records: [message("m1", ["1", "2"]), message("m2", ["3"])] }, run);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
    // The second file of the failed message is skipped, as its message is retried whole; the third is scanned.
    expect(published).toEqual([stopLogging(3).eventID]);
  });

  it("counts every record of a trail file as processed, and a malformed one as skipped with its reason", async () => {
    const otherService = { ...stopLogging(1), eventSource: "s3.amazonaws.com", eventName: "GetObject" };
    const { eventSource: _, ...noSource } = stopLogging(2);
    s3.on(GetObjectCommand).resolves({ Body: getObjectBody([stopLogging(), otherService, noSource]) });
    const metrics = new VigilMetrics("audit-scan", {});
    const run = deps({ metrics });

    const response = await runScanEvent(
      {
        Records: [
          {
            eventSource: "aws:s3",
            eventName: "ObjectCreated:Put",
            s3: { bucket: { name: "b" }, object: { key: KEY } },
          },
        ],
      },
      run,
    );
    metrics.flush();

    expect(response).toEqual({ kind: "s3", findings: 1 });
    const emf = output.lines().filter((line) => "_aws" in line);
    expect(emf.find((line) => "EventsProcessed" in line)).toMatchObject({ Source: "s3", EventsProcessed: 3 });
    expect(emf.find((line) => "RecordsSkipped" in line)).toMatchObject({ Source: "s3", RecordsSkipped: 1 });
    expect(output.lines().find((line) => line.message === "Skipped malformed records")?.skipped).toEqual({
      "eventSource missing": 1,
    });
  });

  it("fails the invocation for a direct S3 notification whose file cannot be read", async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: "gone", $metadata: {} }));
    const event = {
      Records: [
        {
          eventSource: "aws:s3",
          eventName: "ObjectCreated:Put",
          s3: { bucket: { name: "b" }, object: { key: KEY } },
        },
      ],
    };

    await expect(runScanEvent(event, deps())).rejects.toThrow(`s3://b/${KEY}: GetObject failed: gone`);
  });

  it("runs the compliance sweep, then remembers the groups it opened", async () => {
    secretsManager.on(ListSecretsCommand).resolves({
      SecretList: [
        {
          ARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf",
          Name: "db",
          RotationEnabled: false,
          CreatedDate: new Date(NOW.getTime() - 86_400_000),
          Tags: [{ Key: "vigil:rotation", Value: "postgres-single" }],
        },
      ],
    });
    const run = deps();

    const response = await runScanEvent({ task: "compliance-sweep" }, run);

    expect(response).toEqual({ kind: "compliance-sweep", findings: 1 });
    expect(run.published[0]?.rule).toBe("rotation-disabled");
    expect([...(run.state as MemoryAuditState).open.keys()]).toEqual([run.published[0]?.groupKey]);
  });

  it("judges each secret against the policy entry matching its name", async () => {
    secretsManager.on(ListSecretsCommand).resolves({
      SecretList: [
        {
          ARN: "arn:aws:secretsmanager:us-east-1:111122223333:secret:algo-trade/production/orders-db-AbCdEf",
          Name: "algo-trade/production/orders-db",
          RotationEnabled: true,
          LastRotatedDate: new Date(NOW.getTime() - 40 * 86_400_000),
        },
      ],
    });
    const policy = loadPolicy(
      "version: 1\nsecrets:\n  - match: algo-trade/production/*\n    sensitivity: critical\n    maxRotationDays: 30\n",
      "policy.yaml",
    );
    const run = deps({ policy });

    await runScanEvent({ task: "compliance-sweep" }, run);

    expect(run.published.map((finding) => [finding.rule, finding.severity, finding.title])).toEqual([
      ["rotation-overdue", "high", "algo-trade/production/orders-db: rotation overdue by 10 days"],
    ]);
  });

  it("reports no lag for a sweep that has no checkpoint yet, and fails the invocation naming the source", async () => {
    cloudTrail.on(LookupEventsCommand).rejects(
      Object.assign(new Error("User is not authorized"), {
        name: "AccessDeniedException",
        $fault: "client",
      }),
    );
    const metrics = new VigilMetrics("audit-scan", {});

    const outcome = runScanEvent({ task: "lookup-sweep" }, deps({ metrics }));

    await expect(outcome).rejects.toThrow(
      "LookupEvents sweep of secretsmanager.amazonaws.com in us-east-1: LookupEvents failed after 1 attempt(s): User is not authorized",
    );
    metrics.flush();
    expect(output.lines().filter((line) => "ScannerLagSeconds" in line)).toEqual([]);
  });

  it("runs the LookupEvents sweep and counts absorbed throttles and processed events in its metrics", async () => {
    vi.useFakeTimers({ now: NOW });
    const event = stopLogging();
    cloudTrail
      .on(LookupEventsCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }))
      .callsFake((input) =>
        input.LookupAttributes[0].AttributeValue === "cloudtrail.amazonaws.com"
          ? { Events: [{ EventId: event.eventID, CloudTrailEvent: JSON.stringify(event) }] }
          : { Events: [] },
      );
    const metrics = new VigilMetrics("audit-scan", {});
    const run = deps({ metrics });

    const pending = runScanEvent({ task: "lookup-sweep" }, run);
    await vi.runAllTimersAsync();
    const response = await pending;
    metrics.flush();

    expect(response).toEqual({ kind: "lookup-sweep", findings: 1 });
    const emf = output.lines().filter((line) => "_aws" in line);
    expect(emf.find((line) => "LookupThrottles" in line)?.LookupThrottles).toBe(1);
    expect(emf.find((line) => "EventsProcessed" in line)).toMatchObject({
      Source: "lookup",
      EventsProcessed: 1,
    });
    expect(emf.find((line) => "ScannerLagSeconds" in line)?.ScannerLagSeconds).toBe(0);
  });
});

describe("runScanEvent near-real-time rotation", () => {
  /** How EventBridge delivers a CloudTrail record: API calls and service events under their own detail types. */
  const envelope = (detail: Record<string, unknown>) => ({
    version: "0",
    "detail-type":
      detail.eventType === "AwsServiceEvent"
        ? "AWS Service Event via CloudTrail"
        : "AWS API Call via CloudTrail",
    source: "aws.secretsmanager",
    detail,
  });

  it("recognises the rotate function's writes after a RotationStarted service event, one event per invocation", async () => {
    // Arrange: the scenario policy lists no rotationRoles; only RotationStarted marks the rotation.
    const policy = { ...loadPolicy(POLICY, "scenario policy"), learningDays: 0 };
    const scanner = createScanner({ policy, state: new MemoryAuditState(), now: () => NOW });
    const run = deps({ policy, scanner });
    const rotation = databaseRotation("algo-trade/production/db", "2026-12-01T10:00:00Z", {
      token: "70e00000-0000-4000-8000-000000000002",
      previous: "cur00000-0000-4000-8000-000000000000",
    });
    // The near-real-time rule sends write-side calls and service events.
    const delivered = rotation.filter((item) => item.readOnly === false);

    // Act
    const kinds = [];
    for (const item of delivered) kinds.push((await runScanEvent(envelope(item), run)).kind);

    // Assert
    expect(kinds.every((kind) => kind === "eventbridge")).toBe(true);
    expect(delivered.some((item) => item.eventName === "RotationStarted")).toBe(true);
    expect(run.published.filter((finding) => finding.status !== "resolved")).toEqual([]);
  });
});
