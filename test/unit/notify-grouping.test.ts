import { describe, expect, it } from "vitest";
import { groupQueueItems, type QueueItem, SAMPLE_SIZE } from "../../functions/notify/grouping.ts";
import { rotationGroupKey } from "../../lib/finding.ts";
import { makeFinding, makeRotation, SECRET_ARN } from "../helpers/notify-fixtures.ts";

const item = (message: QueueItem["message"], messageId = `m-${Math.random()}`): QueueItem => ({
  messageId,
  message,
});

describe("groupQueueItems", () => {
  it("puts findings with the same groupKey into one group and keeps every message id", () => {
    // Arrange
    const items = [
      item(makeFinding({ groupKey: "a" }), "m1"),
      item(makeFinding({ groupKey: "b" }), "m2"),
      item(makeFinding({ groupKey: "a" }), "m3"),
    ];

    // Act
    const groups = groupQueueItems(items);

    // Assert
    expect(groups.map((group) => group.groupKey)).toEqual(["a", "b"]);
    expect(groups[0]?.messageIds).toEqual(["m1", "m3"]);
    expect(groups[0]?.findings).toHaveLength(2);
  });

  it("counts a redelivered finding (same id) once", () => {
    const finding = makeFinding({ count: 7 });

    const [group] = groupQueueItems([item(finding, "m1"), item(finding, "m2")]);

    expect(group?.count).toBe(7);
    expect(group?.messageIds).toEqual(["m1", "m2"]);
  });

  it("sums counts and spans first and last seen across the group", () => {
    const [group] = groupQueueItems([
      item(makeFinding({ count: 3, firstSeen: "2026-11-27T10:05:00Z", lastSeen: "2026-11-27T10:06:00Z" })),
      item(
        makeFinding({ count: 4, firstSeen: "2026-11-27T09:00:00Z", lastSeen: "2026-11-27T10:01:00+01:00" }),
      ),
    ]);

    expect(group?.count).toBe(7);
    expect(group?.firstSeen).toBe("2026-11-27T09:00:00Z");
    expect(group?.lastSeen).toBe("2026-11-27T10:06:00Z");
  });

  it("takes the highest severity of the group", () => {
    const [group] = groupQueueItems([
      item(makeFinding({ severity: "medium" })),
      item(makeFinding({ severity: "critical" })),
      item(makeFinding({ severity: "low" })),
    ]);

    expect(group?.severity).toBe("critical");
  });

  it("samples event ids, principals and origins, newest first, and keeps the distinct totals", () => {
    const findings = Array.from({ length: 60 }, (_, index) =>
      makeFinding({
        eventIds: [`event-${index}`],
        principal: `arn:aws:iam::111122223333:role/r${index % 30}`,
        sourceIp: `198.51.100.${index % 5}`,
        lastSeen: new Date(Date.UTC(2026, 10, 27, 10, index)).toISOString(),
        firstSeen: new Date(Date.UTC(2026, 10, 27, 10, index)).toISOString(),
      }),
    );

    const [group] = groupQueueItems(findings.map((finding) => item(finding)));

    expect(group?.eventIds.values).toHaveLength(SAMPLE_SIZE);
    expect(group?.eventIds.values[0]).toBe("event-59");
    expect(group?.eventIds.total).toBe(60);
    expect(group?.principals.total).toBe(30);
    expect(group?.origins).toEqual({ values: expect.any(Array), total: 5 });
  });

  it("is firing when the latest finding fires, and resolved when the latest finding is resolved", () => {
    const firing = makeFinding({ lastSeen: "2026-11-27T10:00:00Z" });
    const resolved = makeFinding({ status: "resolved", lastSeen: "2026-11-27T10:30:00Z" });

    expect(groupQueueItems([item(resolved), item(firing)])[0]?.state).toBe("resolved");
    expect(
      groupQueueItems([item({ ...resolved, lastSeen: "2026-11-27T09:00:00Z" }), item(firing)])[0]?.state,
    ).toBe("firing");
  });

  it("lets a resolve win a tie with a firing finding", () => {
    const at = "2026-11-27T10:00:00Z";

    const [group] = groupQueueItems([
      item(makeFinding({ lastSeen: at, status: "resolved" })),
      item(makeFinding({ lastSeen: at })),
    ]);

    expect(group?.state).toBe("resolved");
  });

  it("groups secret.rotated with the rotation findings of its secret and resolves them", () => {
    const failure = makeFinding({
      rule: "rotation-failed",
      groupKey: rotationGroupKey(SECRET_ARN),
      lastSeen: "2026-11-27T10:00:00Z",
    });
    const rotation = makeRotation({ at: "2026-11-27T11:00:00Z" });

    const groups = groupQueueItems([item(failure, "m1"), item(rotation, "m2")]);

    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({
      groupKey: rotationGroupKey(SECRET_ARN),
      state: "resolved",
      rotations: [rotation],
      messageIds: ["m1", "m2"],
    });
  });

  it("keeps a rotation failure firing when it is newer than the last successful rotation", () => {
    const [group] = groupQueueItems([
      item(makeRotation({ at: "2026-11-27T09:00:00Z" })),
      item(makeFinding({ groupKey: rotationGroupKey(SECRET_ARN), lastSeen: "2026-11-27T10:00:00Z" })),
    ]);

    expect(group?.state).toBe("firing");
    expect(group?.rotations).toHaveLength(1);
  });

  it("gives a group of rotations alone severity info and no finding", () => {
    const [group] = groupQueueItems([item(makeRotation()), item(makeRotation())]);

    expect(group).toMatchObject({ state: "resolved", severity: "info", latest: undefined, count: 0 });
    expect(group?.rotations).toHaveLength(1);
  });
});
