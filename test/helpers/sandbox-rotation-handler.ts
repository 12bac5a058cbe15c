import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";

/**
 * A rotation function for sandbox tests, shaped like the AWS rotation templates: createSecret stores a
 * random password as AWSPENDING (once), setSecret and testSecret have nothing to change, finishSecret moves
 * AWSCURRENT. It builds its client from the environment on each call, as a Lambda would at cold start.
 */
export async function handler(event: {
  SecretId: string;
  ClientRequestToken: string;
  Step: string;
}): Promise<void> {
  const client = new SecretsManagerClient({});
  const { SecretId: secretId, ClientRequestToken: token } = event;
  if (event.Step === "createSecret") {
    try {
      await client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionId: token, VersionStage: "AWSPENDING" }),
      );
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
      const { RandomPassword } = await client.send(new GetRandomPasswordCommand({ PasswordLength: 24 }));
      await client.send(
        new PutSecretValueCommand({
          SecretId: secretId,
          ClientRequestToken: token,
          SecretString: JSON.stringify({ password: RandomPassword }),
          VersionStages: ["AWSPENDING"],
        }),
      );
    }
    return;
  }
  if (event.Step === "finishSecret") {
    const { VersionIdsToStages } = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    const current = Object.entries(VersionIdsToStages ?? {}).find(([, stages]) =>
      stages.includes("AWSCURRENT"),
    )?.[0];
    if (current === token) return;
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: token,
        RemoveFromVersionId: current,
      }),
    );
  }
}
