import { describe, expect, it } from "vitest";
import { ScanStateFileError } from "../../functions/audit-scan/errors.ts";
import { MemoryScanState } from "../../functions/audit-scan/state.ts";

describe("MemoryScanState.addDistinct", () => {
  it("counts each member once", async () => {
    const state = new MemoryScanState();

    await state.addDistinct("k", "a", 10);
    await state.addDistinct("k", "a", 10);
    const size = await state.addDistinct("k", "b", 10);

    expect(size).toBe(2);
  });
});

describe("MemoryScanState.recordSeen", () => {
  it("returns undefined for a new key and the earliest time afterwards", async () => {
    const state = new MemoryScanState();

    const first = await state.recordSeen("k", 50);
    const second = await state.recordSeen("k", 20);
    const third = await state.recordSeen("k", 90);

    expect([first, second, third]).toEqual([undefined, 50, 20]);
  });
});

describe("MemoryScanState.firstSeen and countDistinct", () => {
  it("read what was recorded without recording anything", async () => {
    const state = new MemoryScanState();

    const before = [await state.firstSeen("k"), await state.countDistinct("k")];
    await state.recordSeen("k", 50);
    await state.addDistinct("k", "a", 10);
    const after = [await state.firstSeen("k"), await state.countDistinct("k")];

    expect(before).toEqual([undefined, 0]);
    expect(after).toEqual([50, 1]);
    expect(state.toJSON(0).seen).toEqual({ k: 50 });
  });
});

describe("MemoryScanState.claimOnce", () => {
  it("grants an id to the first caller only", async () => {
    const state = new MemoryScanState();

    const results = await Promise.all([
      state.claimOnce("f", 1),
      state.claimOnce("f", 1),
      state.claimOnce("g", 1),
    ]);

    expect(results).toEqual([true, false, true]);
  });
});

describe("MemoryScanState.noteEarliest", () => {
  it("keeps the earliest time", async () => {
    const state = new MemoryScanState();

    await state.noteEarliest(30);
    await state.noteEarliest(10);
    const earliest = await state.noteEarliest(20);

    expect(earliest).toBe(10);
  });
});

describe("MemoryScanState.toJSON", () => {
  it("round-trips through JSON, dropping expired windows and claims", async () => {
    const state = new MemoryScanState();
    await state.addDistinct("live", "a", 2_000);
    await state.addDistinct("dead", "a", 500);
    await state.recordSeen("seen", 7);
    await state.claimOnce("kept", 2_000);
    await state.claimOnce("gone", 500);
    await state.noteEarliest(3);

    const restored = MemoryScanState.fromJSON(JSON.parse(JSON.stringify(state.toJSON(1_000))));

    expect(await restored.addDistinct("live", "b", 2_000)).toBe(2);
    expect(await restored.addDistinct("dead", "b", 2_000)).toBe(1);
    expect(await restored.recordSeen("seen", 9)).toBe(7);
    expect(await restored.claimOnce("kept", 2_000)).toBe(false);
    expect(await restored.claimOnce("gone", 2_000)).toBe(true);
    expect(await restored.noteEarliest(5)).toBe(3);
  });
});

describe("MemoryScanState.fromJSON", () => {
  it("rejects a file that is not a scan state, naming it", () => {
    expect(() => MemoryScanState.fromJSON({ seen: {} }, "s.json")).toThrow(ScanStateFileError);
    expect(() => MemoryScanState.fromJSON({ seen: {} }, "s.json")).toThrow(
      /^s\.json: not a Vigil scan state/,
    );
  });

  it("names the field that has the wrong type", () => {
    const json = { format: "vigil-scan-state/v1", seen: { k: "yesterday" }, distinct: {}, claims: {} };

    expect(() => MemoryScanState.fromJSON(json, "s.json")).toThrow("s.json: seen.k: expected a number");
  });
});

describe("MemoryScanState memory", () => {
  it("drops window sets that expired two days before the newest expiry asked for, and keeps recent ones", async () => {
    const state = new MemoryScanState();
    const day = 86_400_000;
    await state.addDistinct("old", "a", 1 * day);
    await state.addDistinct("recent", "a", 9 * day);

    for (let i = 0; i < 5_000; i++) await state.addDistinct(`new-${i % 3}`, String(i), 10 * day);

    expect(await state.addDistinct("old", "b", 10 * day)).toBe(1);
    expect(await state.addDistinct("recent", "b", 10 * day)).toBe(2);
  });
});
