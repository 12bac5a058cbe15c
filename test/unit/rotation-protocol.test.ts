import { ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { Deadline } from "../../functions/rotate/deadline.ts";
import {
  DeadlineExceededError,
  InvalidRotationEventError,
  RotationDisabledError,
  TokenMismatchError,
  UnknownStrategyError,
} from "../../functions/rotate/errors.ts";
import {
  parseRotationEvent,
  type RotationDependencies,
  rotateSecretStep,
} from "../../functions/rotate/protocol.ts";
import { loadRotationSettings } from "../../functions/rotate/settings.ts";
import type { FindingsQueueMessage } from "../../lib/finding.ts";
import { createLogger } from "../../lib/logger.ts";
import { versionStages } from "../helpers/version-stages.ts";

const ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf";
const TOKEN = "11111111-2222-3333-4444-555555555555";
const CURRENT = "99999999-2222-3333-4444-555555555555";

const secretsManager = mockClient(SecretsManagerClient);
const ecs = mockClient(ECSClient);
let published: FindingsQueueMessage[];

function dependencies(): RotationDependencies {
  return {
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    ecs: () => new ECSClient({ region: "us-east-1" }),
    logger: createLogger("rotation-protocol-test"),
    settings: loadRotationSettings({}),
    publish: async (message) => {
      published.push(message);
    },
    now: () => new Date("2026-11-27T12:00:00Z"),
  };
}

const plenty = new Deadline(() => 60_000, 5_000);

function describeSecret(overrides: Record<string, unknown> = {}) {
  secretsManager.on(DescribeSecretCommand).resolves({
    ARN,
    Name: "prod/db",
    RotationEnabled: true,
    VersionIdsToStages: { [CURRENT]: ["AWSCURRENT"], [TOKEN]: ["AWSPENDING"] },
    ...overrides,
  });
}

beforeEach(() => {
  secretsManager.reset();
  ecs.reset();
  published = [];
});

describe("parseRotationEvent", () => {
  it("accepts a Secrets Manager rotation event", () => {
    const event = { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" };
    expect(parseRotationEvent(event)).toEqual(event);
  });

  it("names every missing or wrong field", () => {
    expect(() => parseRotationEvent({ Step: "rotate" })).toThrow(
      new InvalidRotationEventError(
        'Invalid rotation event: SecretId must be a non-empty string; ClientRequestToken must be a non-empty string; Step must be one of createSecret, setSecret, testSecret, finishSecret (got "rotate")',
      ),
    );
  });
});

describe("rotateSecretStep", () => {
  it("refuses when rotation is disabled and writes nothing", async () => {
    describeSecret({ RotationEnabled: false });
    const run = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" },
      plenty,
      dependencies(),
    );
    await expect(run).rejects.toThrow(RotationDisabledError);
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      rule: "rotation.failed",
      severity: "high",
      groupKey: `rotation:${ARN}`,
    });
  });

  it("refuses a token that is not a version of the secret", async () => {
    describeSecret();
    const run = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: "unknown", Step: "setSecret" },
      plenty,
      dependencies(),
    );
    await expect(run).rejects.toThrow(TokenMismatchError);
    await expect(run).rejects.toThrow(/has no version unknown/);
  });

  it("refuses a token that is neither AWSPENDING nor AWSCURRENT", async () => {
    describeSecret({ VersionIdsToStages: { [CURRENT]: ["AWSCURRENT"], [TOKEN]: ["AWSPREVIOUS"] } });
    const run = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "testSecret" },
      plenty,
      dependencies(),
    );
    await expect(run).rejects.toThrow(/neither AWSPENDING nor AWSCURRENT \(stages: AWSPREVIOUS\)/);
    expect(secretsManager).not.toHaveReceivedCommand(GetSecretValueCommand);
  });

  it.each(["createSecret", "setSecret", "testSecret", "finishSecret"] as const)(
    "treats %s of a token that is already AWSCURRENT as a successful no-op",
    async (step) => {
      describeSecret({ VersionIdsToStages: { [TOKEN]: ["AWSCURRENT"], [CURRENT]: ["AWSPREVIOUS"] } });
      const result = await rotateSecretStep(
        { SecretId: ARN, ClientRequestToken: TOKEN, Step: step },
        plenty,
        dependencies(),
      );
      expect(result).toMatchObject({ outcome: "already-current", secretArn: ARN, versionId: TOKEN, step });
      expect(secretsManager).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
      expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
      expect(published).toEqual([]);
    },
  );

  it("completes a finishSecret interrupted after AWSCURRENT moved: announces, labels, then removes AWSPENDING", async () => {
    describeSecret({
      Tags: [{ Key: "vigil:rotation", Value: "postgres-single" }],
      VersionIdsToStages: { [TOKEN]: ["AWSCURRENT", "AWSPENDING"], [CURRENT]: ["AWSPREVIOUS"] },
    });
    secretsManager
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ engine: "postgres" }) });
    secretsManager.on(UpdateSecretVersionStageCommand).resolves({});

    const result = await rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "finishSecret" },
      plenty,
      dependencies(),
    );

    expect(result.outcome).toBe("done");
    expect(published).toEqual([
      {
        type: "secret.rotated",
        secretArn: ARN,
        versionId: TOKEN,
        strategy: "postgres-single",
        at: "2026-11-27T12:00:00.000Z",
      },
    ]);
    expect(secretsManager).toHaveReceivedCommandTimes(UpdateSecretVersionStageCommand, 2);
    expect(secretsManager).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: ARN,
      VersionStage: "VIGIL_ANNOUNCED",
      MoveToVersionId: TOKEN,
    });
    expect(secretsManager).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: ARN,
      VersionStage: "AWSPENDING",
      RemoveFromVersionId: TOKEN,
    });
  });

  it("announces and restarts the consumers once when removing AWSPENDING is throttled and finishSecret is retried", async () => {
    let throttled = false;
    const stagesNow = versionStages(
      secretsManager,
      {
        ARN,
        Name: "prod/db",
        RotationEnabled: true,
        Tags: [
          { Key: "vigil:rotation", Value: "postgres-single" },
          { Key: "vigil:ecs-services", Value: "prod/trader" },
        ],
      },
      { [CURRENT]: ["AWSCURRENT"], [TOKEN]: ["AWSPENDING"] },
      (input) => {
        if (input.VersionStage !== "AWSPENDING" || throttled) return undefined;
        throttled = true;
        return Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
      },
    );
    secretsManager
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ engine: "postgres" }) });
    ecs.on(UpdateServiceCommand).resolves({});
    const finish = () =>
      rotateSecretStep(
        { SecretId: ARN, ClientRequestToken: TOKEN, Step: "finishSecret" },
        plenty,
        dependencies(),
      );

    await expect(finish()).rejects.toThrow("Rate exceeded");
    const retried = await finish();

    expect(retried.outcome).toBe("done");
    expect(ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    expect(
      published.filter((message) => "type" in message && message.type === "secret.rotated"),
    ).toHaveLength(1);
    expect(stagesNow()).toEqual({ [CURRENT]: ["AWSPREVIOUS"], [TOKEN]: ["AWSCURRENT", "VIGIL_ANNOUNCED"] });
  });

  it.each(["createSecret", "setSecret", "testSecret"] as const)(
    "leaves an interrupted finish alone in %s",
    async (step) => {
      describeSecret({ VersionIdsToStages: { [TOKEN]: ["AWSCURRENT", "AWSPENDING"] } });
      const result = await rotateSecretStep(
        { SecretId: ARN, ClientRequestToken: TOKEN, Step: step },
        plenty,
        dependencies(),
      );
      expect(result.outcome).toBe("already-current");
      expect(secretsManager).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
    },
  );

  it("names the secret and the accepted values when the tag names no strategy", async () => {
    describeSecret({ Tags: [{ Key: "vigil:rotation", Value: "oracle-single" }] });
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ engine: "oracle" }) });
    const run = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" },
      plenty,
      dependencies(),
    );
    await expect(run).rejects.toThrow(UnknownStrategyError);
    await expect(run).rejects.toThrow(
      `Secret ${ARN}: tag vigil:rotation="oracle-single" is not a known strategy; accepted values: postgres-single, postgres-alternating, mysql-single, mysql-alternating, ibkr`,
    );
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("explains why no strategy can be inferred", async () => {
    describeSecret();
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ engine: "oracle" }) });
    const run = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" },
      plenty,
      dependencies(),
    );
    await expect(run).rejects.toThrow(/cannot infer a rotation strategy because its "engine" is "oracle"/);
  });

  it("reports malformed JSON in the current version without echoing it", async () => {
    describeSecret();
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: "{password: hunter2-secret" });
    const run = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" },
      plenty,
      dependencies(),
    );
    await expect(run).rejects.toThrow(`Secret ${ARN} (AWSCURRENT) is not valid JSON`);
    const error = (await run.then(
      () => undefined,
      (thrown: unknown) => thrown,
    )) as Error;
    expect(
      JSON.stringify({ message: error.message, stack: error.stack, cause: String(error.cause) }),
    ).not.toMatch(/hunter2/);
    expect(JSON.stringify(published)).not.toMatch(/hunter2/);
  });

  it("stops before doing anything when the deadline is too close", async () => {
    describeSecret();
    const nearlyOut = new Deadline(() => 5_500, 5_000);
    const run = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "setSecret" },
      nearlyOut,
      dependencies(),
    );
    await expect(run).rejects.toThrow(DeadlineExceededError);
    expect(secretsManager).not.toHaveReceivedCommand(DescribeSecretCommand);
  });
});
