import { PassThrough, Readable } from "node:stream";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type IbkrStageDependencies,
  IbkrStageError,
  type IbkrStageOptions,
  SCRIPTED_STAGE_OPTIONS,
  stageIbkrCredentials,
} from "../../functions/rotate/strategies/ibkr/index.ts";
import { textSink } from "../helpers/output.ts";

const NAME = "algo-trade/prod/ibkr";
const ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}-AbCdEf`;
const CURRENT_VERSION = "99999999-2222-3333-4444-555555555555";
const FAILED_VERSION = "77777777-2222-3333-4444-555555555555";
const OLD_PASSWORD = "0ldPassw0rd";
const NEW_PASSWORD = "N3wPassw0rd-2026";

const secretsManager = mockClient(SecretsManagerClient);

const options: IbkrStageOptions = { ...SCRIPTED_STAGE_OPTIONS, secretId: NAME, timeoutSeconds: 10 };

/** `answers` are what the operator types at the hidden prompts, in order; without them, no terminal. */
function dependencies(
  input: IbkrStageDependencies["input"],
  output = textSink(),
  answers?: string[],
): IbkrStageDependencies {
  return {
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    input,
    output,
    ...(answers ? { askHidden: async () => answers.shift() ?? "" } : {}),
    sleep: async () => {},
    now: () => new Date("2026-11-27T12:00:00Z"),
    operator: () => "ops@test",
    env: {},
  };
}

function givenSecret(stages: Record<string, string[]> = { [CURRENT_VERSION]: ["AWSCURRENT"] }) {
  secretsManager.on(DescribeSecretCommand, { SecretId: NAME }).resolves({
    ARN,
    Name: NAME,
    RotationEnabled: true,
    VersionIdsToStages: stages,
  });
  secretsManager.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSCURRENT" }).resolves({
    ARN,
    VersionId: CURRENT_VERSION,
    SecretString: JSON.stringify({
      username: "trader1",
      password: OLD_PASSWORD,
      account: "DU1",
      host: "gw",
      port: 4002,
    }),
  });
}

beforeEach(() => {
  secretsManager.reset();
});

describe("stageIbkrCredentials", () => {
  it("asks twice and refuses two different passwords, writing nothing", async () => {
    givenSecret();
    const output = textSink();
    const deps = dependencies(new PassThrough(), output, [NEW_PASSWORD, "something-else-1"]);

    const staging = stageIbkrCredentials({ ...options, stdin: false }, deps);

    await expect(staging).rejects.toThrow("The two passwords differ; nothing was written");
    expect(output.text()).not.toContain(NEW_PASSWORD);
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
  });

  it("refuses to ask without a terminal, pointing at --stdin", async () => {
    givenSecret();

    const staging = stageIbkrCredentials({ ...options, stdin: false }, dependencies(new PassThrough()));

    await expect(staging).rejects.toThrow(/cannot be prompted for without echo; pipe it with --stdin/);
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
  });

  it("refuses --stdin on a terminal, which would echo the password, before reading or writing", async () => {
    givenSecret();
    const terminal = Object.assign(new PassThrough(), { isTTY: true });

    const staging = stageIbkrCredentials({ ...options, stdin: true }, dependencies(terminal));

    await expect(staging).rejects.toThrow(/--stdin reads the password from a pipe.*leave --stdin out/);
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
  });

  it("refuses a new password equal to the current one before writing", async () => {
    givenSecret();

    const staging = stageIbkrCredentials(options, dependencies(Readable.from([`${OLD_PASSWORD}\n`])));

    await expect(staging).rejects.toThrow(
      "Nothing was written: the new password is the same as the current one",
    );
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
    expect(secretsManager).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  it("refuses --resume with --discard-pending, which contradict each other, before reading anything", async () => {
    givenSecret();

    const staging = stageIbkrCredentials(
      { ...options, resume: true, discardPending: true },
      dependencies(Readable.from([`${NEW_PASSWORD}\n`])),
    );

    await expect(staging).rejects.toThrow(IbkrStageError);
    await expect(staging).rejects.toThrow("--resume and --discard-pending contradict each other");
    expect(secretsManager).not.toHaveReceivedCommand(DescribeSecretCommand);
  });

  it("says nothing was read when standard input is empty", async () => {
    givenSecret();

    const staging = stageIbkrCredentials(options, dependencies(Readable.from([])));

    await expect(staging).rejects.toThrow(
      /^Nothing was read from standard input: --stdin expects the new password/,
    );
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
  });

  it("says a database secret is not an IBKR secret, and what it is instead", async () => {
    givenSecret();
    secretsManager.on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSCURRENT" }).resolves({
      ARN,
      SecretString: JSON.stringify({
        engine: "postgres",
        host: "db",
        port: 5432,
        username: "app",
        password: "x",
      }),
    });

    const staging = stageIbkrCredentials(options, dependencies(Readable.from([`${NEW_PASSWORD}\n`])));

    await expect(staging).rejects.toThrow(
      `Secret ${NAME} is not an IBKR secret: it is a single-user database secret (engine "postgres").`,
    );
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
  });

  it("refuses to start over a failed rotation that holds values unless told what to do", async () => {
    givenSecret({ [CURRENT_VERSION]: ["AWSCURRENT"], [FAILED_VERSION]: ["AWSPENDING"] });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionId: FAILED_VERSION, VersionStage: "AWSPENDING" })
      .resolves({ SecretString: JSON.stringify({ password: NEW_PASSWORD }) });

    const staging = stageIbkrCredentials(options, dependencies(Readable.from([`${NEW_PASSWORD}\n`])));

    await expect(staging).rejects.toThrow(IbkrStageError);
    await expect(staging).rejects.toThrow(/--resume.*--discard-pending/);
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
  });

  it("treats a pending value that is not JSON as stored values, without quoting it in the error", async () => {
    givenSecret({ [CURRENT_VERSION]: ["AWSCURRENT"], [FAILED_VERSION]: ["AWSPENDING"] });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionId: FAILED_VERSION, VersionStage: "AWSPENDING" })
      .resolves({ SecretString: NEW_PASSWORD });

    const staging = stageIbkrCredentials(options, dependencies(Readable.from([`${NEW_PASSWORD}\n`])));

    await expect(staging).rejects.toThrow(/--resume.*--discard-pending/);
    await expect(staging).rejects.not.toThrow(NEW_PASSWORD);
  });

  it("refuses to resume from a pending value that holds no usable password, writing nothing", async () => {
    givenSecret({ [CURRENT_VERSION]: ["AWSCURRENT"], [FAILED_VERSION]: ["AWSPENDING"] });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionId: FAILED_VERSION, VersionStage: "AWSPENDING" })
      .resolves({ SecretString: NEW_PASSWORD });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: `${NAME}/vigil-staging` })
      .rejects(new ResourceNotFoundException({ message: "gone", $metadata: {} }));

    const staging = stageIbkrCredentials({ ...options, resume: true }, dependencies(Readable.from([])));

    await expect(staging).rejects.toThrow(
      `Cannot resume ${NAME} from pending version ${FAILED_VERSION}: it holds no password (not an IBKR secret's JSON).`,
    );
    expect(secretsManager).not.toHaveReceivedCommand(CreateSecretCommand);
    expect(secretsManager).not.toHaveReceivedCommand(UpdateSecretVersionStageCommand);
  });

  it("clears the empty pending version a failed unstaged attempt left, then rotates", async () => {
    givenSecret({ [CURRENT_VERSION]: ["AWSCURRENT"], [FAILED_VERSION]: ["AWSPENDING"] });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionId: FAILED_VERSION, VersionStage: "AWSPENDING" })
      .rejects(new ResourceNotFoundException({ message: "no value", $metadata: {} }));
    secretsManager.on(CreateSecretCommand).resolves({ ARN: `${ARN}/vigil-staging` });
    secretsManager.on(RotateSecretCommand).resolves({ ARN, VersionId: "new-version" });
    secretsManager
      .on(DescribeSecretCommand, { SecretId: ARN })
      .resolves({ ARN, Name: NAME, VersionIdsToStages: { "new-version": ["AWSCURRENT"] } });

    await stageIbkrCredentials(options, dependencies(Readable.from([`${NEW_PASSWORD}\n`])));

    expect(secretsManager).toHaveReceivedCommandWith(UpdateSecretVersionStageCommand, {
      VersionStage: "AWSPENDING",
      RemoveFromVersionId: FAILED_VERSION,
    });
    expect(secretsManager).toHaveReceivedCommandWith(CreateSecretCommand, {
      Name: `${NAME}/vigil-staging`,
      Tags: [
        { Key: "vigil:staging-for", Value: ARN },
        { Key: "vigil:purpose", Value: "ibkr-staging" },
      ],
    });
  });

  it("stops following after --timeout of its own clock, saying the rotation goes on and how to check", async () => {
    givenSecret();
    secretsManager.on(CreateSecretCommand).resolves({ ARN: `${ARN}/vigil-staging` });
    secretsManager.on(RotateSecretCommand).resolves({ ARN, VersionId: "new-version" });
    secretsManager.on(DescribeSecretCommand, { SecretId: ARN }).resolves({
      ARN,
      Name: NAME,
      VersionIdsToStages: { [CURRENT_VERSION]: ["AWSCURRENT"], "new-version": ["AWSPENDING"] },
    });
    secretsManager.on(DescribeSecretCommand, { SecretId: `${NAME}/vigil-staging` }).resolves({});
    let clock = Date.parse("2026-11-27T12:00:00Z");
    const deps = {
      ...dependencies(Readable.from([`${NEW_PASSWORD}\n`])),
      now: () => new Date(clock),
      sleep: async (ms: number) => {
        clock += ms;
      },
    };

    const staging = stageIbkrCredentials({ ...options, timeoutSeconds: 10, pollSeconds: 2 }, deps);

    await expect(staging).rejects.toThrow(/has not finished after 10 s; it goes on in AWS/);
    expect(secretsManager).toHaveReceivedCommandTimes(RotateSecretCommand, 1);
    // Polls at 0, 2, ..., 10 s of the injected clock: the describe of the target plus six.
    expect(secretsManager.commandCalls(DescribeSecretCommand, { SecretId: ARN })).toHaveLength(6);
  });

  it("refuses to write into a staging secret someone else created under another key", async () => {
    givenSecret();
    secretsManager
      .on(CreateSecretCommand)
      .rejects(new ResourceExistsException({ message: "exists", $metadata: {} }));
    secretsManager.on(DescribeSecretCommand, { SecretId: `${NAME}/vigil-staging` }).resolves({
      ARN: `${ARN}/vigil-staging`,
      KmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/not-ours",
      Tags: [
        { Key: "vigil:staging-for", Value: ARN },
        { Key: "vigil:purpose", Value: "ibkr-staging" },
      ],
    });

    const staging = stageIbkrCredentials(options, dependencies(Readable.from([`${NEW_PASSWORD}\n`])));

    await expect(staging).rejects.toThrow(IbkrStageError);
    await expect(staging).rejects.toThrow(
      "it is encrypted with KMS key arn:aws:kms:us-east-1:111122223333:key/not-ours, not the expected aws/secretsmanager",
    );
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(secretsManager).not.toHaveReceivedCommand(RotateSecretCommand);
  });

  it("encrypts the staging secret with the configured KMS key", async () => {
    givenSecret();
    secretsManager.on(CreateSecretCommand).resolves({ ARN: `${ARN}/vigil-staging` });
    const deps = {
      ...dependencies(Readable.from([`${NEW_PASSWORD}\n`])),
      env: { VIGIL_STAGING_KMS_KEY_ID: "alias/ibkr" },
    };

    await stageIbkrCredentials({ ...options, rotate: false }, deps);

    expect(secretsManager).toHaveReceivedCommandWith(CreateSecretCommand, { KmsKeyId: "alias/ibkr" });
    expect(secretsManager).not.toHaveReceivedCommand(RotateSecretCommand);
  });
});
