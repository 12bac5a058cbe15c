import { describe, expect, it } from "vitest";
import {
  type AlertState,
  decideGroup,
  groupMemory,
  MemoryAlertStateStore,
} from "../../functions/notify/alert-state.ts";
import { groupQueueItems } from "../../functions/notify/grouping.ts";
import type { FindingsQueueMessage } from "../../lib/finding.ts";
import { makeFinding, makeRotation } from "../helpers/notify-fixtures.ts";

const NOW = Date.parse("2026-11-27T12:00:00Z");
const lease = { owner: "me", until: NOW + 60_000, now: NOW };
const groupOf = (...messages: FindingsQueueMessage[]) =>
  groupQueueItems(messages.map((message, index) => ({ messageId: `m${index}`, message })))[0]!;
const stored = (overrides: Partial<AlertState> = {}): AlertState => ({
  status: "firing",
  at: Date.parse("2026-11-27T10:00:00Z"),
  severity: "high",
  version: 3,
  sent: {},
  ...overrides,
});

describe("decideGroup", () => {
  it("delivers a firing group never seen, claiming it with a lease", () => {
    const decision = decideGroup(
      groupOf(makeFinding({ lastSeen: "2026-11-27T10:00:00Z" })),
      undefined,
      lease,
    );

    expect(decision).toMatchObject({
      kind: "deliver",
      clears: false,
      claim: { status: "firing", at: Date.parse("2026-11-27T10:00:00Z"), version: 1, leaseOwner: "me" },
    });
  });

  it("calls a group stale when its latest message is older than the stored state", () => {
    const group = groupOf(makeFinding({ lastSeen: "2026-11-27T09:59:00Z" }));

    expect(decideGroup(group, stored(), lease).kind).toBe("stale");
  });

  it("lets a resolve win a tie, and a firing message lose it", () => {
    const at = "2026-11-27T10:00:00Z";
    const firing = groupOf(makeFinding({ lastSeen: at }));
    const resolved = groupOf(makeFinding({ lastSeen: at, status: "resolved" }));

    expect(decideGroup(firing, stored({ status: "resolved" }), lease).kind).toBe("stale");
    expect(decideGroup(resolved, stored(), lease)).toMatchObject({ kind: "deliver", clears: true });
  });

  it("waits while another invocation's lease runs, and not after it ran out", () => {
    const group = groupOf(makeFinding({ lastSeen: "2026-11-27T11:00:00Z" }));

    expect(decideGroup(group, stored({ leaseOwner: "other", leaseUntil: NOW + 1 }), lease).kind).toBe("busy");
    expect(decideGroup(group, stored({ leaseOwner: "other", leaseUntil: NOW }), lease).kind).toBe("deliver");
  });

  it("drops a resolve for a group that is not firing, unless it carries a rotation to announce", () => {
    const resolve = groupOf(makeFinding({ status: "resolved" }));
    const rotation = groupOf(makeRotation({ at: "2026-11-27T11:05:00Z" }));

    expect(decideGroup(resolve, undefined, lease).kind).toBe("unknown-resolve");
    expect(decideGroup(resolve, stored({ status: "resolved", at: 0 }), lease).kind).toBe("unknown-resolve");
    expect(decideGroup(rotation, undefined, lease)).toMatchObject({ kind: "deliver", clears: false });
  });

  it("judges a message dated in the future as if it arrived now", () => {
    const forged = groupOf(makeFinding({ status: "resolved", lastSeen: "2099-01-01T00:00:00Z" }));

    const decision = decideGroup(forged, stored(), lease);

    expect(decision).toMatchObject({ kind: "deliver", claim: { at: NOW } });
  });
});

describe("groupMemory", () => {
  it("holds a notification back for the repeat interval, per channel and key", () => {
    const memory = groupMemory({}, 300_000);

    memory.remember("pagerduty", "k", "high", 1_000);

    expect(memory.isRecent("pagerduty", "k", "high", 300_999)).toBe(true);
    expect(memory.isRecent("pagerduty", "k", "high", 301_000)).toBe(false);
    expect(memory.isRecent("sns", "k", "high", 2_000)).toBe(false);
    expect(memory.isRecent("pagerduty", "other", "high", 2_000)).toBe(false);
  });

  it("lets a higher severity through and holds a lower one back", () => {
    const memory = groupMemory({ "sns\u0000k": { at: 0, severity: "high" } }, 300_000);

    expect(memory.isRecent("sns", "k", "critical", 1)).toBe(false);
    expect(memory.isRecent("sns", "k", "medium", 1)).toBe(true);
  });

  it("forgets a key on every channel", () => {
    const memory = groupMemory({}, 300_000);
    memory.remember("sns", "k", "high", 0);
    memory.remember("pagerduty", "k", "high", 0);
    memory.remember("pagerduty", "rotation", "info", 0);

    memory.forget("k");

    expect(memory.entries(1)).toEqual({ "pagerduty\u0000rotation": { at: 0, severity: "info" } });
  });

  it("stores only what is within the interval, and nothing when the interval is 0", () => {
    const memory = groupMemory({ "sns\u0000old": { at: 0, severity: "high" } }, 300_000);
    memory.remember("sns", "new", "high", 299_000);
    const off = groupMemory({}, 0);
    off.remember("sns", "k", "high", 0);

    expect(Object.keys(memory.entries(300_000))).toEqual(["sns\u0000new"]);
    expect(off.isRecent("sns", "k", "high", 0)).toBe(false);
  });
});

describe("MemoryAlertStateStore", () => {
  it("writes only over the version it was told, and creates only what is absent", async () => {
    const store = new MemoryAlertStateStore();

    expect(await store.write("g", stored({ version: 1 }), undefined)).toBe(true);
    expect(await store.write("g", stored({ version: 2 }), undefined)).toBe(false);
    expect(await store.write("g", stored({ version: 2 }), 7)).toBe(false);
    expect(await store.write("g", stored({ version: 2 }), 1)).toBe(true);
    expect((await store.read("g"))?.version).toBe(2);
  });
});
