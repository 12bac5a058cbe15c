import { join } from "node:path";
import {
  ListSecretsCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { describeFailure, describeStack } from "../../cli/command.ts";
import { ConfigError } from "../../lib/errors.ts";
import { clearRegisteredSecrets, registerSecret } from "../../lib/redaction.ts";

const SECRET = "Hunter2-Very-Secret-Value";

/** What a real SDK client rejects with under the environment the test has stubbed. */
async function sdkFailure(
  config: ConstructorParameters<typeof SecretsManagerClient>[0] = {},
): Promise<unknown> {
  const client = new SecretsManagerClient({ maxAttempts: 1, ...config });
  return client.send(new ListSecretsCommand({})).then(
    () => expect.unreachable("the call should fail"),
    (error: unknown) => error,
  );
}

beforeEach(() => {
  // No configuration anywhere: as on a fresh machine, whatever the developer's own ~/.aws holds.
  const nowhere = join("/nonexistent", "vigil-test");
  for (const name of [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
  ])
    vi.stubEnv(name, undefined);
  vi.stubEnv("AWS_CONFIG_FILE", join(nowhere, "config"));
  vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(nowhere, "credentials"));
  vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
});

afterEach(() => {
  vi.unstubAllEnvs();
  clearRegisteredSecrets();
});

describe("describeFailure", () => {
  it("tells how to set a region when the SDK has none", async () => {
    // Arrange
    const error = await sdkFailure();

    // Act
    const failure = describeFailure(error);

    // Assert
    expect(failure).toEqual({
      line: expect.stringMatching(/^no AWS region configured: set AWS_REGION/),
      bug: false,
    });
  });

  it("names the region that is not one", async () => {
    // Arrange
    vi.stubEnv("AWS_REGION", "not a region");
    const error = await sdkFailure();

    // Act
    const failure = describeFailure(error);

    // Assert
    expect(failure.bug).toBe(false);
    expect(failure.line).toMatch(/^AWS_REGION is not a region: .*"not a region"/);
  });

  it("tells how to provide credentials when the SDK finds none", async () => {
    // Arrange
    vi.stubEnv("AWS_REGION", "us-east-1");
    const error = await sdkFailure();

    // Act
    const failure = describeFailure(error);

    // Assert
    expect(failure.bug).toBe(false);
    expect(failure.line).toMatch(/^no usable AWS credentials \(.*\): set AWS_PROFILE/);
  });

  it("says the endpoint cannot be reached", async () => {
    // Arrange
    const error = await sdkFailure({
      region: "us-east-1",
      endpoint: "http://127.0.0.1:1",
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "example" },
    });

    // Act
    const failure = describeFailure(error);

    // Assert
    expect(failure.bug).toBe(false);
    expect(failure.line).toMatch(/^cannot reach AWS \(.*ECONNREFUSED.*\): check the network/);
  });

  it("reports a refusal by AWS with its error name", () => {
    // Arrange
    const error = new ResourceNotFoundException({ message: "Secrets Manager can't find it", $metadata: {} });

    // Act
    const failure = describeFailure(error);

    // Assert
    expect(failure).toEqual({
      line: "AWS refused the request: ResourceNotFoundException: Secrets Manager can't find it",
      bug: false,
    });
  });

  it("shows Vigil's own errors as they are", () => {
    // Arrange
    const error = new ConfigError("FINDINGS_QUEUE_URL", "expected a URL");

    // Act
    const failure = describeFailure(error);

    // Assert
    expect(failure).toEqual({ line: "FINDINGS_QUEUE_URL: expected a URL", bug: false });
  });

  it("calls anything else a bug, in one redacted line without the stack", () => {
    // Arrange
    registerSecret(SECRET);
    const error = new TypeError(`cannot read "${SECRET}"\nsecond line`);

    // Act
    const failure = describeFailure(error);

    // Assert
    expect(failure.bug).toBe(true);
    expect(failure.line).toBe('unexpected error (a bug in vigil): TypeError: cannot read "[REDACTED]"');
  });
});

describe("describeStack", () => {
  it("gives the redacted stack of the error and of its cause", () => {
    // Arrange
    registerSecret(SECRET);
    const error = new Error("outer", { cause: new Error(`inner ${SECRET}`) });

    // Act
    const text = describeStack(error);

    // Assert
    expect(text).toMatch(/^Error: outer\n {4}at /);
    expect(text).toContain("caused by: Error: inner [REDACTED]");
    expect(text).not.toContain(SECRET);
  });
});
