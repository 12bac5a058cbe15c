import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  type SecretsManagerClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  UpdateSecretVersionStageCommand,
  type UpdateSecretVersionStageCommandInput,
} from "@aws-sdk/client-secrets-manager";
import type { AwsStub } from "aws-sdk-client-mock";

type SecretsManagerMock = AwsStub<ServiceInputTypes, ServiceOutputTypes, SecretsManagerClientResolvedConfig>;

/**
 * Keeps one secret's staging labels in memory behind a mocked Secrets Manager client, so a test can run a
 * step, fail it part-way, and retry it against what the first attempt left: DescribeSecret answers the
 * current labels, UpdateSecretVersionStage moves and removes them as the service does. `fail` may refuse a
 * call (e.g. a throttled cleanup) by returning the error to throw.
 */
export function versionStages(
  mock: SecretsManagerMock,
  secret: Omit<DescribeSecretCommandOutput, "$metadata" | "VersionIdsToStages">,
  initial: Record<string, string[]>,
  fail: (input: UpdateSecretVersionStageCommandInput) => Error | undefined = () => undefined,
): () => Record<string, string[]> {
  const stages = new Map(Object.entries(initial).map(([id, labels]) => [id, new Set(labels)]));
  const snapshot = () => Object.fromEntries([...stages].map(([id, labels]) => [id, [...labels]]));
  mock.on(DescribeSecretCommand, { SecretId: secret.ARN }).callsFake(() => ({
    ...secret,
    VersionIdsToStages: snapshot(),
  }));
  mock.on(UpdateSecretVersionStageCommand).callsFake((input: UpdateSecretVersionStageCommandInput) => {
    const error = fail(input);
    if (error) throw error;
    const label = input.VersionStage!;
    if (input.RemoveFromVersionId) stages.get(input.RemoveFromVersionId)?.delete(label);
    if (input.MoveToVersionId) {
      for (const labels of stages.values()) labels.delete(label);
      stages.get(input.MoveToVersionId)?.add(label);
      // Like the service: the version that loses AWSCURRENT becomes AWSPREVIOUS.
      if (label === "AWSCURRENT" && input.RemoveFromVersionId) {
        for (const labels of stages.values()) labels.delete("AWSPREVIOUS");
        stages.get(input.RemoveFromVersionId)?.add("AWSPREVIOUS");
      }
    }
    return { ARN: secret.ARN, Name: secret.Name };
  });
  return snapshot;
}
