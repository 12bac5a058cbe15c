import { describe, expect, it } from "vitest";
import { InvestigationInputError } from "../../functions/audit-scan/sources/errors.ts";
import { accessReport, parseSince } from "../../functions/audit-scan/sources/who.ts";
import { assumedRole, iamUser, record, secretArn } from "./scenarios/records.ts";

const NOW = new Date("2026-12-01T12:00:00Z");
const window = { sinceMs: NOW.getTime() - 86_400_000, untilMs: NOW.getTime() };
const read = (identity: Record<string, unknown>, time: string, extra: Record<string, unknown> = {}) =>
  record({ identity, name: "GetSecretValue", time, request: { secretId: "algo-trade/prod/app" }, ...extra });

describe("accessReport", () => {
  it("groups reads by principal, call, outcome and origin, with counts and first and last time", async () => {
    const records = [
      read(assumedRole("trading-app", "task-1"), "2026-12-01T09:00:00Z"),
      read(assumedRole("trading-app", "task-2"), "2026-12-01T10:00:00Z"),
      read(iamUser("build-bot"), "2026-12-01T11:00:00Z", {
        errorCode: "AccessDenied",
        sourceIp: "192.0.2.44",
      }),
      record({
        identity: iamUser("build-bot"),
        name: "PutSecretValue",
        time: "2026-12-01T11:05:00Z",
        request: { secretId: secretArn("algo-trade/prod/app") },
      }),
    ];

    const report = await accessReport(records, { secretId: "algo-trade/prod/app", ...window });

    expect(
      report.rows.map((row) => [row.eventName, row.outcome, row.count, row.firstSeen, row.lastSeen]),
    ).toEqual([
      ["PutSecretValue", "ok", 1, "2026-12-01T11:05:00.000Z", "2026-12-01T11:05:00.000Z"],
      ["GetSecretValue", "ok", 2, "2026-12-01T09:00:00.000Z", "2026-12-01T10:00:00.000Z"],
      ["GetSecretValue", "AccessDenied", 1, "2026-12-01T11:00:00.000Z", "2026-12-01T11:00:00.000Z"],
    ]);
    expect(report.rows[1]?.sessions).toEqual(["task-1", "task-2"]);
  });

  it("counts a record delivered twice once and leaves out other secrets and times", async () => {
    const twice = read(assumedRole("trading-app", "t"), "2026-12-01T09:00:00Z");
    const records = [
      twice,
      twice,
      record({
        identity: iamUser("x"),
        name: "GetSecretValue",
        time: "2026-12-01T09:00:00Z",
        request: { secretId: "other" },
      }),
      read(assumedRole("trading-app", "t"), "2026-11-20T09:00:00Z", { seq: 2 }),
    ];

    const report = await accessReport(records, { secretId: secretArn("algo-trade/prod/app"), ...window });

    expect(report.events).toBe(1);
    expect(report.records).toBe(4);
  });
});

describe("parseSince", () => {
  it("reads durations in minutes, hours and days, and dates", () => {
    expect(parseSince("30m", NOW)).toBe(NOW.getTime() - 1_800_000);
    expect(parseSince("7d", NOW)).toBe(NOW.getTime() - 7 * 86_400_000);
    expect(parseSince("2026-11-01", NOW)).toBe(Date.parse("2026-11-01"));
  });

  it("names the option and the accepted forms", () => {
    expect(() => parseSince("last week", NOW)).toThrow(
      new InvestigationInputError(
        '--since: expected a duration such as 7d, 12h or 30m, or a date such as 2026-11-01, got "last week"',
      ),
    );
  });
});
