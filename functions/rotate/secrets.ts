import {
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { registerSecret, registerSecretFields } from "../../lib/redaction.ts";
import { SecretFormatError } from "./errors.ts";

export const AWSCURRENT = "AWSCURRENT";
export const AWSPENDING = "AWSPENDING";
export const AWSPREVIOUS = "AWSPREVIOUS";

/** A secret's value parsed as a JSON object. */
export type SecretJson = Record<string, unknown>;

/** The version id that carries `stage`, from DescribeSecret's VersionIdsToStages. */
export function versionWithStage(metadata: DescribeSecretCommandOutput, stage: string): string | undefined {
  for (const [versionId, stages] of Object.entries(metadata.VersionIdsToStages ?? {})) {
    if (stages.includes(stage)) return versionId;
  }
  return undefined;
}

/**
 * Reads one version's value as JSON, by stage and (when given) by version id too, so a pending value
 * is never confused with another version. Every secret field is registered for redaction before use.
 */
export async function getSecretJson(
  client: SecretsManagerClient,
  secretArn: string,
  stage: string,
  versionId?: string,
): Promise<SecretJson> {
  const response = await client.send(
    new GetSecretValueCommand({
      SecretId: secretArn,
      VersionStage: stage,
      ...(versionId ? { VersionId: versionId } : {}),
    }),
  );
  const text = response.SecretString;
  registerSecret(text);
  const where = `${secretArn} (${stage}${versionId ? ` version ${versionId}` : ""})`;
  if (text === undefined)
    throw new SecretFormatError(`Secret ${where} has no SecretString (binary secrets are not supported)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SecretFormatError(`Secret ${where} is not valid JSON`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new SecretFormatError(`Secret ${where} must be a JSON object`);
  }
  registerSecretFields(parsed);
  return parsed as SecretJson;
}

/** Reads the pending value of `token`, or undefined when that version has no value yet. */
export async function getPendingJson(
  client: SecretsManagerClient,
  secretArn: string,
  token: string,
): Promise<SecretJson | undefined> {
  try {
    return await getSecretJson(client, secretArn, AWSPENDING, token);
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/**
 * Stores `value` as the AWSPENDING version `token`. Returns false when a concurrent invocation stored
 * a different value under the same token first (Secrets Manager's idempotency answers
 * ResourceExistsException); the caller then re-reads and uses the stored value.
 */
export async function putPendingOnce(
  client: SecretsManagerClient,
  secretArn: string,
  token: string,
  value: SecretJson,
): Promise<boolean> {
  registerSecretFields(value);
  try {
    await client.send(
      new PutSecretValueCommand({
        SecretId: secretArn,
        ClientRequestToken: token,
        SecretString: JSON.stringify(value),
        VersionStages: [AWSPENDING],
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ResourceExistsException) return false;
    throw error;
  }
}

/**
 * Label Vigil puts on the version whose rotation it has announced (`secret.rotated`, consumer restarts), so
 * that a retried finishSecret never announces it again. It moves to each new version like AWSCURRENT does.
 */
export const ANNOUNCED_LABEL = "VIGIL_ANNOUNCED";

/**
 * Moves AWSCURRENT to `token` (Secrets Manager puts AWSPREVIOUS on the old current version). Returns false
 * when `token` already was current. The AWSPENDING label stays until `removePendingLabel`, so a
 * finishSecret interrupted in between can be recognised and completed.
 */
export function moveCurrentTo(
  client: SecretsManagerClient,
  metadata: DescribeSecretCommandOutput,
  token: string,
): Promise<boolean> {
  return moveLabel(client, metadata, AWSCURRENT, token);
}

/** Moves `label` to `token`, taking it from the version that holds it; false when `token` already has it. */
export async function moveLabel(
  client: SecretsManagerClient,
  metadata: DescribeSecretCommandOutput,
  label: string,
  token: string,
): Promise<boolean> {
  const holder = versionWithStage(metadata, label);
  if (holder === token) return false;
  await client.send(
    new UpdateSecretVersionStageCommand({
      SecretId: metadata.ARN!,
      VersionStage: label,
      MoveToVersionId: token,
      ...(holder ? { RemoveFromVersionId: holder } : {}),
    }),
  );
  return true;
}

/** Removes the AWSPENDING label from `token`: the last write of a finished rotation. */
export async function removePendingLabel(
  client: SecretsManagerClient,
  secretArn: string,
  token: string,
): Promise<void> {
  await client.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretArn,
      VersionStage: AWSPENDING,
      RemoveFromVersionId: token,
    }),
  );
}
