import { describe, expect, it } from "vitest";
import { ValidationError } from "../../lib/errors.ts";
import { parseFinding, parseQueueMessage } from "../../lib/finding.ts";
import { makeFinding } from "../helpers/notify-fixtures.ts";

const rotated = {
  type: "secret.rotated",
  secretArn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf",
  versionId: "11111111-2222-3333-4444-555555555555",
  strategy: "postgres-single",
  at: "2026-11-27T12:00:00.000Z",
};

describe("parseQueueMessage", () => {
  it("parses a secret.rotated event", () => {
    expect(parseQueueMessage(JSON.stringify(rotated))).toEqual(rotated);
  });

  it("accepts a strategy name it has never heard of, so a new strategy never needs a new notifier", () => {
    const future = { ...rotated, strategy: "oracle-alternating" };

    expect(parseQueueMessage(JSON.stringify(future))).toEqual(future);
  });

  it("refuses a secret.rotated event with an empty strategy, naming the field", () => {
    expect(() => parseQueueMessage(JSON.stringify({ ...rotated, strategy: "" }))).toThrow(ValidationError);
    expect(() => parseQueueMessage(JSON.stringify({ ...rotated, strategy: "" }))).toThrow(
      /invalid secret\.rotated event: strategy:/,
    );
  });
});

describe("parseFinding", () => {
  it("returns the contract's fields, dropping unknown ones and keeping optional ones only when present", () => {
    const finding = makeFinding({ secretArn: undefined, status: "resolved" });
    const parsed = parseFinding({ ...finding, extra: "dropped" });

    expect(parsed).toEqual(finding);
    expect("extra" in parsed).toBe(false);
    expect("secretArn" in parsed).toBe(false);
    expect(parsed.status).toBe("resolved");
  });

  it("keeps the contract's field order, so the JSON of a parsed finding reads the same", () => {
    const finding = makeFinding({ status: "firing" });
    const reordered = Object.fromEntries(Object.entries(finding).reverse());

    expect(Object.keys(parseFinding(reordered))).toEqual([
      "id",
      "rule",
      "severity",
      "title",
      "summary",
      "secretArn",
      "principal",
      "sourceIp",
      "region",
      "account",
      "eventIds",
      "firstSeen",
      "lastSeen",
      "count",
      "groupKey",
      "status",
      "details",
      "runbook",
    ]);
  });

  it("names every wrong field", () => {
    const wrong = {
      ...makeFinding(),
      id: "",
      severity: "urgent",
      eventIds: ["a", 2],
      firstSeen: "2026-02-30T10:00:00Z",
      lastSeen: "2026-11-27T10:00Z",
      count: 1.5,
      status: "open",
      details: [],
      principal: null,
    };

    expect(() => parseFinding(wrong)).toThrow(ValidationError);
    try {
      parseFinding(wrong);
    } catch (error) {
      expect((error as ValidationError).issues.map((issue) => issue.split(":")[0])).toEqual([
        "id",
        "severity",
        "principal",
        "eventIds.1",
        "firstSeen",
        "lastSeen",
        "count",
        "status",
        "details",
      ]);
    }
  });

  it("accepts date-times with fractions and offsets, and refuses a negative count", () => {
    const finding = makeFinding({
      firstSeen: "2024-02-29T23:59:59.123+05:30",
      lastSeen: "2026-11-27T10:00:00Z",
    });

    expect(parseFinding(finding).firstSeen).toBe("2024-02-29T23:59:59.123+05:30");
    expect(() => parseFinding({ ...finding, count: -1 })).toThrow(/count: expected a whole number/);
    expect(() => parseFinding({ ...finding, lastSeen: "2026-11-27 10:00:00Z" })).toThrow(/lastSeen/);
  });

  it("refuses what is not an object", () => {
    expect(() => parseQueueMessage("[]")).toThrow(
      /invalid finding: \(root\): expected object, received array/,
    );
    expect(() => parseQueueMessage("null")).toThrow(/\(root\): expected object, received null/);
  });
});
