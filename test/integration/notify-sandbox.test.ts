// The notifier against the local sandbox's Secrets Manager, SNS and PagerDuty over real HTTP, with
// injected faults. Real clock: retry delays are shortened by configuration, not faked.
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { alertStateKey, DynamoAlertStateStore } from "../../functions/notify/alert-state-dynamodb.ts";
import { loadNotifierConfig } from "../../functions/notify/config.ts";
import { MAX_BODY_BYTES } from "../../functions/notify/input.ts";
import { type NotifierDependencies, notifyBatch } from "../../functions/notify/notify.ts";
import { systemClock } from "../../functions/notify/pagerduty-client.ts";
import { dedupKeyFor, MAX_EVENT_BYTES, MAX_SUMMARY_CHARS } from "../../functions/notify/pagerduty-events.ts";
import { createRoutingKeySource } from "../../functions/notify/routing-key.ts";
import { MAX_PUBLISH_BYTES } from "../../functions/notify/sns.ts";
import { rotationGroupKey } from "../../lib/finding.ts";
import { createLogger } from "../../lib/logger.ts";
import { clearRegisteredSecrets } from "../../lib/redaction.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { captureLogs, makeFinding, makeRotation, SECRET_ARN, sqsRecord } from "../helpers/notify-fixtures.ts";

const ROUTING_KEY = "SANDBOXROUTINGKEY0123456789abcde";

describe("notifier against the sandbox", () => {
  let sandbox: Sandbox;
  let topicArn: string;
  let log: ReturnType<typeof captureLogs>;

  /** The notifier wired to the sandbox, as the handler wires it to AWS. */
  const notifier = (
    env: Record<string, string> = {},
    secretId = "vigil/sandbox/pagerduty",
  ): NotifierDependencies => {
    const config = loadNotifierConfig({
      ALERTS_TOPIC_ARN: topicArn,
      PAGERDUTY_ROUTING_KEY_SECRET_ID: secretId,
      PAGERDUTY_EVENTS_URL: sandbox.env.PAGERDUTY_EVENTS_URL,
      PAGERDUTY_RETRY_BASE_MS: "20",
      PAGERDUTY_RETRY_MAX_MS: "200",
      PAGERDUTY_TIMEOUT_MS: "500",
      NOTIFY_DEADLINE_MARGIN_MS: "500",
      STATE_TABLE_NAME: sandbox.env.STATE_TABLE_NAME,
      ...env,
    });
    return {
      config,
      sns: new SNSClient(sandbox.clientConfig()),
      routingKeys: {
        primary: createRoutingKeySource(new SecretsManagerClient(sandbox.clientConfig()), {
          secretId: config.routingKeySecretId,
          cacheMs: config.routingKeyCacheMs,
        }),
      },
      fetch: globalThis.fetch,
      clock: systemClock,
      logger: createLogger("notify-sandbox-test"),
      alertState: new DynamoAlertStateStore(
        new DynamoDBClient(sandbox.clientConfig()),
        config.stateTableName,
      ),
    };
  };
  const patientPagerDuty = { PAGERDUTY_TIMEOUT_MS: "10000" };
  const alertEvents = () => sandbox.pagerDutyEvents().filter((event) => event.kind === "alert");

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0 });
    const secrets = new SecretsManagerClient(sandbox.clientConfig());
    await secrets.send(
      new CreateSecretCommand({ Name: "vigil/sandbox/pagerduty", SecretString: ROUTING_KEY }),
    );
    await secrets.send(
      new CreateSecretCommand({
        Name: "vigil/sandbox/pagerduty-json",
        SecretString: JSON.stringify({ routing_key: ROUTING_KEY }),
      }),
    );
    // One character short: PagerDuty answers 400 to any event carrying it.
    await secrets.send(
      new CreateSecretCommand({ Name: "vigil/sandbox/pagerduty-bad", SecretString: "x".repeat(31) }),
    );
    const topic = await new SNSClient(sandbox.clientConfig()).send(
      new CreateTopicCommand({ Name: "vigil-alerts" }),
    );
    topicArn = topic.TopicArn!;
  });
  afterAll(async () => {
    await sandbox.stop();
  });
  beforeEach(() => {
    log = captureLogs();
  });
  afterEach(() => {
    log.restore();
    sandbox.faults.clear();
    clearRegisteredSecrets();
  });

  it("turns a burst of 10,000 findings of 50 problems into at most 50 PagerDuty events", async () => {
    const before = { events: alertEvents().length, sns: sandbox.snsMessages().length };
    const records = Array.from({ length: 10_000 }, (_, index) =>
      sqsRecord(
        makeFinding({ groupKey: `burst-${index % 50}`, severity: "critical", eventIds: [`ev-${index}`] }),
      ),
    );

    const started = performance.now();
    // A request timeout a loaded machine can honour: a timed-out event is retried and counts twice.
    const { response, report } = await notifyBatch(records, 60_000, notifier(patientPagerDuty));
    const elapsedMs = performance.now() - started;

    log.restore();
    console.info(
      `notify burst: 10000 findings -> ${report.pagerDutyRequests} PagerDuty requests, ${report.snsMessages} SNS messages in ${elapsedMs.toFixed(0)} ms`,
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(alertEvents().length - before.events).toBeLessThanOrEqual(50);
    const burstIncidents = sandbox
      .pagerDutyIncidents()
      .filter((incident) => /\[200 events\]$/.test(incident.summary));
    expect(burstIncidents).toHaveLength(50);
    expect(sandbox.snsMessages().length - before.sns).toBe(50);
  });

  it("keeps a burst delivered in 10 batches of 1,000 to one PagerDuty event per problem", async () => {
    const before = alertEvents().length;
    const shared = notifier(patientPagerDuty);
    const started = performance.now();

    for (let batch = 0; batch < 10; batch++) {
      const records = Array.from({ length: 1_000 }, (_, index) =>
        sqsRecord(makeFinding({ groupKey: `batched-${index % 50}`, severity: "high" })),
      );
      const { response } = await notifyBatch(records, 60_000, shared);
      expect(response.batchItemFailures).toEqual([]);
    }

    const elapsedMs = performance.now() - started;
    log.restore();
    console.info(
      `notify burst in 10 batches: ${alertEvents().length - before} PagerDuty events in ${elapsedMs.toFixed(0)} ms`,
    );
    expect(alertEvents().length - before).toBe(50);
  });

  it("delivers through 429, 5xx and a timeout with no duplicate incident, also on redelivery", async () => {
    sandbox.faults.inject({ target: "pagerduty", operation: "enqueue", kind: "throttle", times: 1 });
    sandbox.faults.inject({ target: "pagerduty", operation: "enqueue", kind: "5xx", status: 503, times: 1 });
    sandbox.faults.inject({
      target: "pagerduty",
      operation: "enqueue",
      kind: "latency",
      latencyMs: 900,
      times: 1,
    });
    sandbox.faults.inject({ target: "pagerduty", operation: "enqueue", kind: "drop", times: 1 });
    const finding = makeFinding({ groupKey: "flaky", severity: "high" });

    const first = await notifyBatch([sqsRecord(finding)], 30_000, notifier());
    const redelivery = await notifyBatch([sqsRecord(finding)], 30_000, notifier());

    expect(first.response.batchItemFailures).toEqual([]);
    expect(redelivery.response.batchItemFailures).toEqual([]);
    const incidents = sandbox
      .pagerDutyIncidents()
      .filter((incident) => incident.dedupKey === dedupKeyFor("flaky"));
    expect(incidents).toHaveLength(1);
    expect(incidents[0]?.status).toBe("triggered");
    const statuses = alertEvents()
      .filter(
        (event) =>
          event.dedupKey === dedupKeyFor("flaky") ||
          (event.body as { dedup_key?: string }).dedup_key === dedupKeyFor("flaky"),
      )
      .map((event) => event.status);
    expect(statuses).toEqual(expect.arrayContaining([429, 503, 0, 202]));
  });

  it("returns the messages to SQS when PagerDuty is down past the invocation's budget", async () => {
    sandbox.faults.inject({ target: "pagerduty", operation: "enqueue", kind: "5xx", status: 502 });

    const { response } = await notifyBatch(
      [
        sqsRecord(makeFinding({ groupKey: "down" }), "d1"),
        sqsRecord(makeFinding({ groupKey: "down" }), "d2"),
      ],
      2_500,
      notifier(),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "d1" }, { itemIdentifier: "d2" }]);
    expect(sandbox.pagerDutyIncidents().some((incident) => incident.dedupKey === dedupKeyFor("down"))).toBe(
      false,
    );
    expect(
      log.lines().filter((line) => line.message === "PagerDuty call failed, retrying").length,
    ).toBeGreaterThan(1);
  });

  it("never retries a 400 and logs PagerDuty's answer", async () => {
    const before = alertEvents().length;

    const { response } = await notifyBatch(
      [sqsRecord(makeFinding({ groupKey: "rejected", severity: "critical" }))],
      30_000,
      notifier({}, "vigil/sandbox/pagerduty-bad"),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(alertEvents().length - before).toBe(1);
    const rejected = log.lines().find((line) => line.message === "PagerDuty rejected the event; not retried");
    expect(rejected?.status).toBe(400);
    expect(String(rejected?.responseBody)).toContain("Length of 'routing_key' is incorrect");
    expect(sandbox.snsMessages().at(-1)?.message).toContain(
      "NOT DELIVERED: rejected by PagerDuty (HTTP 400)",
    );
  });

  it("stays within every limit with the largest body SQS carries: summary, event size, SNS subject and body", async () => {
    const shape = makeFinding({
      groupKey: "huge",
      severity: "critical",
      title: `Überlanger Titel\nmit Zeilenumbruch ${"t".repeat(300)}`,
      summary: "s".repeat(5_000),
      details: { blob: "" },
      eventIds: Array.from({ length: 5_000 }, (_, index) => `event-${index}`),
    });
    const room = MAX_BODY_BYTES - Buffer.byteLength(JSON.stringify(shape));
    const huge = { ...shape, details: { blob: "b".repeat(room) } };

    const { response } = await notifyBatch(
      [sqsRecord(huge)],
      30_000,
      notifier({}, "vigil/sandbox/pagerduty-json"),
    );

    expect(response.batchItemFailures).toEqual([]);
    const event = alertEvents().findLast((record) => record.dedupKey === dedupKeyFor("huge"));
    expect(event?.status).toBe(202);
    expect(Buffer.byteLength(JSON.stringify(event?.body))).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    const body = event?.body as { payload: { summary: string } };
    expect(body.payload.summary.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
    const message = sandbox.snsMessages().at(-1);
    expect(message?.subject?.length).toBeLessThan(100);
    expect(message?.subject).not.toMatch(/[\r\n]/);
    expect(Buffer.byteLength(message?.message ?? "")).toBeLessThanOrEqual(MAX_PUBLISH_BYTES);
    expect(message?.messageAttributes.severity).toMatchObject({
      DataType: "String",
      StringValue: "critical",
    });
  });

  it("resolves a failed rotation when the secret is rotated, with a change event that never pages", async () => {
    const failure = makeFinding({
      rule: "rotation-failed",
      severity: "high",
      groupKey: rotationGroupKey(SECRET_ARN),
    });
    await notifyBatch([sqsRecord(failure)], 30_000, notifier());
    const open = sandbox
      .pagerDutyIncidents()
      .filter((incident) => incident.dedupKey === dedupKeyFor(failure.groupKey));
    expect(open.map((incident) => incident.status)).toEqual(["triggered"]);
    const incidentsBefore = sandbox.pagerDutyIncidents().length;

    const { response } = await notifyBatch([sqsRecord(makeRotation())], 30_000, notifier());

    expect(response.batchItemFailures).toEqual([]);
    const after = sandbox.pagerDutyIncidents();
    expect(after).toHaveLength(incidentsBefore);
    expect(after.find((incident) => incident.dedupKey === dedupKeyFor(failure.groupKey))?.status).toBe(
      "resolved",
    );
    const change = sandbox.pagerDutyEvents().findLast((event) => event.kind === "change");
    expect(change).toMatchObject({ status: 202, body: { payload: { source: SECRET_ARN } } });
    const rotated = sandbox.snsMessages().at(-1);
    expect(rotated).toMatchObject({
      subject: "[ROTATED] algo-trade/prod/ibkr",
      messageAttributes: { rule: { StringValue: "secret.rotated" }, secret: { StringValue: SECRET_ARN } },
    });
  });

  it("keeps each group's last state in the sandbox's DynamoDB: a recurrence pages, an older failure reopens nothing", async () => {
    // Arrange: two containers (two notifiers) sharing the state table, and a rotation group.
    const containerA = notifier();
    const containerB = notifier();
    const secretArn = SECRET_ARN.replace("ibkr", "ordering");
    const groupKey = rotationGroupKey(secretArn);
    const failure = (lastSeen: string) =>
      makeFinding({ rule: "rotation.failed", severity: "high", secretArn, groupKey, lastSeen });
    const incidents = () =>
      sandbox.pagerDutyIncidents().filter((incident) => incident.dedupKey === dedupKeyFor(groupKey));

    // Act: A pages at 11:00, B resolves with the 11:05 rotation, A gets the 11:00 failure again, then a new one.
    await notifyBatch([sqsRecord(failure("2026-11-27T11:00:00Z"))], 30_000, containerA);
    await notifyBatch(
      [sqsRecord(makeRotation({ secretArn, at: "2026-11-27T11:05:00Z" }))],
      30_000,
      containerB,
    );
    const redelivered = await notifyBatch([sqsRecord(failure("2026-11-27T11:00:00Z"))], 30_000, containerA);
    const afterRedelivery = incidents().map((incident) => incident.status);
    const recurrence = await notifyBatch([sqsRecord(failure("2026-11-27T11:20:00Z"))], 30_000, containerA);

    // Assert
    expect(redelivered.response.batchItemFailures).toEqual([]);
    expect(afterRedelivery).toEqual(["resolved"]);
    expect(recurrence.response.batchItemFailures).toEqual([]);
    expect(incidents().map((incident) => incident.status)).toEqual(["resolved", "triggered"]);
    const { Item } = await new DynamoDBClient(sandbox.clientConfig()).send(
      new GetItemCommand({
        TableName: sandbox.env.STATE_TABLE_NAME,
        Key: { pk: { S: alertStateKey(groupKey) }, sk: { S: "state" } },
      }),
    );
    expect(Item).toMatchObject({
      status: { S: "firing" },
      at: { N: String(Date.parse("2026-11-27T11:20:00Z")) },
    });
    expect(Item?.leaseOwner).toBeUndefined();
  });

  it("stops waiting for a slow routing-key read at the deadline and returns the messages to SQS", async () => {
    sandbox.faults.inject({
      target: "secretsmanager",
      operation: "GetSecretValue",
      kind: "latency",
      latencyMs: 10_000,
      times: 1,
    });

    const { response } = await notifyBatch(
      [sqsRecord(makeFinding({ groupKey: "slow-key", severity: "high" }), "k1")],
      2_500,
      notifier(),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "k1" }]);
    const failure = log
      .lines()
      .find((line) => line.message === "PagerDuty delivery failed; the messages go back to SQS");
    expect(failure?.error).toBe("routing key secret vigil/sandbox/pagerduty: could not be read");
    expect(
      sandbox.pagerDutyIncidents().some((incident) => incident.dedupKey === dedupKeyFor("slow-key")),
    ).toBe(false);
  });

  it("returns the group to SQS when SNS is throttled past the SDK's retries", async () => {
    sandbox.faults.inject({ target: "sns", operation: "Publish", kind: "throttle" });

    const { response } = await notifyBatch(
      [sqsRecord(makeFinding({ groupKey: "sns-down" }), "s1")],
      30_000,
      notifier(),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "s1" }]);
    expect(
      log.lines().some((line) => line.message === "SNS publish failed; the messages go back to SQS"),
    ).toBe(true);
  });
});
