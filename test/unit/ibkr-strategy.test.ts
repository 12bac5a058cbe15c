import { ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Deadline } from "../../functions/rotate/deadline.ts";
import { SecretFormatError, TestSecretFailedError } from "../../functions/rotate/errors.ts";
import { type RotationDependencies, rotateSecretStep } from "../../functions/rotate/protocol.ts";
import { loadRotationSettings } from "../../functions/rotate/settings.ts";
import {
  IbkrRotationDueError,
  IbkrStagingInvalidError,
  IbkrStagingUntrustedError,
} from "../../functions/rotate/strategies/ibkr/errors.ts";
import { stagedValue } from "../../functions/rotate/strategies/ibkr/staging.ts";
import { createIbkrStrategy } from "../../functions/rotate/strategies/ibkr/strategy.ts";
import { TwsHandshakeError, type twsHandshake } from "../../functions/rotate/strategies/ibkr/tws.ts";
import type { RotationStep, StepContext } from "../../functions/rotate/strategy.ts";
import type { Finding, FindingsQueueMessage } from "../../lib/finding.ts";
import { createLogger } from "../../lib/logger.ts";
import { type CapturedOutput, captureOutput } from "../helpers/output.ts";
import { versionStages } from "../helpers/version-stages.ts";

const NAME = "algo-trade/prod/ibkr";
const ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}-AbCdEf`;
const STAGING = `${NAME}/vigil-staging`;
const TOKEN = "11111111-2222-3333-4444-555555555555";
const CURRENT_VERSION = "99999999-2222-3333-4444-555555555555";
const OLD_PASSWORD = "0ldPassw0rd";
const NEW_PASSWORD = "N3wPassw0rd-2026";

const current = {
  username: "trader1",
  password: OLD_PASSWORD,
  account: "DU1234567",
  host: "ib-gateway.internal",
  port: 4002,
  paper: true,
  client_id: 1,
  api_key: "old-api-key-000",
};

const secretsManager = mockClient(SecretsManagerClient);
const ecs = mockClient(ECSClient);
const metadata = {
  ARN,
  Name: NAME,
  RotationEnabled: true,
  VersionIdsToStages: { [CURRENT_VERSION]: ["AWSCURRENT"], [TOKEN]: ["AWSPENDING"] },
  Tags: [{ Key: "vigil:rotation", Value: "ibkr" }],
};

const handshake = vi.fn<typeof twsHandshake>();
const strategy = createIbkrStrategy({
  settings: () => ({ verifyClientId: 917_001, verifyTimeoutMs: 3_000, stagingKmsKeyId: undefined }),
  handshake,
  now: () => new Date("2026-11-27T12:00:00Z"),
});

function context(step: RotationStep): StepContext {
  return {
    step,
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    secretArn: ARN,
    token: TOKEN,
    metadata: { ...metadata, $metadata: {} },
    current,
    deadline: new Deadline(() => 60_000, 5_000),
    logger: createLogger("ibkr-strategy-test"),
    settings: loadRotationSettings({}),
  };
}

function givenCurrent() {
  secretsManager.on(DescribeSecretCommand, { SecretId: ARN }).resolves(metadata);
  secretsManager
    .on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSCURRENT" })
    .resolves({ ARN, VersionId: CURRENT_VERSION, SecretString: JSON.stringify(current) });
}

function givenNoPendingValue() {
  secretsManager
    .on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSPENDING", VersionId: TOKEN })
    .rejects(new ResourceNotFoundException({ message: "not found", $metadata: {} }));
}

function givenPendingValue(value: Record<string, unknown>) {
  secretsManager
    .on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSPENDING", VersionId: TOKEN })
    .resolves({ ARN, VersionId: TOKEN, SecretString: JSON.stringify(value) });
}

const STAGING_ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:${STAGING}-XyZ123`;
const trustedStagingMetadata = {
  ARN: STAGING_ARN,
  Name: STAGING,
  Tags: [
    { Key: "vigil:staging-for", Value: ARN },
    { Key: "vigil:purpose", Value: "ibkr-staging" },
  ],
};

function givenStagingMetadata(overrides: Record<string, unknown> = {}) {
  secretsManager.on(DescribeSecretCommand, { SecretId: STAGING }).resolves({
    ...trustedStagingMetadata,
    ...overrides,
  });
}

function givenStaging(overrides: Record<string, unknown> = {}) {
  givenStagingMetadata();
  const value = {
    ...stagedValue({
      targetArn: ARN,
      basedOnVersionId: CURRENT_VERSION,
      password: NEW_PASSWORD,
      stagedAt: "2026-11-27T11:58:00Z",
      stagedBy: "ops@laptop",
    }),
    ...overrides,
  };
  secretsManager
    .on(GetSecretValueCommand, { SecretId: STAGING })
    .resolves({ ARN: STAGING_ARN, VersionId: "s1", SecretString: JSON.stringify(value) });
}

function givenNoStaging() {
  secretsManager
    .on(GetSecretValueCommand, { SecretId: STAGING })
    .rejects(new ResourceNotFoundException({ message: "not found", $metadata: {} }));
}

function gatewayAnswers(accounts: string[]) {
  handshake.mockResolvedValue({
    serverVersion: 176,
    connectionTime: "20261127 12:00:00 UTC",
    managedAccounts: accounts,
    nextValidId: 1,
    notices: [],
  });
}

/** What the protocol needs, publishing into `published`. */
function dependencies(published: FindingsQueueMessage[]): RotationDependencies {
  return {
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    ecs: () => new ECSClient({ region: "us-east-1" }),
    logger: createLogger("ibkr-strategy-test"),
    settings: loadRotationSettings({}),
    publish: async (message) => {
      published.push(message);
    },
    now: () => new Date("2026-11-27T12:00:00Z"),
  };
}

let output: CapturedOutput;

beforeEach(() => {
  secretsManager.reset();
  ecs.reset();
  handshake.mockReset();
  output = captureOutput();
});

afterEach(() => {
  vi.restoreAllMocks();
  expect(output.text()).not.toContain(NEW_PASSWORD);
  expect(output.text()).not.toContain(OLD_PASSWORD);
});

describe("createSecret", () => {
  it("fails on purpose with the operator's instruction when nothing is staged", async () => {
    givenNoPendingValue();
    givenNoStaging();

    const attempt = strategy.createSecret(context("createSecret"));

    await expect(attempt).rejects.toThrow(IbkrRotationDueError);
    await expect(attempt).rejects.toThrow(
      `Change the password in the IBKR portal (Settings > User Settings > Password), then run \`vigil ibkr stage --secret-id ${NAME}\``,
    );
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("removes AWSPENDING from the empty version so the next RotateSecret is not blocked", async () => {
    givenNoPendingValue();
    givenNoStaging();

    await strategy.createSecret(context("createSecret")).catch(() => {});

    expect(secretsManager).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      SecretId: ARN,
      VersionStage: "AWSPENDING",
      RemoveFromVersionId: TOKEN,
    });
  });

  it("publishes a low-severity rotation-due finding through the protocol", async () => {
    givenCurrent();
    givenNoPendingValue();
    givenNoStaging();
    const published: FindingsQueueMessage[] = [];
    const deps = dependencies(published);

    const attempt = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" },
      new Deadline(() => 60_000),
      deps,
    );

    await expect(attempt).rejects.toThrow(IbkrRotationDueError);
    const finding = published[0] as Finding;
    expect(finding).toMatchObject({
      rule: "ibkr.rotation-due",
      severity: "low",
      secretArn: ARN,
      groupKey: `rotation:${ARN}`,
      details: { step: "createSecret", strategy: "ibkr" },
      runbook: "docs/ibkr.md#runbook-trading-ops",
    });
    expect(finding.summary).toContain(`vigil ibkr stage --secret-id ${NAME}`);
  });

  it("logs the operator stop as a WARN, never as an ERROR an alarm on failures would count", async () => {
    givenCurrent();
    givenNoPendingValue();
    givenNoStaging();

    await rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" },
      new Deadline(() => 60_000),
      dependencies([]),
    ).catch(() => {});

    const levels = output.lines().map((line) => `${line.level} ${line.message}`);
    expect(levels).toContain("WARN rotation step stopped");
    expect(levels.filter((line) => line.startsWith("ERROR"))).toEqual([]);
  });

  it("stores the staged password as the pending version under Secrets Manager's token", async () => {
    givenNoPendingValue();
    givenStaging({ api_key: "new-api-key-111" });

    await strategy.createSecret(context("createSecret"));

    expect(secretsManager).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretId: ARN,
      ClientRequestToken: TOKEN,
      VersionStages: ["AWSPENDING"],
      SecretString: JSON.stringify({ ...current, password: NEW_PASSWORD, api_key: "new-api-key-111" }),
    });
  });

  it("keeps the current api_key when only the password was staged", async () => {
    givenNoPendingValue();
    givenStaging();

    await strategy.createSecret(context("createSecret"));

    const put = secretsManager.commandCalls(PutSecretValueCommand)[0]!.args[0].input;
    expect(JSON.parse(put.SecretString!)).toEqual({ ...current, password: NEW_PASSWORD });
  });

  it("keeps a pending version that already carries an acceptable value", async () => {
    givenPendingValue({ ...current, password: NEW_PASSWORD });

    await strategy.createSecret(context("createSecret"));

    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(secretsManager).not.toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: STAGING });
  });

  it("refuses a pending value whose password breaks IBKR's rules", async () => {
    givenPendingValue({ ...current, password: "short" });

    await expect(strategy.createSecret(context("createSecret"))).rejects.toThrow(SecretFormatError);
  });

  it("refuses a staged password that breaks IBKR's rules, writing nothing", async () => {
    givenNoPendingValue();
    givenStaging({ password: "nodigits-here" });

    const attempt = strategy.createSecret(context("createSecret"));

    await expect(attempt).rejects.toThrow(IbkrStagingInvalidError);
    await expect(attempt).rejects.toThrow(/the password must contain at least one digit/);
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("refuses a staged password equal to the current one", async () => {
    givenNoPendingValue();
    givenStaging({ password: OLD_PASSWORD });

    await expect(strategy.createSecret(context("createSecret"))).rejects.toThrow(
      /the password is the same as the current one/,
    );
  });

  it("refuses a staging made against an older version of the secret", async () => {
    givenNoPendingValue();
    givenStaging({ basedOnVersionId: "00000000-0000-0000-0000-000000000000" });

    await expect(strategy.createSecret(context("createSecret"))).rejects.toThrow(/the secret changed since/);
  });

  it("records the refusal on the staging secret for the operator's CLI", async () => {
    givenNoPendingValue();
    givenStaging({ password: "nodigits-here" });

    await strategy.createSecret(context("createSecret")).catch(() => {});

    const update = secretsManager.commandCalls(UpdateSecretCommand)[0]!.args[0].input;
    expect(update.SecretId).toBe(STAGING);
    expect(update.Description).toContain('"step":"createSecret","status":"failed"');
    expect(update.Description).not.toContain("nodigits-here");
  });

  it("refuses a staging secret planted under another KMS key, storing nothing, with a high finding", async () => {
    givenCurrent();
    givenNoPendingValue();
    givenStaging();
    givenStagingMetadata({ KmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/attacker-key" });
    const published: FindingsQueueMessage[] = [];
    const deps = dependencies(published);

    const attempt = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "createSecret" },
      new Deadline(() => 60_000),
      deps,
    );

    await expect(attempt).rejects.toThrow(IbkrStagingUntrustedError);
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(secretsManager).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      VersionStage: "AWSPENDING",
      RemoveFromVersionId: TOKEN,
    });
    const finding = published[0] as Finding;
    expect(finding).toMatchObject({ rule: "ibkr.staging-untrusted", severity: "high", secretArn: ARN });
    expect(finding.summary).toContain(
      `Refused the staging secret ${STAGING_ARN} for ${NAME}: it is encrypted with KMS key arn:aws:kms:us-east-1:111122223333:key/attacker-key, not the expected aws/secretsmanager (the account's default key)`,
    );
    expect(finding.summary).toContain("Nothing was stored, promoted or restarted");
  });

  it("refuses a staging secret whose tags name another target", async () => {
    givenNoPendingValue();
    givenStaging();
    givenStagingMetadata({
      Tags: [
        { Key: "vigil:staging-for", Value: `${ARN}-other` },
        { Key: "vigil:purpose", Value: "ibkr-staging" },
      ],
    });

    const attempt = strategy.createSecret(context("createSecret"));

    await expect(attempt).rejects.toThrow(IbkrStagingUntrustedError);
    await expect(attempt).rejects.toThrow(`its tag vigil:staging-for is "${ARN}-other", not ${ARN}`);
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("trusts only the key configured in IBKR_STAGING_KMS_KEY_ID when it is set", async () => {
    const configured = createIbkrStrategy({
      settings: () => ({
        verifyClientId: 917_001,
        verifyTimeoutMs: 3_000,
        stagingKmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/operators",
      }),
      handshake,
    });
    givenNoPendingValue();
    givenStaging();

    const defaultKey = configured.createSecret(context("createSecret"));
    await expect(defaultKey).rejects.toThrow(IbkrStagingUntrustedError);
    await expect(defaultKey).rejects.toThrow("(expected key: IBKR_STAGING_KMS_KEY_ID)");

    givenStagingMetadata({ KmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/operators" });
    await expect(configured.createSecret(context("createSecret"))).resolves.toBeUndefined();
    expect(secretsManager).toHaveReceivedCommandTimes(PutSecretValueCommand, 1);
  });

  it("uses the value a concurrent invocation stored first", async () => {
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSPENDING", VersionId: TOKEN })
      .rejectsOnce(new ResourceNotFoundException({ message: "not found", $metadata: {} }))
      .resolves({
        ARN,
        VersionId: TOKEN,
        SecretString: JSON.stringify({ ...current, password: NEW_PASSWORD }),
      });
    givenStaging();
    secretsManager
      .on(PutSecretValueCommand)
      .rejects(new ResourceExistsException({ message: "exists", $metadata: {} }));

    await expect(strategy.createSecret(context("createSecret"))).resolves.toBeUndefined();
  });
});

describe("setSecret", () => {
  it("pushes nothing to IBKR and records the operator's confirmation", async () => {
    givenPendingValue({ ...current, password: NEW_PASSWORD });

    await strategy.setSecret(context("setSecret"));

    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(output.text()).toContain("nothing to push to IBKR");
  });

  it("fails when createSecret has not stored the pending value", async () => {
    givenNoPendingValue();

    await expect(strategy.setSecret(context("setSecret"))).rejects.toThrow(/createSecret has not stored it/);
  });
});

describe("testSecret", () => {
  it("passes when the gateway answers the handshake and manages the account", async () => {
    givenPendingValue({ ...current, password: NEW_PASSWORD });
    gatewayAnswers(["DU7654321", "DU1234567"]);

    await strategy.testSecret(context("testSecret"));

    expect(handshake).toHaveBeenCalledWith({
      host: "ib-gateway.internal",
      port: 4002,
      clientId: 917_001,
      timeoutMs: 3_000,
    });
  });

  it("fails when the gateway does not list the account", async () => {
    givenPendingValue({ ...current, password: NEW_PASSWORD });
    gatewayAnswers(["DU7654321"]);

    const attempt = strategy.testSecret(context("testSecret"));

    await expect(attempt).rejects.toThrow(TestSecretFailedError);
    await expect(attempt).rejects.toThrow(
      "IB Gateway at ib-gateway.internal:4002 answered but does not manage account DU1234567 (it lists 1 account)",
    );
  });

  it("fails with the next step when the gateway is unreachable", async () => {
    givenPendingValue({ ...current, password: NEW_PASSWORD });
    handshake.mockRejectedValue(
      new TwsHandshakeError(
        "unreachable",
        "TWS API gateway at ib-gateway.internal:4002 is unreachable (ECONNREFUSED)",
      ),
    );

    await expect(strategy.testSecret(context("testSecret"))).rejects.toThrow(
      /is unreachable \(ECONNREFUSED\)\. Start IB Gateway .* then run `vigil ibkr stage --secret-id algo-trade\/prod\/ibkr --resume`/,
    );
  });

  it("never connects with the trading application's client id", async () => {
    givenPendingValue({ ...current, password: NEW_PASSWORD, client_id: 917_001 });

    await expect(strategy.testSecret(context("testSecret"))).rejects.toThrow(
      /IBKR_VERIFY_CLIENT_ID \(917001\)/,
    );
    expect(handshake).not.toHaveBeenCalled();
  });

  it("refuses a paper secret that points at a live port without connecting", async () => {
    givenPendingValue({ ...current, password: NEW_PASSWORD, port: 4001 });

    await expect(strategy.testSecret(context("testSecret"))).rejects.toThrow(/paper: true but port 4001/);
    expect(handshake).not.toHaveBeenCalled();
  });

  it("refuses a pending password equal to the current one", async () => {
    givenPendingValue({ ...current });

    await expect(strategy.testSecret(context("testSecret"))).rejects.toThrow(
      /the password is the same as the current one/,
    );
    expect(handshake).not.toHaveBeenCalled();
  });
});

describe("finishSecret", () => {
  it("deletes the staging secret without recovery, promotes and announces the new version", async () => {
    givenCurrent();
    const published: FindingsQueueMessage[] = [];

    await rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "finishSecret" },
      new Deadline(() => 60_000),
      dependencies(published),
    );

    expect(secretsManager).toHaveReceivedCommandWith(DeleteSecretCommand, {
      SecretId: STAGING,
      ForceDeleteWithoutRecovery: true,
    });
    expect(secretsManager).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      VersionStage: "AWSCURRENT",
      MoveToVersionId: TOKEN,
    });
    expect(published).toEqual([expect.objectContaining({ type: "secret.rotated", strategy: "ibkr" })]);
  });

  it("announces and restarts the consumers once when deleting the staging secret fails and finishSecret is retried", async () => {
    const stagesNow = versionStages(
      secretsManager,
      { ...metadata, Tags: [...metadata.Tags, { Key: "vigil:ecs-services", Value: "prod/algo-trader" }] },
      metadata.VersionIdsToStages,
    );
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSCURRENT" })
      .resolves({ ARN, VersionId: CURRENT_VERSION, SecretString: JSON.stringify(current) });
    const denied = new Error("AccessDenied");
    secretsManager.on(DeleteSecretCommand).rejectsOnce(denied).rejectsOnce(denied).resolves({});
    ecs.on(UpdateServiceCommand).resolves({});
    const published: FindingsQueueMessage[] = [];
    const finish = () =>
      rotateSecretStep(
        { SecretId: ARN, ClientRequestToken: TOKEN, Step: "finishSecret" },
        new Deadline(() => 60_000),
        dependencies(published),
      );

    await expect(finish()).rejects.toThrow(/could not be deleted/);
    await finish();

    expect(published.filter((message) => "type" in message)).toHaveLength(1);
    expect(ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 1);
    expect(secretsManager).toHaveReceivedCommandTimes(DeleteSecretCommand, 3);
    expect(stagesNow()[TOKEN]).toEqual(["AWSCURRENT", "VIGIL_ANNOUNCED"]);
  });

  it("promotes even when the staging secret cannot be deleted, then reports it", async () => {
    givenCurrent();
    secretsManager.on(DeleteSecretCommand).rejects(new Error("AccessDenied"));
    const published: FindingsQueueMessage[] = [];

    const attempt = rotateSecretStep(
      { SecretId: ARN, ClientRequestToken: TOKEN, Step: "finishSecret" },
      new Deadline(() => 60_000),
      dependencies(published),
    );

    await expect(attempt).rejects.toThrow(/could not be deleted/);
    expect(secretsManager).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      VersionStage: "AWSCURRENT",
      MoveToVersionId: TOKEN,
    });
    expect(published[0]).toMatchObject({ type: "secret.rotated" });
    expect(published[1]).toMatchObject({ rule: "ibkr.staging-left-behind", severity: "medium" });
  });
});
