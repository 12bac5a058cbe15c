import { describe, expect, it } from "vitest";
import type { AlertStateStore } from "../../functions/notify/alert-state.ts";
import { notifyBatch } from "../../functions/notify/notify.ts";
import { rotationGroupKey } from "../../lib/finding.ts";
import {
  makeFinding,
  makeRotation,
  SECRET_ARN,
  sqsRecord,
  useNotifierHarness,
} from "../helpers/notify-fixtures.ts";

// notifyBatch against the alert groups' stored state: order across batches and containers, resolves of
// groups that are not firing, leases, and a state table that cannot be reached.
describe("notifyBatch with the alert state", () => {
  const h = useNotifierHarness();
  const { deps, alertEvents, published } = h;

  it("pages a recurrence after a resolve, whichever container handles it", async () => {
    // Arrange: container A pages, container B resolves, and A receives the recurrence.
    const containerA = deps();
    const containerB = deps();
    const occurrence = (lastSeen: string, status?: "resolved") =>
      sqsRecord(
        makeFinding({ groupKey: "recurring", severity: "critical", lastSeen, ...(status && { status }) }),
      );

    // Act
    await notifyBatch([occurrence("2026-11-27T10:00:00Z")], 60_000, containerA);
    await notifyBatch([occurrence("2026-11-27T10:05:00Z", "resolved")], 60_000, containerB);
    const recurrence = await notifyBatch([occurrence("2026-11-27T10:10:00Z")], 60_000, containerA);

    // Assert
    expect(recurrence.response.batchItemFailures).toEqual([]);
    expect(alertEvents().map((request) => request.body.event_action)).toEqual([
      "trigger",
      "resolve",
      "trigger",
    ]);
    expect(h.stub.incidents.map((incident) => incident.status)).toEqual(["resolved", "triggered"]);
    expect(published().map((input) => input.Subject?.slice(0, 10))).toEqual([
      "[CRITICAL]",
      "[RESOLVED]",
      "[CRITICAL]",
    ]);
  });

  it("never lets a redelivered older failure reopen the problem a later rotation resolved", async () => {
    // Arrange: a rotation failure at 11:00, the successful rotation at 11:05, the failure again after it.
    const failure = makeFinding({
      rule: "rotation.failed",
      severity: "high",
      groupKey: rotationGroupKey(SECRET_ARN),
      lastSeen: "2026-11-27T11:00:00Z",
    });
    const rotation = makeRotation({ at: "2026-11-27T11:05:00Z" });

    // Act: three batches, as three invocations of different containers would see them.
    await notifyBatch([sqsRecord(failure)], 60_000, deps());
    await notifyBatch([sqsRecord(rotation)], 60_000, deps());
    const redelivered = await notifyBatch([sqsRecord(failure)], 60_000, deps());

    // Assert
    expect(redelivered.response.batchItemFailures).toEqual([]);
    expect(alertEvents().map((request) => request.body.event_action)).toEqual(["trigger", "resolve"]);
    expect(h.stub.incidents.map((incident) => incident.status)).toEqual(["resolved"]);
    expect(
      h.log
        .lines()
        .some((line) => line.message === "Messages older than the group's last state: nothing sent"),
    ).toBe(true);
  });

  it("never lets an older resolve hide a newer failure", async () => {
    const group = "hidden";
    const firing = makeFinding({ groupKey: group, severity: "critical", lastSeen: "2026-11-27T10:10:00Z" });
    const olderResolve = makeFinding({
      groupKey: group,
      severity: "critical",
      status: "resolved",
      lastSeen: "2026-11-27T10:05:00Z",
    });

    await notifyBatch([sqsRecord(firing)], 60_000, deps());
    await notifyBatch([sqsRecord(olderResolve)], 60_000, deps());

    expect(alertEvents().map((request) => request.body.event_action)).toEqual(["trigger"]);
    expect(h.stub.incidents.map((incident) => incident.status)).toEqual(["triggered"]);
  });

  it("drops a resolve for a group that is not firing: nothing reaches PagerDuty or SNS", async () => {
    // Arrange: a forged resolve for a group never seen, and a second resolve for one already resolved.
    const forged = makeFinding({ groupKey: "never-seen", status: "resolved", severity: "critical" });
    await notifyBatch(
      [sqsRecord(makeFinding({ groupKey: "closed", lastSeen: "2026-11-27T10:00:00Z" }))],
      60_000,
      deps(),
    );
    const close = (lastSeen: string) =>
      sqsRecord(makeFinding({ groupKey: "closed", status: "resolved", lastSeen }));
    await notifyBatch([close("2026-11-27T10:05:00Z")], 60_000, deps());
    const before = { pagerDuty: h.stub.requests.length, sns: published().length };

    // Act
    const { response } = await notifyBatch(
      [sqsRecord(forged, "forged"), close("2026-11-27T10:06:00Z")],
      60_000,
      deps(),
    );

    // Assert
    expect(response.batchItemFailures).toEqual([]);
    expect(h.stub.requests.length - before.pagerDuty).toBe(0);
    expect(published().length - before.sns).toBe(0);
    const dropped = h.log
      .lines()
      .filter((line) => line.message === "Resolve for a group that is not firing: dropped, nothing sent");
    expect(dropped.map((line) => line.groupKey)).toEqual(["never-seen", "closed"]);
  });

  it("hands a group back to SQS while another invocation is delivering it, and sends nothing", async () => {
    // Arrange: another invocation holds the group's lease for another minute.
    const now = Date.parse("2026-11-27T12:00:00Z");
    await h.alertState.write(
      "leased",
      {
        status: "firing",
        at: Date.parse("2026-11-27T09:00:00Z"),
        severity: "high",
        version: 1,
        leaseOwner: "other",
        leaseUntil: now + 60_000,
        sent: {},
      },
      undefined,
    );

    // Act
    const { response } = await notifyBatch(
      [sqsRecord(makeFinding({ groupKey: "leased", severity: "critical" }), "m1")],
      60_000,
      deps(),
    );

    // Assert
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
    expect(h.stub.requests).toHaveLength(0);
    expect(published()).toHaveLength(0);
  });

  it("hands the messages back when the state table cannot be read", async () => {
    const unavailable: AlertStateStore = {
      read: async () => {
        throw new Error("ProvisionedThroughputExceededException");
      },
      write: async () => true,
    };

    const { response } = await notifyBatch([sqsRecord(makeFinding(), "m1")], 60_000, {
      ...deps(),
      alertState: unavailable,
    });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "m1" }]);
    expect(h.stub.requests).toHaveLength(0);
    expect(h.log.text()).toContain("Alert state unavailable; the messages go back to SQS");
  });
});
