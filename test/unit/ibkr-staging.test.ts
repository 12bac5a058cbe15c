import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { IbkrStagingUntrustedError } from "../../functions/rotate/strategies/ibkr/errors.ts";
import {
  deleteStaging,
  readStaging,
  readStagingProgress,
  recordStagingProgress,
  stagedValue,
  stagingSecretName,
  stagingTrustProblems,
  writeStaging,
} from "../../functions/rotate/strategies/ibkr/staging.ts";

const NAME = "algo-trade/prod/ibkr";
const ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:${NAME}-AbCdEf`;
const STAGING = `${NAME}/vigil-staging`;
const value = stagedValue({
  targetArn: ARN,
  basedOnVersionId: "v1",
  password: "N3wPassw0rd-2026",
  stagedAt: "2026-11-27T12:00:00Z",
});

const STAGING_ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:${STAGING}-XyZ123`;
const trusted = {
  ARN: STAGING_ARN,
  Name: STAGING,
  Tags: [
    { Key: "vigil:staging-for", Value: ARN },
    { Key: "vigil:purpose", Value: "ibkr-staging" },
  ],
};

const secretsManager = mockClient(SecretsManagerClient);
const client = () => new SecretsManagerClient({ region: "us-east-1" });

beforeEach(() => {
  secretsManager.reset();
});

describe("stagingSecretName", () => {
  it("appends /vigil-staging to the target's name", () => {
    expect(stagingSecretName(NAME)).toBe("algo-trade/prod/ibkr/vigil-staging");
  });
});

describe("writeStaging", () => {
  it("creates the staging secret encrypted with the given key and tagged with its target", async () => {
    secretsManager.on(CreateSecretCommand).resolves({ ARN: `${ARN}-staging` });

    await writeStaging(client(), { targetArn: ARN, targetName: NAME, kmsKeyId: "alias/ibkr", value });

    expect(secretsManager).toHaveReceivedCommandWith(CreateSecretCommand, {
      Name: STAGING,
      KmsKeyId: "alias/ibkr",
      SecretString: JSON.stringify(value),
      Tags: [
        { Key: "vigil:staging-for", Value: ARN },
        { Key: "vigil:purpose", Value: "ibkr-staging" },
      ],
    });
  });

  it("writes a new version when a staging secret already exists and resets its progress", async () => {
    secretsManager.on(DescribeSecretCommand, { SecretId: STAGING }).resolves(trusted);
    secretsManager
      .on(CreateSecretCommand)
      .rejects(new ResourceExistsException({ message: "exists", $metadata: {} }));
    secretsManager.on(PutSecretValueCommand).resolves({ ARN: `${ARN}-staging` });

    await writeStaging(client(), { targetArn: ARN, targetName: NAME, kmsKeyId: undefined, value });

    expect(secretsManager).toHaveReceivedCommandWith(PutSecretValueCommand, { SecretId: STAGING });
    const update = secretsManager.commandCalls(UpdateSecretCommand)[0]!.args[0].input;
    expect(update.Description).not.toContain("[progress]");
  });

  it("restores a staging secret scheduled for deletion before writing to it", async () => {
    secretsManager
      .on(DescribeSecretCommand, { SecretId: STAGING })
      .resolves({ ...trusted, DeletedDate: new Date("2026-11-27T11:00:00Z") });
    secretsManager.on(CreateSecretCommand).rejects(
      new InvalidRequestException({
        message:
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        $metadata: {},
      }),
    );
    secretsManager.on(PutSecretValueCommand).resolves({ ARN: `${ARN}-staging` });

    await writeStaging(client(), { targetArn: ARN, targetName: NAME, kmsKeyId: undefined, value });

    expect(secretsManager).toHaveReceivedCommandWith(RestoreSecretCommand, { SecretId: STAGING });
    expect(secretsManager).toHaveReceivedCommand(PutSecretValueCommand);
  });
  it("refuses to write into an existing staging secret that someone else created, writing nothing", async () => {
    secretsManager
      .on(CreateSecretCommand)
      .rejects(new ResourceExistsException({ message: "exists", $metadata: {} }));
    secretsManager
      .on(DescribeSecretCommand, { SecretId: STAGING })
      .resolves({ ARN: STAGING_ARN, Name: STAGING });

    const write = writeStaging(client(), { targetArn: ARN, targetName: NAME, kmsKeyId: undefined, value });

    await expect(write).rejects.toThrow(IbkrStagingUntrustedError);
    await expect(write).rejects.toThrow(
      `The existing staging secret ${STAGING} cannot be trusted: its tag vigil:staging-for is missing, not ${ARN}; its tag vigil:purpose is missing, not ibkr-staging. Nothing was written.`,
    );
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
    expect(secretsManager).not.toHaveReceivedCommand(UpdateSecretCommand);
  });
});

describe("stagingTrustProblems", () => {
  const expected = { targetArn: ARN, kmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/1234abcd" };

  it("trusts a staging secret under the expected key, tagged for its target, beside it", () => {
    expect(
      stagingTrustProblems({ ...trusted, KmsKeyId: expected.kmsKeyId, $metadata: {} }, expected),
    ).toEqual([]);
  });

  it("matches a key given by id against the same key's ARN in the target's account and region", () => {
    const metadata = { ...trusted, KmsKeyId: "1234abcd", $metadata: {} };

    expect(stagingTrustProblems(metadata, expected)).toEqual([]);
    expect(
      stagingTrustProblems(metadata, {
        ...expected,
        kmsKeyId: "arn:aws:kms:us-east-1:444455556666:key/1234abcd",
      }),
    ).toEqual([
      "it is encrypted with KMS key 1234abcd, not the expected arn:aws:kms:us-east-1:444455556666:key/1234abcd",
    ]);
  });

  it("treats no key and alias/aws/secretsmanager as the same default key", () => {
    const metadata = { ...trusted, KmsKeyId: "alias/aws/secretsmanager", $metadata: {} };

    expect(stagingTrustProblems(metadata, { targetArn: ARN, kmsKeyId: undefined })).toEqual([]);
    expect(stagingTrustProblems({ ...trusted, $metadata: {} }, expected)).toEqual([
      "it is encrypted with KMS key aws/secretsmanager (the account's default key), not the expected arn:aws:kms:us-east-1:111122223333:key/1234abcd",
    ]);
  });

  it("names every other mismatch: owner service, account, replica region", () => {
    const metadata = {
      ...trusted,
      ARN: `arn:aws:secretsmanager:eu-west-1:111122223333:secret:${STAGING}-XyZ123`,
      KmsKeyId: expected.kmsKeyId,
      OwningService: "appflow",
      PrimaryRegion: "eu-west-1",
      $metadata: {},
    };

    expect(stagingTrustProblems(metadata, expected)).toEqual([
      "it is managed by appflow",
      "it lives in 111122223333/eu-west-1, not beside its target",
      "it is a replica written in eu-west-1",
    ]);
  });
});

describe("readStaging", () => {
  it("returns the staged value", async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .resolves({ ARN, VersionId: "s1", SecretString: JSON.stringify(value) });

    await expect(readStaging(client(), STAGING)).resolves.toEqual({
      state: "staged",
      arn: ARN,
      versionId: "s1",
      value,
    });
  });

  it("treats a missing or deletion-scheduled staging secret as nothing staged", async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: "not found", $metadata: {} }))
      .rejectsOnce(
        new InvalidRequestException({
          message: "You can't perform this operation on the secret because it was marked for deletion.",
          $metadata: {},
        }),
      );

    await expect(readStaging(client(), STAGING)).resolves.toEqual({ state: "absent" });
    await expect(readStaging(client(), STAGING)).resolves.toEqual({ state: "absent" });
  });

  it("names what is wrong with a malformed staging value without echoing it", async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .resolves({ ARN, SecretString: JSON.stringify({ password: "N3wPassw0rd-2026" }) });

    const read = await readStaging(client(), STAGING);

    expect(read.state).toBe("invalid");
    expect(JSON.stringify(read)).not.toContain("N3wPassw0rd-2026");
  });
});

describe("staging progress", () => {
  it("round-trips the last step's outcome through the staging secret's description", async () => {
    await recordStagingProgress(client(), STAGING, NAME, {
      step: "testSecret",
      status: "failed",
      versionId: "v2",
      at: "2026-11-27T12:01:00Z",
      message: "gateway unreachable",
    });
    const description = secretsManager.commandCalls(UpdateSecretCommand)[0]!.args[0].input.Description;
    secretsManager.on(DescribeSecretCommand).resolves({ Description: description });

    await expect(readStagingProgress(client(), STAGING)).resolves.toEqual({
      step: "testSecret",
      status: "failed",
      versionId: "v2",
      at: "2026-11-27T12:01:00Z",
      message: "gateway unreachable",
    });
  });

  it("cuts a long failure message so the description stays within 2048 characters and still parses", async () => {
    const message = `gateway said: "${"x".repeat(3_000)}"`;

    await recordStagingProgress(client(), STAGING, NAME, {
      step: "testSecret",
      status: "failed",
      versionId: "v2",
      at: "2026-11-27T12:01:00Z",
      message,
    });
    const description = secretsManager.commandCalls(UpdateSecretCommand)[0]!.args[0].input.Description!;
    secretsManager.on(DescribeSecretCommand).resolves({ Description: description });

    expect(description.length).toBeLessThanOrEqual(2_048);
    const progress = await readStagingProgress(client(), STAGING);
    expect(progress).toMatchObject({ step: "testSecret", status: "failed", versionId: "v2" });
    expect(message.startsWith(progress!.message!)).toBe(true);
  });

  it("is best effort: a missing staging secret records nothing and reads as no progress", async () => {
    secretsManager
      .on(UpdateSecretCommand)
      .rejects(new ResourceNotFoundException({ message: "gone", $metadata: {} }));
    secretsManager
      .on(DescribeSecretCommand)
      .rejects(new ResourceNotFoundException({ message: "gone", $metadata: {} }));

    await expect(
      recordStagingProgress(client(), STAGING, NAME, {
        step: "setSecret",
        status: "done",
        versionId: "v2",
        at: "t",
      }),
    ).resolves.toBe(false);
    await expect(readStagingProgress(client(), STAGING)).resolves.toBeUndefined();
  });
});

describe("deleteStaging", () => {
  it("force-deletes without a recovery window, and reports false when already gone", async () => {
    secretsManager
      .on(DeleteSecretCommand)
      .resolvesOnce({})
      .rejects(new ResourceNotFoundException({ message: "gone", $metadata: {} }));

    await expect(deleteStaging(client(), STAGING)).resolves.toBe(true);
    await expect(deleteStaging(client(), STAGING)).resolves.toBe(false);
    expect(secretsManager).toHaveReceivedCommandWith(DeleteSecretCommand, {
      SecretId: STAGING,
      ForceDeleteWithoutRecovery: true,
    });
  });
});
