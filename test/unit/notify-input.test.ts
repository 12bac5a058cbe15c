import { describe, expect, it } from "vitest";
import {
  jsonNestingDepth,
  MAX_BODY_BYTES,
  MAX_NESTING_DEPTH,
  readQueueMessage,
} from "../../functions/notify/input.ts";
import { ValidationError } from "../../lib/errors.ts";
import { makeFinding, makeRotation } from "../helpers/notify-fixtures.ts";

/** A finding's body whose details hold `inner` (raw JSON text). */
const bodyWithDetails = (inner: string) =>
  JSON.stringify(makeFinding({ details: { value: "INNER" } })).replace('"INNER"', inner);

describe("jsonNestingDepth", () => {
  it("counts nested arrays and objects", () => {
    expect(jsonNestingDepth('{"a":[{"b":[]}],"c":{}}')).toBe(4);
    expect(jsonNestingDepth("42")).toBe(0);
  });

  it("ignores brackets inside strings, escaped quotes included", () => {
    expect(jsonNestingDepth('{"a":"[[[{{{\\"]]]"}')).toBe(1);
  });
});

describe("readQueueMessage", () => {
  it("parses a finding and a rotation event", () => {
    const finding = makeFinding();
    const rotation = makeRotation();

    expect(readQueueMessage(JSON.stringify(finding))).toEqual(finding);
    expect(readQueueMessage(JSON.stringify(rotation))).toEqual(rotation);
  });

  it("accepts details nested up to the limit", () => {
    const depth = MAX_NESTING_DEPTH - 2; // the finding and its details are two levels
    const body = bodyWithDetails(`${"[".repeat(depth)}${"]".repeat(depth)}`);

    expect(() => readQueueMessage(body)).not.toThrow();
  });

  it("refuses a body nesting deeper than the limit, saying how deep it is", () => {
    const body = bodyWithDetails(`${"[".repeat(12_000)}${"]".repeat(12_000)}`);

    expect(() => readQueueMessage(body)).toThrow(
      new ValidationError(`message body nests 12002 levels deep; at most ${MAX_NESTING_DEPTH} are accepted`),
    );
  });

  it("refuses a body larger than SQS allows", () => {
    const body = bodyWithDetails(JSON.stringify("x".repeat(MAX_BODY_BYTES)));

    expect(() => readQueueMessage(body)).toThrow(/bytes; at most 262144 are accepted/);
  });

  it("names the wrong field of an invalid finding", () => {
    const { severity: _omitted, ...withoutSeverity } = makeFinding();

    expect(() => readQueueMessage(JSON.stringify(withoutSeverity))).toThrow(/severity/);
  });
});
