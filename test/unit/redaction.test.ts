import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../lib/logger.ts";
import {
  clearRegisteredSecrets,
  REDACTED,
  redact,
  registerSecret,
  registerSecretFields,
} from "../../lib/redaction.ts";

const SECRET = 'p@ss"w0rd\\with`odd:chars';

/** Captures everything the logger writes, whichever stream it picks. */
function captureOutput(): { text: () => string; restore: () => void } {
  const chunks: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      return true;
    }),
  );
  return {
    text: () => chunks.join(""),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

describe("redact", () => {
  beforeEach(() => registerSecret(SECRET));
  afterEach(() => clearRegisteredSecrets());

  it("removes a registered value from strings nested in objects and arrays", () => {
    const result = redact({ a: [`x ${SECRET} y`, { deep: { deeper: SECRET } }] });
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(result.a[0]).toBe(`x ${REDACTED} y`);
  });

  it("removes the JSON-escaped form from embedded JSON text", () => {
    const embedded = JSON.stringify({ note: SECRET });
    expect(redact(embedded)).not.toContain(JSON.stringify(SECRET).slice(1, -1));
  });

  it("blanks secret-bearing keys whatever their value", () => {
    expect(
      redact({ password: "unregistered-1", SecretString: "{}", routing_key: "abc", secretId: "prod/db" }),
    ).toEqual({
      password: REDACTED,
      SecretString: REDACTED,
      routing_key: REDACTED,
      secretId: "prod/db",
    });
  });

  it("redacts error messages, stacks and causes", () => {
    const error = new Error(`login failed for ${SECRET}`, { cause: new Error(`inner ${SECRET}`) });
    expect(JSON.stringify(redact({ error }))).not.toContain("odd:chars");
  });

  it("registers the secret fields of a parsed secret", () => {
    clearRegisteredSecrets();
    registerSecretFields({
      username: "app",
      password: "Fresh-Password-42",
      nested: { api_key: "KEY-123456" },
    });
    expect(redact("Fresh-Password-42 and KEY-123456")).toBe(`${REDACTED} and ${REDACTED}`);
  });

  it("ignores values too short to be secrets", () => {
    registerSecret("ab");
    expect(redact("abc")).toBe("abc");
  });
});

describe("createLogger", () => {
  let output: ReturnType<typeof captureOutput>;
  beforeEach(() => {
    registerSecret(SECRET);
    output = captureOutput();
  });
  afterEach(() => {
    output.restore();
    clearRegisteredSecrets();
  });

  it("never writes a registered secret, in messages, nested attributes, persistent keys or errors", () => {
    const logger = createLogger("redaction-test");
    logger.appendKeys({ context: { note: `persistent ${SECRET}` } });
    logger.info(`message with ${SECRET}`);
    logger.info("nested", { level1: { level2: [{ value: SECRET }] } });
    logger.warn("escaped", { json: JSON.stringify({ password: SECRET, other: SECRET }) });
    logger.error(
      "failure",
      new Error(`connection string postgres://u:${SECRET}@db`, { cause: new Error(SECRET) }),
    );
    logger.error("as attribute", { error: new Error(SECRET) });

    const text = output.text();
    expect(text).toContain("redaction-test");
    expect(text.split("\n").filter(Boolean)).toHaveLength(5);
    for (const form of [SECRET, JSON.stringify(SECRET).slice(1, -1), "odd:chars", "w0rd"]) {
      expect(text).not.toContain(form);
    }
    expect(text).toContain(REDACTED);
  });
});
