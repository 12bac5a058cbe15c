import { describe, expect, it } from "vitest";
import { createRecentNotifications } from "../../functions/notify/recent.ts";

describe("createRecentNotifications", () => {
  it("holds a notification back for the repeat interval, per channel", () => {
    const recent = createRecentNotifications(300_000);

    recent.remember("pagerduty", "k", "high", 1_000);

    expect(recent.isRecent("pagerduty", "k", "high", 300_999)).toBe(true);
    expect(recent.isRecent("pagerduty", "k", "high", 301_000)).toBe(false);
    expect(recent.isRecent("sns", "k", "high", 2_000)).toBe(false);
    expect(recent.isRecent("pagerduty", "other", "high", 2_000)).toBe(false);
  });

  it("lets a higher severity through and holds a lower one back", () => {
    const recent = createRecentNotifications(300_000);

    recent.remember("sns", "k", "high", 0);

    expect(recent.isRecent("sns", "k", "critical", 1)).toBe(false);
    expect(recent.isRecent("sns", "k", "medium", 1)).toBe(true);
  });

  it("forgets a group on both channels", () => {
    const recent = createRecentNotifications(300_000);
    recent.remember("sns", "k", "high", 0);
    recent.remember("pagerduty", "k", "high", 0);

    recent.forget("k");

    expect(recent.isRecent("sns", "k", "high", 1)).toBe(false);
    expect(recent.isRecent("pagerduty", "k", "high", 1)).toBe(false);
  });

  it("holds nothing back when the interval is 0, and stays bounded", () => {
    const off = createRecentNotifications(0);
    off.remember("sns", "k", "high", 0);
    const small = createRecentNotifications(300_000, 2);
    small.remember("sns", "a", "high", 0);
    small.remember("sns", "b", "high", 0);
    small.remember("sns", "c", "high", 0);

    expect(off.isRecent("sns", "k", "high", 1)).toBe(false);
    expect(small.isRecent("sns", "a", "high", 1)).toBe(false);
    expect(small.isRecent("sns", "c", "high", 1)).toBe(true);
  });
});
