import { describe, expect, it } from "vitest";
import { ValidationError } from "../../lib/errors.ts";
import { parseQueueMessage } from "../../lib/finding.ts";

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
