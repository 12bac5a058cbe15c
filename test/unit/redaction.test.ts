import type { Context } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { describeError } from "../../lib/errors.ts";
import { createLogger } from "../../lib/logger.ts";
import {
  clearRegisteredSecrets,
  MAX_REDACT_DEPTH,
  MAX_REDACT_NODES,
  REDACTED,
  redact,
  registerSecret,
  registerSecretFields,
  TOO_DEEP,
  TOO_LARGE,
} from "../../lib/redaction.ts";
import { captureOutput } from "../helpers/output.ts";

const SECRET = 'p@ss"w0rd\\with`odd:chars';

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

  it("blanks the secret-bearing fields of AWS SDK shapes and HTTP headers", () => {
    const shapes = {
      SecretString: "{}",
      SecretBinary: "c2VjcmV0",
      RandomPassword: "generated-1",
      Plaintext: "a2V5",
      Credentials: { AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: "sak-123456", SessionToken: "st-123456" },
      headers: { Authorization: "AWS4-HMAC", "Proxy-Authorization": "Basic x", "x-api-key": "k-123456" },
      $responseBodyText: '{"SecretString":"unparsed-value"}',
      passphrase: "words words",
    };

    expect(redact(shapes)).toEqual({
      SecretString: REDACTED,
      SecretBinary: REDACTED,
      RandomPassword: REDACTED,
      Plaintext: REDACTED,
      Credentials: { AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: REDACTED, SessionToken: REDACTED },
      headers: { Authorization: REDACTED, "Proxy-Authorization": REDACTED, "x-api-key": REDACTED },
      $responseBodyText: REDACTED,
      passphrase: REDACTED,
    });
  });

  it("removes a registered value used as a key, in objects and Maps", () => {
    const result = redact({ [SECRET]: 1, map: new Map([[SECRET, "x"]]) });

    expect(JSON.stringify(result)).not.toContain("odd:chars");
    expect(result).toEqual({ [REDACTED]: 1, map: { [REDACTED]: "x" } });
  });

  it("redacts Map and Set values, and blanks Map entries under secret-bearing keys", () => {
    const result = redact({
      map: new Map<string, unknown>([
        ["note", SECRET],
        ["password", "unregistered-1"],
      ]),
      set: new Set([SECRET, "plain"]),
    });

    expect(result).toEqual({ map: { note: REDACTED, password: REDACTED }, set: [REDACTED, "plain"] });
  });

  it("redacts what toJSON returns instead of trusting it later, and drops functions", () => {
    class Credential {
      #password = SECRET;
      toJSON() {
        return { user: "app", password: this.#password, note: `pw ${this.#password}` };
      }
    }
    const ownToJSON = { toJSON: () => ({ leaked: SECRET }) };

    const text = JSON.stringify(redact({ credential: new Credential(), ownToJSON }));

    expect(text).not.toContain("odd:chars");
    expect(JSON.parse(text)).toEqual({
      credential: { user: "app", password: REDACTED, note: `pw ${REDACTED}` },
      ownToJSON: { leaked: REDACTED },
    });
  });

  it("replaces binary data whole", () => {
    const result = redact({ buffer: Buffer.from(SECRET), bytes: new TextEncoder().encode(SECRET) });

    expect(result).toEqual({ buffer: REDACTED, bytes: REDACTED });
  });

  it("removes a very long secret, and a secret inside a very long value", () => {
    const long = "L".repeat(10_000) + "-long-secret";
    registerSecret(long);
    const text = `${"x".repeat(1_000_000)}${SECRET}${"y".repeat(1_000_000)} and ${long}`;

    const result = redact(text);

    expect(result).not.toContain("odd:chars");
    expect(result).not.toContain("-long-secret");
    expect(result.endsWith(`y and ${REDACTED}`)).toBe(true);
  });

  it("stops at MAX_REDACT_DEPTH levels instead of overflowing the stack on hostile nesting", () => {
    // Arrange: 12,000 levels (about 25 KB of JSON), what a hostile finding's details once held.
    const nested = JSON.parse(`${'{"a":'.repeat(12_000)}1${"}".repeat(12_000)}`);

    // Act
    const result = redact({ details: nested });

    // Assert
    let level: unknown = result.details;
    let objectsKept = 1; // result itself
    while (typeof level === "object" && level !== null) {
      level = (level as { a: unknown }).a;
      objectsKept += 1;
    }
    expect(level).toBe(TOO_DEEP);
    expect(objectsKept).toBe(MAX_REDACT_DEPTH);
  });

  it("replaces what lies past MAX_REDACT_NODES values with a marker", () => {
    const huge = Array.from({ length: MAX_REDACT_NODES + 10 }, () => SECRET);

    const result = redact({ huge });

    expect(result.huge.length).toBeLessThan(MAX_REDACT_NODES);
    expect(result.huge.at(-1)).toBe(TOO_LARGE);
    expect(result.huge.slice(0, -1).every((value) => value === REDACTED)).toBe(true);
  });

  it("removes the doubly JSON-escaped form (a SecretString inside logged JSON text)", () => {
    const requestBody = JSON.stringify({ SecretString: JSON.stringify({ password: SECRET }) });

    expect(redact({ body: requestBody }).body).not.toContain("odd:chars");
  });

  it("removes an unregistered password from URLs and connection strings", () => {
    expect(redact("connect postgres://app:Unregistered-9@db:5432/orders failed")).toBe(
      `connect postgres://app:${REDACTED}@db:5432/orders failed`,
    );
    expect(redact({ url: new URL("https://svc:Unregistered-9@example.com/x") })).toEqual({
      url: `https://svc:${REDACTED}@example.com/x`,
    });
    // A scheme in capitals too (JDBC-style strings).
    expect(redact("jdbc:PostgreSQL+SSL://App:Unregistered-9@db/orders")).toBe(
      `jdbc:PostgreSQL+SSL://App:${REDACTED}@db/orders`,
    );
  });

  it("follows the whole cause chain, AggregateError members, names and own fields of errors", () => {
    const root = Object.assign(new Error(`root ${SECRET}`), {
      detail: { note: SECRET },
      password: "x-123456",
    });
    const middle = new Error("middle", { cause: root });
    const aggregate = new AggregateError([new Error(`member ${SECRET}`)], "several", { cause: middle });
    aggregate.name = `Named ${SECRET}`;

    const text = JSON.stringify(redact({ error: aggregate }));

    expect(text).not.toContain("odd:chars");
    expect(text).not.toContain("x-123456");
    expect(text).toContain("middle");
    expect(text).toContain("member");
  });

  it("survives cycles through objects, Maps and errors", () => {
    const node: Record<string, unknown> = { note: SECRET };
    const map = new Map<string, unknown>([["self", node]]);
    node.map = map;
    const error = new Error("loop");
    Object.assign(error, { again: error });

    const result = redact({ node, error }) as unknown as {
      node: { note: string; map: { self: unknown } };
      error: { again: unknown };
    };

    expect(result.node.note).toBe(REDACTED);
    expect(result.node.map.self).toBe(result.node);
    expect(result.error.again).toBe(result.error);
  });

  it("is what describeError applies to the messages it returns", () => {
    expect(describeError(new Error(`login failed for ${SECRET}`))).toBe(`login failed for ${REDACTED}`);
    expect(describeError(`thrown ${SECRET}`)).toBe(`thrown ${REDACTED}`);
  });

  it("ignores values too short to be secrets", () => {
    registerSecret("ab");
    expect(redact("abc")).toBe("abc");
  });

  it("registers a value holding a lone surrogate, which has no URL-encoded form", () => {
    const odd = "half-\ud800-secret";

    registerSecret(odd);

    expect(redact(`got ${odd}`)).toBe(`got ${REDACTED}`);
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

  it("never writes a registered secret held in a Map, a Set, a toJSON, a Buffer or a key name", () => {
    const logger = createLogger("redaction-test");
    logger.appendKeys({ [SECRET]: "as a key" });
    logger.info("containers", {
      map: new Map([["value", SECRET]]),
      set: new Set([SECRET]),
      wrapped: { toJSON: () => SECRET },
      buffer: Buffer.from(SECRET),
    });
    logger.error("wrapped error", new Error("outer", { cause: new Error("inner", { cause: SECRET }) }));

    const text = output.text();
    expect(text.split("\n").filter(Boolean)).toHaveLength(2);
    for (const form of [SECRET, JSON.stringify(SECRET).slice(1, -1), "odd:chars", "w0rd"]) {
      expect(text).not.toContain(form);
    }
  });

  it("takes its level from POWERTOOLS_LOG_LEVEL before LOG_LEVEL", () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "ERROR");
    vi.stubEnv("LOG_LEVEL", "DEBUG");
    const logger = createLogger("redaction-test");

    logger.info("not written");
    logger.error("written");
    vi.unstubAllEnvs();

    expect(output.text()).not.toContain("not written");
    expect(output.text()).toContain("written");
  });

  it("keeps Powertools' Lambda context fields", () => {
    const logger = createLogger("redaction-test");
    logger.addContext({
      functionName: "vigil-dev-rotate",
      invokedFunctionArn: "arn:aws:lambda:us-east-1:111122223333:function:vigil-dev-rotate",
      memoryLimitInMB: "256",
      awsRequestId: "request-1",
    } as Context);

    logger.info("with context");

    expect(JSON.parse(output.text())).toMatchObject({
      function_name: "vigil-dev-rotate",
      function_memory_size: "256",
      function_request_id: "request-1",
    });
  });
});
