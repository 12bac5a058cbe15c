import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { PublishCommand } from "@aws-sdk/client-sns";
import { describe, expect, it } from "vitest";
import { createChannels, type NotificationChannel } from "../../functions/notify/channels/index.ts";
import { notifyBatch } from "../../functions/notify/notify.ts";
import { dedupKeyFor } from "../../functions/notify/pagerduty-events.ts";
import { rotationGroupKey } from "../../lib/finding.ts";
import { registerSecret } from "../../lib/redaction.ts";
import {
  LOW_KEY,
  makeFinding,
  makeRotation,
  PRIMARY_KEY,
  SECRET_ARN,
  sqsRecord,
  useNotifierHarness,
} from "../helpers/notify-fixtures.ts";

describe("notifyBatch", () => {
  const h = useNotifierHarness();
  const { deps, alertEvents, changeEvents, published, defaultText } = h;

  it("turns 10,000 findings of 50 problems into at most 50 PagerDuty events and 50 SNS messages", {
    timeout: 60_000,
  }, async () => {
    // Arrange
    const records = Array.from({ length: 10_000 }, (_, index) =>
      sqsRecord(makeFinding({ groupKey: `problem-${index % 50}`, severity: "critical" })),
    );

    // Act
    const { response, report } = await notifyBatch(records, 60_000, deps());

    // Assert
    expect(response.batchItemFailures).toEqual([]);
    expect(alertEvents().length).toBeLessThanOrEqual(50);
    expect(new Set(alertEvents().map((request) => request.body.dedup_key)).size).toBe(50);
    expect(h.stub.incidents).toHaveLength(50);
    expect(published()).toHaveLength(50);
    expect(report).toMatchObject({
      received: 10_000,
      groups: 50,
      pagerDutyEvents: 50,
      snsMessages: 50,
      failed: 0,
    });
    expect(alertEvents()[0]?.body).toMatchObject({
      routing_key: PRIMARY_KEY,
      event_action: "trigger",
      payload: { custom_details: { occurrences: 200, findings_in_batch: 200, event_id_count: 200 } },
    });
  });

  it("pages and publishes a burst spread over several batches once per repeat interval", async () => {
    const shared = deps();
    const batch = () =>
      Array.from({ length: 100 }, () => sqsRecord(makeFinding({ groupKey: "spread", severity: "high" })));

    const outcomes = [];
    for (let index = 0; index < 5; index++) outcomes.push(await notifyBatch(batch(), 60_000, shared));

    expect(outcomes.every((outcome) => outcome.response.batchItemFailures.length === 0)).toBe(true);
    expect(alertEvents()).toHaveLength(1);
    expect(published()).toHaveLength(1);
    expect(outcomes.map((outcome) => outcome.report.suppressed)).toEqual([0, 1, 1, 1, 1]);
  });

  it("pages again at once when the severity rises or after a resolve", async () => {
    const shared = deps();
    const send = (overrides: Parameters<typeof makeFinding>[0]) =>
      notifyBatch([sqsRecord(makeFinding({ groupKey: "again", ...overrides }))], 60_000, shared);

    await send({ severity: "high", lastSeen: "2026-11-27T10:00:00Z" });
    await send({ severity: "critical", lastSeen: "2026-11-27T10:01:00Z" });
    await send({ severity: "critical", status: "resolved", lastSeen: "2026-11-27T10:02:00Z" });
    await send({ severity: "critical", lastSeen: "2026-11-27T10:03:00Z" });

    expect(alertEvents().map((request) => request.body.event_action)).toEqual([
      "trigger",
      "trigger",
      "resolve",
      "trigger",
    ]);
    expect(h.stub.incidents.map((incident) => incident.status)).toEqual(["resolved", "triggered"]);
  });

  it("delivers after 429, 5xx and a timeout, and redelivery adds no second incident", async () => {
    h.stub.script({ kind: "status", status: 429 }, { kind: "status", status: 503 }, { kind: "hang" });
    const finding = makeFinding({ severity: "high" });

    h.env.PAGERDUTY_TIMEOUT_MS = "150";

    const first = await notifyBatch([sqsRecord(finding)], 60_000, deps());
    const again = await notifyBatch([sqsRecord(finding)], 60_000, deps());

    expect(first.response.batchItemFailures).toEqual([]);
    expect(again.response.batchItemFailures).toEqual([]);
    expect(alertEvents()).toHaveLength(4);
    // PagerDuty accepted two: the timed-out request (its answer was lost) and its retry. The redelivery,
    // in another container, sends nothing: the state table says the group was paged.
    expect(h.stub.incidents).toEqual([
      { dedupKey: dedupKeyFor(finding.groupKey), status: "triggered", eventCount: 2 },
    ]);
  });

  it("hands the messages back to SQS when PagerDuty stays down past the deadline", async () => {
    h.stub.script(...Array.from({ length: 100 }, () => ({ kind: "status" as const, status: 500 })));
    const records = [
      sqsRecord(makeFinding({ groupKey: "down" }), "m1"),
      sqsRecord(makeFinding({ groupKey: "down" }), "m2"),
    ];

    const { response } = await notifyBatch(records, 30_000, deps());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m1" }, { itemIdentifier: "m2" }]);
    expect(alertEvents().length).toBeGreaterThan(1);
    expect(
      h.log.lines().some((line) => line.message === "PagerDuty delivery failed; the messages go back to SQS"),
    ).toBe(true);
    expect(defaultText(published()[0]?.Message)).toContain("not delivered yet");
  });

  it("never retries a 400, logs its body, tells SNS even for a severity routed elsewhere, and drops the message", async () => {
    h.env.SNS_SEVERITIES = "medium,low,info";
    const body =
      '{"status":"invalid event","message":"Event object is invalid","errors":["payload.summary is missing"]}';
    h.stub.script({ kind: "status", status: 400, body });

    const { response } = await notifyBatch(
      [sqsRecord(makeFinding({ severity: "critical" }))],
      60_000,
      deps(),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(alertEvents()).toHaveLength(1);
    const rejected = h.log
      .lines()
      .find((line) => line.message === "PagerDuty rejected the event; not retried");
    expect(rejected).toMatchObject({ level: "ERROR", status: 400, responseBody: body });
    expect(published()).toHaveLength(1);
    expect(defaultText(published()[0]?.Message)).toContain("NOT DELIVERED: rejected by PagerDuty (HTTP 400)");
  });

  it("hands the messages back without retrying when PagerDuty answers 404 (a wrong PAGERDUTY_EVENTS_URL)", async () => {
    h.stub.script({ kind: "status", status: 404, body: "no such path" });

    const { response } = await notifyBatch([sqsRecord(makeFinding(), "m1")], 60_000, deps());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
    expect(alertEvents()).toHaveLength(1);
    expect(h.log.text()).toContain("check PAGERDUTY_EVENTS_URL");
  });

  it("reports an invalid body as a failure, naming the message and what was wrong, and goes on with the rest", async () => {
    const good = sqsRecord(makeFinding(), "good");
    const { severity: _omitted, ...withoutSeverity } = makeFinding();

    const { response } = await notifyBatch(
      [sqsRecord("not json {", "broken"), sqsRecord(withoutSeverity, "no-severity"), good],
      60_000,
      deps(),
    );

    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: "broken" },
      { itemIdentifier: "no-severity" },
    ]);
    const invalid = h.log
      .lines()
      .filter((line) => String(line.message).startsWith("Invalid message on the findings queue"));
    expect(invalid.map((line) => [line.messageId, line.problem])).toEqual([
      ["broken", "message body is not JSON"],
      ["no-severity", expect.stringContaining("severity")],
    ]);
    expect(alertEvents()).toHaveLength(1);
  });

  it("fails a finding whose details nest 12,000 levels deep alone, and pages the rest of its group", async () => {
    // Arrange: the poison (about 25 KB) shares its group with an unrelated critical finding.
    const poison = JSON.stringify(
      makeFinding({ severity: "critical", lastSeen: "2026-11-27T10:05:00Z", details: { nested: "DEEP" } }),
    ).replace('"DEEP"', `${"[".repeat(12_000)}${"]".repeat(12_000)}`);
    const critical = makeFinding({ severity: "critical", summary: "a real intrusion" });

    // Act
    const { response } = await notifyBatch(
      [sqsRecord(critical, "critical"), sqsRecord(poison, "poison")],
      60_000,
      deps(),
    );

    // Assert
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "poison" }]);
    expect(alertEvents()).toHaveLength(1);
    expect(alertEvents()[0]?.body).toMatchObject({
      event_action: "trigger",
      payload: { custom_details: { summary: "a real intrusion" } },
    });
    const rejected = h.log.lines().find((line) => line.messageId === "poison");
    expect(rejected?.problem).toContain("nest");
  });

  it("fails a message that cannot be rendered alone, and delivers the rest of its group", async () => {
    // Arrange: a lone surrogate in an event id (valid JSON, not a valid URI component).
    const malformed = makeFinding({ lastSeen: "2026-11-27T10:05:00Z", eventIds: ["\ud800"] });
    const good = makeFinding({ summary: "the real one" });

    // Act
    const { response } = await notifyBatch(
      [sqsRecord(good, "good"), sqsRecord(malformed, "malformed")],
      60_000,
      deps(),
    );

    // Assert
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "malformed" }]);
    expect(alertEvents()).toHaveLength(1);
    expect(alertEvents()[0]?.body).toMatchObject({
      payload: { custom_details: { summary: "the real one" } },
    });
    expect(published()).toHaveLength(1);
  });

  it("hands each group to every channel that takes it, in order, each seeing what the earlier ones did", async () => {
    // Arrange: the registered channels plus a third one, the way a new channel plugs in.
    const seen: { groupKey: string; state: string; earlier: string[] }[] = [];
    const recording: NotificationChannel = {
      name: "recording",
      takes: (group) => group.severity === "critical",
      deliver: async (group, context) => {
        seen.push({
          groupKey: group.groupKey,
          state: group.state,
          earlier: context.earlier.map((entry) => `${entry.channel}: ${entry.outcome.note}`),
        });
        return { delivered: true, note: "recorded" };
      },
      resolve: async (group) => {
        seen.push({ groupKey: group.groupKey, state: group.state, earlier: [] });
        return { delivered: true };
      },
      render: () => undefined,
    };
    const base = deps();
    const channels = [...createChannels(base), recording];

    // Act
    const { response } = await notifyBatch(
      [
        sqsRecord(makeFinding({ groupKey: "loud", severity: "critical" })),
        sqsRecord(makeFinding({ groupKey: "quiet", severity: "medium" })),
      ],
      60_000,
      { ...base, channels },
    );

    // Assert
    expect(response.batchItemFailures).toEqual([]);
    expect(seen).toEqual([
      {
        groupKey: "loud",
        state: "firing",
        earlier: [
          `pagerduty: alert triggered on the paging service (dedup key ${dedupKeyFor("loud")})`,
          "sns: published",
        ],
      },
    ]);
    expect(alertEvents()).toHaveLength(1);
    expect(published()).toHaveLength(2);
  });

  it("sends medium and low to SNS only, or to the low-urgency service when one is configured", async () => {
    const medium = makeFinding({ severity: "medium", groupKey: "m" });
    await notifyBatch([sqsRecord(medium)], 60_000, deps());
    expect(alertEvents()).toHaveLength(0);
    expect(published()[0]?.MessageAttributes?.severity?.StringValue).toBe("medium");

    h.env.PAGERDUTY_LOW_URGENCY_ROUTING_KEY_SECRET_ID = "vigil/test/pagerduty-low";
    await notifyBatch([sqsRecord(medium)], 60_000, deps());
    expect(alertEvents()).toHaveLength(1);
    expect(alertEvents()[0]?.body).toMatchObject({ routing_key: LOW_KEY, payload: { severity: "warning" } });
  });

  it("sends info to SNS only", async () => {
    await notifyBatch([sqsRecord(makeFinding({ severity: "info" }))], 60_000, deps());

    expect(h.stub.requests).toHaveLength(0);
    expect(published()).toHaveLength(1);
  });

  it("resolves the incident when a resolved finding of the group arrives", async () => {
    const firing = makeFinding({ severity: "critical", lastSeen: "2026-11-27T10:00:00Z" });
    const resolved = makeFinding({
      severity: "critical",
      status: "resolved",
      lastSeen: "2026-11-27T10:30:00Z",
    });

    await notifyBatch([sqsRecord(firing)], 60_000, deps());
    await notifyBatch([sqsRecord(resolved)], 60_000, deps());

    expect(alertEvents().map((request) => request.body.event_action)).toEqual(["trigger", "resolve"]);
    expect(h.stub.incidents).toEqual([
      { dedupKey: dedupKeyFor(firing.groupKey), status: "resolved", eventCount: 1 },
    ]);
    expect(published()[1]?.Subject).toMatch(/^\[RESOLVED\] /);
  });

  it("turns secret.rotated into a change event, an SNS message and a resolve of the rotation group", async () => {
    const failure = makeFinding({
      rule: "rotation-failed",
      severity: "high",
      groupKey: rotationGroupKey(SECRET_ARN),
    });
    await notifyBatch([sqsRecord(failure)], 60_000, deps());

    const { response } = await notifyBatch([sqsRecord(makeRotation())], 60_000, deps());

    expect(response.batchItemFailures).toEqual([]);
    expect(changeEvents()).toHaveLength(1);
    expect(changeEvents()[0]?.body).toMatchObject({
      routing_key: PRIMARY_KEY,
      payload: { source: SECRET_ARN },
    });
    expect(changeEvents()[0]?.body).not.toHaveProperty("event_action");
    expect(h.stub.incidents).toEqual([
      { dedupKey: dedupKeyFor(rotationGroupKey(SECRET_ARN)), status: "resolved", eventCount: 1 },
    ]);
    expect(published().at(-1)).toMatchObject({
      Subject: "[ROTATED] algo-trade/prod/ibkr",
      MessageAttributes: { rule: { DataType: "String", StringValue: "secret.rotated" } },
    });
  });

  it("records one change event and one SNS message for a rotation redelivered after SNS failed", async () => {
    h.sns.on(PublishCommand).rejectsOnce(new Error("Throttling")).resolves({ MessageId: "sns-2" });
    const warm = deps();

    const first = await notifyBatch([sqsRecord(makeRotation(), "r1")], 60_000, warm);
    const second = await notifyBatch([sqsRecord(makeRotation(), "r1")], 60_000, warm);
    const third = await notifyBatch([sqsRecord(makeRotation(), "r1")], 60_000, warm);

    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: "r1" }]);
    expect(second.response.batchItemFailures).toEqual([]);
    expect(third.response.batchItemFailures).toEqual([]);
    expect(changeEvents()).toHaveLength(1);
    expect(h.sns.commandCalls(PublishCommand)).toHaveLength(2);
  });

  it("hands the group back to SQS when SNS fails, and the redelivery pages no second time", async () => {
    h.sns.on(PublishCommand).rejectsOnce(new Error("Throttling")).resolves({ MessageId: "sns-2" });
    const finding = makeFinding({ severity: "critical" });

    const first = await notifyBatch([sqsRecord(finding, "m1")], 60_000, deps());
    const second = await notifyBatch([sqsRecord(finding, "m1")], 60_000, deps());

    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
    expect(second.response.batchItemFailures).toEqual([]);
    expect(h.stub.incidents).toHaveLength(1);
  });

  it("hands the messages back when the routing key cannot be read", async () => {
    h.secretsManager.on(GetSecretValueCommand).rejects(new Error("AccessDeniedException"));

    const { response } = await notifyBatch([sqsRecord(makeFinding(), "m1")], 60_000, deps());

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
    expect(h.stub.requests).toHaveLength(0);
  });

  it("lets no secret value out: not to PagerDuty, not to SNS, not to the log", async () => {
    registerSecret("db-Pa55word-that-leaked");
    const finding = makeFinding({
      severity: "critical",
      title: "Leaked db-Pa55word-that-leaked",
      summary: "body had db-Pa55word-that-leaked",
      details: {
        requestParameters: { secretString: '{"password":"another-Secret-1"}' },
        apiKey: "k-123456789",
      },
    });
    h.stub.script({ kind: "status", status: 400, body: `{"message":"bad key ${PRIMARY_KEY}"}` });

    await notifyBatch([sqsRecord(finding)], 60_000, deps());

    const outputs = [
      ...h.stub.requests.map((request) => JSON.stringify({ ...request.body, routing_key: undefined })),
      ...published().map((input) => JSON.stringify(input)),
      h.log.text(),
    ].join("\n");
    for (const secret of ["db-Pa55word-that-leaked", "another-Secret-1", "k-123456789", PRIMARY_KEY]) {
      expect(outputs).not.toContain(secret);
    }
  });
});
