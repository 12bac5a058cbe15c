import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RoutingKeyError } from "../../functions/notify/errors.ts";
import { createRoutingKeySource, parseRoutingKey } from "../../functions/notify/routing-key.ts";
import { clearRegisteredSecrets, REDACTED, redactText } from "../../lib/redaction.ts";

const KEY = "R0UT1NGKEY0123456789abcdefabcdef";
const secretsManager = mockClient(SecretsManagerClient);

describe("parseRoutingKey", () => {
  it("accepts the key as plain text", () => {
    expect(parseRoutingKey("pd", `  ${KEY}\n`)).toBe(KEY);
  });

  it('accepts JSON {"routing_key": ...}', () => {
    expect(parseRoutingKey("pd", JSON.stringify({ routing_key: KEY, note: "primary" }))).toBe(KEY);
  });

  it("names the secret and the problem, never the value", () => {
    expect(() => parseRoutingKey("vigil/dev/pagerduty", '{"integration_key": "abc"}')).toThrow(
      new RoutingKeyError("vigil/dev/pagerduty", 'JSON has no non-empty string "routing_key"'),
    );
    expect(() => parseRoutingKey("pd", "{not json")).toThrow("looks like JSON but does not parse");
    expect(() => parseRoutingKey("pd", "")).toThrow("has no SecretString");
  });
});

describe("createRoutingKeySource", () => {
  let now: number;
  const source = () =>
    createRoutingKeySource(new SecretsManagerClient({ region: "us-east-1" }), {
      secretId: "vigil/dev/pagerduty",
      cacheMs: 300_000,
      now: () => now,
    });

  beforeEach(() => {
    secretsManager.reset();
    clearRegisteredSecrets();
    now = 0;
  });
  afterEach(() => clearRegisteredSecrets());

  it("reads the secret once and serves the cached key until it expires", async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: KEY });
    const keys = source();

    const first = await Promise.all([keys.get(), keys.get(), keys.get()]);
    now = 299_999;
    await keys.get();
    now = 300_000;
    await keys.get();

    expect(first).toEqual([KEY, KEY, KEY]);
    expect(secretsManager).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
    expect(secretsManager).toHaveReceivedCommandWith(GetSecretValueCommand, {
      SecretId: "vigil/dev/pagerduty",
    });
  });

  it("registers the key with redaction so no output can carry it", async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ routing_key: KEY }) });

    await source().get();

    expect(redactText(`posting with ${KEY}`)).toBe(`posting with ${REDACTED}`);
  });

  it("keeps using the last good key when a refresh fails", async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: KEY })
      .rejects(new ResourceNotFoundException({ message: "gone", $metadata: {} }));
    const onStaleKey = vi.fn();
    const keys = createRoutingKeySource(new SecretsManagerClient({ region: "us-east-1" }), {
      secretId: "pd",
      cacheMs: 1_000,
      now: () => now,
      onStaleKey,
    });

    await keys.get();
    now = 5_000;

    expect(await keys.get()).toBe(KEY);
    expect(onStaleKey).toHaveBeenCalledOnce();
  });

  it("fails with RoutingKeyError when there is no key yet", async () => {
    secretsManager.on(GetSecretValueCommand).rejects(new Error("AccessDeniedException"));

    await expect(source().get()).rejects.toBeInstanceOf(RoutingKeyError);
  });
});
