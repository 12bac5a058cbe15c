import { DescribeSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Finding } from "../../lib/finding.ts";
import { type CapturedOutput, captureOutput } from "../helpers/output.ts";

const ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf";
const TOKEN = "11111111-2222-3333-4444-555555555555";
const FUNCTION_ARN = "arn:aws:lambda:us-east-1:111122223333:function:vigil-prod-rotate";
const QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/111122223333/vigil-prod-findings";
const context = { getRemainingTimeInMillis: () => 60_000, invokedFunctionArn: FUNCTION_ARN };

const sqs = mockClient(SQSClient);
const secretsManager = mockClient(SecretsManagerClient);
let output: CapturedOutput;

/** The handler module as a fresh Lambda container loads it, with `env` on top of the test's environment. */
async function coldStart(env: Record<string, string>) {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  vi.resetModules();
  return (await import("../../functions/rotate/handler.ts")).handler;
}

function publishedFindings(): Finding[] {
  return sqs
    .commandCalls(SendMessageCommand)
    .map((call) => JSON.parse(call.args[0].input.MessageBody!) as Finding);
}

beforeEach(() => {
  sqs.reset();
  secretsManager.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: "m1" });
  output = captureOutput();
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe("handler", () => {
  it("fails every invocation with the bad variable's name and publishes a finding for each", async () => {
    const handler = await coldStart({
      AWS_REGION: "us-east-1",
      PASSWORD_LENGTH: "thirty-two",
      FINDINGS_QUEUE_URL: QUEUE_URL,
    });
    const event = { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" };

    await expect(handler(event, context)).rejects.toThrow(
      'PASSWORD_LENGTH: expected an integer, got "thirty-two"',
    );
    await expect(handler(event, context)).rejects.toThrow("PASSWORD_LENGTH");

    expect(secretsManager).not.toHaveReceivedCommand(DescribeSecretCommand);
    const findings = publishedFindings();
    expect(findings).toHaveLength(2);
    expect(findings[0]).toMatchObject({
      rule: "rotation.failed",
      severity: "high",
      secretArn: ARN,
      groupKey: `rotation:${ARN}`,
      details: { step: "createSecret", versionId: TOKEN, error: "ConfigError" },
    });
    expect(findings[0]!.summary).toContain("PASSWORD_LENGTH");
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, { QueueUrl: QUEUE_URL });
  });

  it("still fails with the variable's name when no findings destination is readable", async () => {
    const handler = await coldStart({ AWS_REGION: "us-east-1", DEADLINE_RESERVE_MS: "-1" });

    await expect(
      handler({ SecretId: ARN, ClientRequestToken: TOKEN, Step: "setSecret" }, context),
    ).rejects.toThrow("DEADLINE_RESERVE_MS");
    expect(sqs).not.toHaveReceivedCommand(SendMessageCommand);
    expect(output.text()).toContain("invalid rotate function configuration");
  });

  it("publishes a finding grouped under the function for an event that names no secret", async () => {
    const handler = await coldStart({ AWS_REGION: "us-east-1", FINDINGS_QUEUE_URL: QUEUE_URL });

    await expect(handler({ Step: "rotate" }, context)).rejects.toThrow(/Invalid rotation event/);

    expect(publishedFindings()).toEqual([
      expect.objectContaining({
        rule: "rotation.failed",
        severity: "high",
        title: "The rotation function vigil-prod-rotate failed before rotating",
        region: "us-east-1",
        account: "111122223333",
        groupKey: `rotation-function:${FUNCTION_ARN}`,
        details: { step: "startup", versionId: "unknown", error: "InvalidRotationEventError" },
      }),
    ]);
    expect(publishedFindings()[0]!.summary).toMatch(/SecretId must be a non-empty string/);
  });
});
