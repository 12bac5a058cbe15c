import {
  BatchGetSecretValueCommand,
  CancelRotateSecretCommand,
  CreateSecretCommand,
  DeleteResourcePolicyCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PublicPolicyException,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type RotationLambda, type Sandbox, startSandbox } from "../../local/sandbox.ts";

const rotationFunction = "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate";
const token = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

let sandbox: Sandbox;
let client: SecretsManagerClient;
/** Replaced per test; the sandbox calls whatever is current. */
let rotationStep: RotationLambda = async () => undefined;
let secretCounter = 0;
function uniqueName(prefix = "test/secret"): string {
  secretCounter += 1;
  return `${prefix}-${secretCounter}`;
}

beforeAll(async () => {
  sandbox = await startSandbox({ rotationLambda: (event, context) => rotationStep(event, context) });
  client = new SecretsManagerClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await sandbox.stop();
});

afterEach(() => {
  rotationStep = async () => undefined;
});

async function stagesOf(secretId: string): Promise<Record<string, string[]>> {
  const { VersionIdsToStages } = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  return VersionIdsToStages ?? {};
}

/** A handler like the AWS templates, with hooks to make a step fail. */
function templateHandler(failAt?: string): RotationLambda {
  return async (event) => {
    if (event.Step === failAt) throw new Error(`${failAt} failed on purpose`);
    if (event.Step === "createSecret") {
      await client.send(
        new PutSecretValueCommand({
          SecretId: event.SecretId,
          ClientRequestToken: event.ClientRequestToken,
          SecretString: "rotated-value",
          VersionStages: ["AWSPENDING"],
        }),
      );
    }
    if (event.Step === "finishSecret") {
      const stages = await stagesOf(event.SecretId);
      const current = Object.keys(stages).find((id) => stages[id]?.includes("AWSCURRENT"));
      await client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: event.SecretId,
          VersionStage: "AWSCURRENT",
          MoveToVersionId: event.ClientRequestToken,
          RemoveFromVersionId: current,
        }),
      );
    }
  };
}

describe("CreateSecret", () => {
  it("returns an ARN with a 6-character random suffix and the first version as AWSCURRENT", async () => {
    const name = uniqueName();

    const created = await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(1) }),
    );

    expect(created.ARN).toMatch(
      new RegExp(`^arn:aws:secretsmanager:us-east-1:111122223333:secret:${name}-[A-Za-z0-9]{6}$`),
    );
    expect(created.VersionId).toBe(token(1));
    expect(await stagesOf(name)).toEqual({ [token(1)]: ["AWSCURRENT"] });
    expect(
      (await client.send(new DescribeSecretCommand({ SecretId: name }))).RotationEnabled,
    ).toBeUndefined();
  });

  it("refuses an existing name with ResourceExistsException", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));

    await expect(
      client.send(new CreateSecretCommand({ Name: name, SecretString: "v2" })),
    ).rejects.toBeInstanceOf(ResourceExistsException);
  });

  it("succeeds again for a retry with the same token and value", async () => {
    const name = uniqueName();
    const first = await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(2) }),
    );

    const retry = await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(2) }),
    );

    expect(retry.ARN).toBe(first.ARN);
  });

  it("creates a secret without versions when no value is given", async () => {
    const name = uniqueName();

    const created = await client.send(new CreateSecretCommand({ Name: name }));

    expect(created.VersionId).toBeUndefined();
    await expect(client.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });
});

describe("GetSecretValue", () => {
  it("finds a secret by name, partial ARN and full ARN", async () => {
    const name = uniqueName();
    const { ARN } = await client.send(new CreateSecretCommand({ Name: name, SecretString: "value" }));

    for (const secretId of [name, ARN!.slice(0, -7), ARN!]) {
      const result = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      expect(result.SecretString).toBe("value");
      expect(result.ARN).toBe(ARN);
    }
  });

  it("answers ResourceNotFoundException for an unknown secret", async () => {
    await expect(client.send(new GetSecretValueCommand({ SecretId: "no/such/secret" }))).rejects.toThrow(
      "Secrets Manager can't find the specified secret.",
    );
  });

  it("reads a version by id and stage, and refuses a stage the version does not have", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(10) }),
    );
    await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "v2", ClientRequestToken: token(11) }),
    );

    const previous = await client.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: "AWSPREVIOUS" }),
    );
    const byId = await client.send(new GetSecretValueCommand({ SecretId: name, VersionId: token(10) }));

    expect(previous.SecretString).toBe("v1");
    expect(byId.VersionStages).toEqual(["AWSPREVIOUS"]);
    await expect(
      client.send(
        new GetSecretValueCommand({ SecretId: name, VersionId: token(10), VersionStage: "AWSCURRENT" }),
      ),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it("returns binary secrets as bytes", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretBinary: new Uint8Array([1, 2, 3]) }));

    const result = await client.send(new GetSecretValueCommand({ SecretId: name }));

    expect([...(result.SecretBinary ?? [])]).toEqual([1, 2, 3]);
  });
});

describe("BatchGetSecretValue", () => {
  it("returns the values it can, lists the failures, and logs a GetSecretValue entry per secret", async () => {
    const names = [uniqueName("batch"), uniqueName("batch")];
    for (const name of names)
      await client.send(new CreateSecretCommand({ Name: name, SecretString: `value of ${name}` }));
    const before = sandbox.cloudTrailRecords().length;

    const result = await client.send(
      new BatchGetSecretValueCommand({ SecretIdList: [...names, "batch/missing"] }),
    );

    expect(result.SecretValues?.map((value) => value.SecretString)).toEqual(
      names.map((name) => `value of ${name}`),
    );
    expect(result.Errors).toEqual([
      {
        SecretId: "batch/missing",
        ErrorCode: "ResourceNotFoundException",
        Message: "Secrets Manager can't find the specified secret.",
      },
    ]);
    const records = sandbox.cloudTrailRecords().slice(before);
    expect(
      records.map((record) => [record.eventName, record.requestParameters?.secretId, record.errorCode]),
    ).toEqual([
      ["BatchGetSecretValue", undefined, undefined],
      ["GetSecretValue", names[0], undefined],
      ["GetSecretValue", names[1], undefined],
      ["GetSecretValue", "batch/missing", "ResourceNotFoundException"],
    ]);
    expect(JSON.stringify(records)).not.toContain("value of");
  });

  it("selects secrets with filters", async () => {
    const name = uniqueName(`filtered-${Date.now()}`);
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "x" }));

    const result = await client.send(
      new BatchGetSecretValueCommand({ Filters: [{ Key: "name", Values: [name] }] }),
    );

    expect(result.SecretValues?.map((value) => value.Name)).toEqual([name]);
  });
});

describe("PutSecretValue", () => {
  it("moves AWSCURRENT to the new version and AWSPREVIOUS to the old current", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(20) }),
    );
    await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "v2", ClientRequestToken: token(21) }),
    );

    await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "v3", ClientRequestToken: token(22) }),
    );

    expect(await stagesOf(name)).toEqual({ [token(21)]: ["AWSPREVIOUS"], [token(22)]: ["AWSCURRENT"] });
  });

  it("attaches only the stages given, leaving AWSCURRENT in place", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(30) }),
    );

    const put = await client.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: "v2",
        ClientRequestToken: token(31),
        VersionStages: ["AWSPENDING"],
      }),
    );

    expect(put.VersionStages).toEqual(["AWSPENDING"]);
    expect(await stagesOf(name)).toEqual({ [token(30)]: ["AWSCURRENT"], [token(31)]: ["AWSPENDING"] });
  });

  it("treats the same token with the same value as a no-op", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(40) }),
    );
    await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "v2", ClientRequestToken: token(41) }),
    );

    const replay = await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "v2", ClientRequestToken: token(41) }),
    );

    expect(replay.VersionId).toBe(token(41));
    expect(await stagesOf(name)).toEqual({ [token(40)]: ["AWSPREVIOUS"], [token(41)]: ["AWSCURRENT"] });
  });

  it("refuses the same token with a different value with ResourceExistsException", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(50) }),
    );

    await expect(
      client.send(
        new PutSecretValueCommand({ SecretId: name, SecretString: "other", ClientRequestToken: token(50) }),
      ),
    ).rejects.toBeInstanceOf(ResourceExistsException);
  });
});

describe("UpdateSecretVersionStage", () => {
  it("moves AWSCURRENT and puts AWSPREVIOUS on the version that had it", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(60) }),
    );
    await client.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: "v2",
        ClientRequestToken: token(61),
        VersionStages: ["AWSPENDING"],
      }),
    );

    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: name,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: token(61),
        RemoveFromVersionId: token(60),
      }),
    );

    expect(await stagesOf(name)).toEqual({
      [token(60)]: ["AWSPREVIOUS"],
      [token(61)]: ["AWSPENDING", "AWSCURRENT"],
    });
  });

  it("refuses to move a stage without naming the version that holds it", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(70) }),
    );
    await client.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: "v2",
        ClientRequestToken: token(71),
        VersionStages: ["AWSPENDING"],
      }),
    );

    await expect(
      client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: name,
          VersionStage: "AWSCURRENT",
          MoveToVersionId: token(71),
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });

  it("removes a custom stage, and refuses to remove AWSCURRENT without a move", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(80) }),
    );
    await client.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: "v2",
        ClientRequestToken: token(81),
        VersionStages: ["blue"],
      }),
    );

    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: name,
        VersionStage: "blue",
        RemoveFromVersionId: token(81),
      }),
    );

    expect(await stagesOf(name)).toEqual({ [token(80)]: ["AWSCURRENT"] });
    await expect(
      client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: name,
          VersionStage: "AWSCURRENT",
          RemoveFromVersionId: token(80),
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });
});

describe("ListSecretVersionIds", () => {
  it("lists labelled versions, and deprecated ones when asked", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(90) }),
    );
    await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "v2", ClientRequestToken: token(91) }),
    );
    await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "v3", ClientRequestToken: token(92) }),
    );

    const labelled = await client.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    const all = await client.send(
      new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }),
    );

    expect(labelled.Versions?.map((version) => version.VersionId).sort()).toEqual([token(91), token(92)]);
    expect(all.Versions?.map((version) => version.VersionId).sort()).toEqual([
      token(90),
      token(91),
      token(92),
    ]);
  });
});

describe("UpdateSecret", () => {
  it("updates the description and stores a new AWSCURRENT value", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));

    await client.send(
      new UpdateSecretCommand({ SecretId: name, Description: "orders database", SecretString: "v2" }),
    );

    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.Description).toBe("orders database");
    expect((await client.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe("v2");
  });

  it("changes nothing, description included, when the new value is refused", async () => {
    const name = uniqueName();
    const token = "33333333-3333-4333-8333-333333333333";
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1", Description: "kept" }));
    await client.send(
      new UpdateSecretCommand({ SecretId: name, SecretString: "v2", ClientRequestToken: token }),
    );

    await expect(
      client.send(
        new UpdateSecretCommand({
          SecretId: name,
          SecretString: "v3",
          ClientRequestToken: token,
          Description: "changed",
        }),
      ),
    ).rejects.toMatchObject({ name: "ResourceExistsException" });

    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.Description).toBe("kept");
    expect((await client.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe("v2");
  });

  it("refuses a description over 2048 characters with ValidationException, changing nothing", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1", Description: "kept" }));

    await expect(
      client.send(new UpdateSecretCommand({ SecretId: name, Description: "d".repeat(2049) })),
    ).rejects.toMatchObject({ name: "ValidationException" });

    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.Description).toBe("kept");
  });
});

describe("ListSecrets", () => {
  it("filters by name prefix and tag, negates with !, and pages with NextToken", async () => {
    const prefix = `list-${Date.now()}`;
    for (const [index, environment] of ["prod", "prod", "staging"].entries()) {
      await client.send(
        new CreateSecretCommand({
          Name: `${prefix}/${environment}/${index}`,
          SecretString: "x",
          Tags: [{ Key: "env", Value: environment }],
        }),
      );
    }

    const firstPage = await client.send(
      new ListSecretsCommand({ Filters: [{ Key: "name", Values: [`${prefix}/`] }], MaxResults: 2 }),
    );
    const secondPage = await client.send(
      new ListSecretsCommand({
        Filters: [{ Key: "name", Values: [`${prefix}/`] }],
        MaxResults: 2,
        NextToken: firstPage.NextToken,
      }),
    );
    const notProd = await client.send(
      new ListSecretsCommand({
        Filters: [
          { Key: "name", Values: [`${prefix}/`] },
          { Key: "tag-value", Values: ["!prod"] },
        ],
      }),
    );

    expect(firstPage.SecretList).toHaveLength(2);
    expect(secondPage.SecretList).toHaveLength(1);
    expect(secondPage.NextToken).toBeUndefined();
    expect(notProd.SecretList?.map((secret) => secret.Name)).toEqual([`${prefix}/staging/2`]);
  });
});

describe("DeleteSecret", () => {
  it("schedules deletion, hides the value, and RestoreSecret brings it back", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));

    const deleted = await client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));

    expect(deleted.DeletionDate!.getTime()).toBeGreaterThan(Date.now() + 6 * 24 * 3600 * 1000);
    await expect(client.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toBeInstanceOf(
      InvalidRequestException,
    );
    expect((await client.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate).toBeInstanceOf(
      Date,
    );
    await client.send(new RestoreSecretCommand({ SecretId: name }));
    expect((await client.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe("v1");
  });

  it("removes the secret at once with ForceDeleteWithoutRecovery, freeing the name", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));

    await client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));

    await expect(client.send(new DescribeSecretCommand({ SecretId: name }))).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "again" }));
  });

  it("refuses a recovery window together with force deletion", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));

    await expect(
      client.send(
        new DeleteSecretCommand({
          SecretId: name,
          ForceDeleteWithoutRecovery: true,
          RecoveryWindowInDays: 7,
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });
});

describe("TagResource and resource policies", () => {
  it("adds and removes tags", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", Tags: [{ Key: "a", Value: "1" }] }),
    );

    await client.send(
      new TagResourceCommand({ SecretId: name, Tags: [{ Key: "vigil:rotation", Value: "ibkr" }] }),
    );
    await client.send(new UntagResourceCommand({ SecretId: name, TagKeys: ["a"] }));

    expect((await client.send(new DescribeSecretCommand({ SecretId: name }))).Tags).toEqual([
      { Key: "vigil:rotation", Value: "ibkr" },
    ]);
  });

  it("stores a policy, blocks a public one by default, and deletes it", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));
    const publicPolicy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: "*", Action: "secretsmanager:GetSecretValue", Resource: "*" },
      ],
    });

    await expect(
      client.send(new PutResourcePolicyCommand({ SecretId: name, ResourcePolicy: publicPolicy })),
    ).rejects.toBeInstanceOf(PublicPolicyException);
    await client.send(
      new PutResourcePolicyCommand({
        SecretId: name,
        ResourcePolicy: publicPolicy,
        BlockPublicPolicy: false,
      }),
    );
    expect((await client.send(new GetResourcePolicyCommand({ SecretId: name }))).ResourcePolicy).toBe(
      publicPolicy,
    );
    await client.send(new DeleteResourcePolicyCommand({ SecretId: name }));
    expect(
      (await client.send(new GetResourcePolicyCommand({ SecretId: name }))).ResourcePolicy,
    ).toBeUndefined();
  });
});

describe("GetRandomPassword", () => {
  it("honours the length, exclusions and one character of each included type", async () => {
    const { RandomPassword } = await client.send(
      new GetRandomPasswordCommand({
        PasswordLength: 40,
        ExcludeCharacters: ":/@\"'\\",
        IncludeSpace: false,
      }),
    );

    expect(RandomPassword).toHaveLength(40);
    expect(RandomPassword).not.toMatch(/[:/@"'\\ ]/);
    expect(RandomPassword).toMatch(/[a-z]/);
    expect(RandomPassword).toMatch(/[A-Z]/);
    expect(RandomPassword).toMatch(/[0-9]/);
  });

  it("leaves out excluded classes", async () => {
    const { RandomPassword } = await client.send(
      new GetRandomPasswordCommand({ PasswordLength: 64, ExcludePunctuation: true, ExcludeUppercase: true }),
    );

    expect(RandomPassword).toMatch(/^[a-z0-9]{64}$/);
  });

  it("refuses a policy that excludes every character", async () => {
    await expect(
      client.send(
        new GetRandomPasswordCommand({
          ExcludeLowercase: true,
          ExcludeUppercase: true,
          ExcludeNumbers: true,
          ExcludePunctuation: true,
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidParameterException);
  });
});

describe("RotateSecret", () => {
  it("creates an empty AWSPENDING version before createSecret runs, then drives the four steps", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(100) }),
    );
    const seen: { step: string; pendingReadable: boolean; stages: Record<string, string[]> }[] = [];
    const template = templateHandler();
    rotationStep = async (event, context) => {
      const pendingReadable = await client
        .send(
          new GetSecretValueCommand({
            SecretId: event.SecretId,
            VersionId: event.ClientRequestToken,
            VersionStage: "AWSPENDING",
          }),
        )
        .then(
          () => true,
          () => false,
        );
      seen.push({ step: event.Step, pendingReadable, stages: await stagesOf(event.SecretId) });
      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
      await template(event, context);
    };

    const rotated = await client.send(
      new RotateSecretCommand({
        SecretId: name,
        RotationLambdaARN: rotationFunction,
        ClientRequestToken: token(101),
      }),
    );

    expect(rotated.VersionId).toBe(token(101));
    expect(seen.map((entry) => entry.step)).toEqual([
      "createSecret",
      "setSecret",
      "testSecret",
      "finishSecret",
    ]);
    expect(seen[0]).toEqual({
      step: "createSecret",
      pendingReadable: false,
      stages: { [token(100)]: ["AWSCURRENT"], [token(101)]: ["AWSPENDING"] },
    });
    expect(seen[1]?.pendingReadable).toBe(true);
    expect(await stagesOf(name)).toEqual({
      [token(100)]: ["AWSPREVIOUS"],
      [token(101)]: ["AWSPENDING", "AWSCURRENT"],
    });
    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.RotationEnabled).toBe(true);
    expect(described.LastRotatedDate).toBeInstanceOf(Date);
    const events = sandbox
      .cloudTrailRecords()
      .filter(
        (record) =>
          record.eventType === "AwsServiceEvent" && record.additionalEventData?.SecretId === rotated.ARN,
      );
    expect(events.map((record) => record.eventName)).toEqual(["RotationStarted", "RotationSucceeded"]);
  });

  it("leaves AWSPENDING in place and records RotationFailed when a step fails", async () => {
    const name = uniqueName();
    const { ARN } = await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(110) }),
    );
    rotationStep = templateHandler("testSecret");

    await client.send(
      new RotateSecretCommand({
        SecretId: name,
        RotationLambdaARN: rotationFunction,
        ClientRequestToken: token(111),
      }),
    );

    expect(await stagesOf(name)).toEqual({ [token(110)]: ["AWSCURRENT"], [token(111)]: ["AWSPENDING"] });
    const failed = sandbox
      .cloudTrailRecords()
      .find(
        (record) => record.eventName === "RotationFailed" && record.additionalEventData?.SecretId === ARN,
      );
    expect(failed?.errorMessage).toBe(
      `Error when executing lambda ${rotationFunction} during testSecret step`,
    );
    expect(sandbox.rotations().find((rotation) => rotation.secretArn === ARN)?.failure).toEqual({
      step: "testSecret",
      message: "testSecret failed on purpose",
    });
  });

  it("refuses a second rotation while the first is unfinished", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));
    rotationStep = templateHandler("setSecret");
    await client.send(new RotateSecretCommand({ SecretId: name, RotationLambdaARN: rotationFunction }));

    await expect(client.send(new RotateSecretCommand({ SecretId: name }))).rejects.toThrow(
      "A previous rotation isn't complete",
    );
  });

  it("abandons an unfinished rotation when a new AWSCURRENT value is put by hand", async () => {
    const name = uniqueName();
    const { ARN } = await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(130) }),
    );
    rotationStep = templateHandler("setSecret");
    await client.send(
      new RotateSecretCommand({
        SecretId: name,
        RotationLambdaARN: rotationFunction,
        ClientRequestToken: token(131),
      }),
    );

    await client.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: "by hand", ClientRequestToken: token(132) }),
    );

    expect(await stagesOf(name)).toEqual({ [token(130)]: ["AWSPREVIOUS"], [token(132)]: ["AWSCURRENT"] });
    expect(
      sandbox
        .cloudTrailRecords()
        .filter((record) => record.additionalEventData?.SecretId === ARN)
        .map((record) => record.eventName),
    ).toEqual(["RotationStarted", "RotationFailed", "RotationAbandoned"]);
    rotationStep = templateHandler();
    await client.send(new RotateSecretCommand({ SecretId: name }));
    expect(
      sandbox
        .rotations()
        .filter((rotation) => rotation.secretArn === ARN)
        .at(-1)?.status,
    ).toBe("succeeded");
  });

  it("fails the rotation when finishSecret does not make the pending version AWSCURRENT", async () => {
    const name = uniqueName();
    const { ARN } = await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));
    rotationStep = async () => undefined;

    await client.send(new RotateSecretCommand({ SecretId: name, RotationLambdaARN: rotationFunction }));

    expect(sandbox.rotations().find((rotation) => rotation.secretArn === ARN)?.status).toBe("failed");
  });

  it("refuses a secret without a rotation function", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));

    await expect(client.send(new RotateSecretCommand({ SecretId: name }))).rejects.toBeInstanceOf(
      InvalidRequestException,
    );
  });

  it("refuses to rotate when the rotation handler module cannot be loaded", async () => {
    const broken = await startSandbox({ rotationLambda: "/nonexistent/rotate.mjs" });
    const brokenClient = new SecretsManagerClient({ ...broken.clientConfig(), maxAttempts: 1 });
    try {
      await brokenClient.send(new CreateSecretCommand({ Name: "broken/secret", SecretString: "v1" }));

      const failure = brokenClient.send(
        new RotateSecretCommand({ SecretId: "broken/secret", RotationLambdaARN: rotationFunction }),
      );

      await expect(failure).rejects.toMatchObject({
        name: "AccessDeniedException",
        message: expect.stringContaining("cannot import rotation handler /nonexistent/rotate.mjs"),
      });
    } finally {
      brokenClient.destroy();
      await broken.stop();
    }
  });

  it("only configures rotation when RotateImmediately is false", async () => {
    const name = uniqueName();
    await client.send(
      new CreateSecretCommand({ Name: name, SecretString: "v1", ClientRequestToken: token(120) }),
    );
    let calls = 0;
    rotationStep = async () => {
      calls += 1;
    };

    await client.send(
      new RotateSecretCommand({
        SecretId: name,
        RotationLambdaARN: rotationFunction,
        RotationRules: { AutomaticallyAfterDays: 30 },
        RotateImmediately: false,
      }),
    );

    expect(calls).toBe(0);
    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.RotationRules?.AutomaticallyAfterDays).toBe(30);
    expect(described.NextRotationDate).toBeInstanceOf(Date);
    expect(await stagesOf(name)).toEqual({ [token(120)]: ["AWSCURRENT"] });
  });
});

describe("CancelRotateSecret", () => {
  it("turns rotation off and names the unfinished pending version", async () => {
    const name = uniqueName();
    await client.send(new CreateSecretCommand({ Name: name, SecretString: "v1" }));
    rotationStep = templateHandler("setSecret");
    const rotated = await client.send(
      new RotateSecretCommand({ SecretId: name, RotationLambdaARN: rotationFunction }),
    );

    const cancelled = await client.send(new CancelRotateSecretCommand({ SecretId: name }));

    expect(cancelled.VersionId).toBe(rotated.VersionId);
    expect((await client.send(new DescribeSecretCommand({ SecretId: name }))).RotationEnabled).toBe(false);
  });
});

describe("CloudTrail records of Secrets Manager calls", () => {
  it("never contain a secret value or a generated password", async () => {
    const name = uniqueName();
    const value = "s3cr3t-value-that-must-not-leak";
    await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: `${value}-2` }));
    await client.send(new UpdateSecretCommand({ SecretId: name, SecretString: `${value}-3` }));
    await client.send(new GetSecretValueCommand({ SecretId: name }));
    const { RandomPassword } = await client.send(new GetRandomPasswordCommand({ PasswordLength: 48 }));

    const serialized = JSON.stringify(sandbox.cloudTrailRecords());

    expect(serialized).not.toContain(value);
    expect(serialized).not.toContain(RandomPassword);
    const put = sandbox
      .cloudTrailRecords()
      .find((record) => record.eventName === "PutSecretValue" && record.requestParameters?.secretId === name);
    expect(put?.requestParameters).toEqual({ secretId: name, clientRequestToken: expect.any(String) });
    expect(put?.responseElements).toMatchObject({
      arn: expect.stringContaining(name),
      versionStages: ["AWSCURRENT"],
    });
  });

  it("records a failed call with its error code", async () => {
    await client.send(new GetSecretValueCommand({ SecretId: "prod/guess-1" })).catch(() => undefined);

    const record = sandbox
      .cloudTrailRecords()
      .findLast((candidate) => candidate.eventName === "GetSecretValue");

    expect(record).toMatchObject({
      errorCode: "ResourceNotFoundException",
      errorMessage: "Secrets Manager can't find the specified secret.",
      requestParameters: { secretId: "prod/guess-1" },
      responseElements: null,
      readOnly: true,
    });
  });
});

describe("RotateSecret with the Lambda-like options", () => {
  it("answers before the steps run when rotateAsynchronously is set", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const steps: string[] = [];
    const asynchronous = await startSandbox({
      rotateAsynchronously: true,
      rotationLambda: async (event) => {
        await gate;
        steps.push(event.Step);
      },
    });
    const asyncClient = new SecretsManagerClient({ ...asynchronous.clientConfig(), maxAttempts: 1 });
    try {
      await asyncClient.send(new CreateSecretCommand({ Name: "async/secret", SecretString: "v1" }));

      await asyncClient.send(
        new RotateSecretCommand({ SecretId: "async/secret", RotationLambdaARN: rotationFunction }),
      );
      const stepsWhenAnswered = [...steps];
      release();
      await asynchronous.rotationsSettled();

      expect(stepsWhenAnswered).toEqual([]);
      expect(steps).toEqual(["createSecret", "setSecret", "testSecret", "finishSecret"]);
    } finally {
      asyncClient.destroy();
      await asynchronous.stop();
    }
  });

  it("fails a step that outlives rotationTimeoutMs like a Lambda timeout", async () => {
    const slow = await startSandbox({
      rotationTimeoutMs: 50,
      rotationLambda: () => new Promise(() => undefined),
    });
    const slowClient = new SecretsManagerClient({ ...slow.clientConfig(), maxAttempts: 1 });
    try {
      await slowClient.send(new CreateSecretCommand({ Name: "slow/secret", SecretString: "v1" }));

      await slowClient.send(
        new RotateSecretCommand({ SecretId: "slow/secret", RotationLambdaARN: rotationFunction }),
      );

      expect(slow.rotations()[0]?.failure).toEqual({
        step: "createSecret",
        message: "Task timed out after 0.05 seconds",
      });
    } finally {
      slowClient.destroy();
      await slow.stop();
    }
  });
});
