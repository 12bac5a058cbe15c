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
  type SecretsManagerClient,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import * as z from "zod/mini";
import { registerSecret, registerSecretFields } from "../../../lib/redaction.ts";

/**
 * The staging secret: how `vigil ibkr stage` hands a new IBKR password to the rotation without relying on
 * undocumented RotateSecret behaviour. It is a separate, short-lived secret named `<target>/vigil-staging`
 * (KMS-encrypted, tagged), written by the operator, consumed by createSecret (which stores the pending
 * version under Secrets Manager's own token) and force-deleted by finishSecret. Its Description doubles as
 * a progress channel the CLI polls, because Secrets Manager itself exposes no per-step rotation status.
 */

export const STAGING_SUFFIX = "/vigil-staging";
/** Tag on the staging secret naming the secret it is for (also what IAM conditions can match). */
export const STAGING_FOR_TAG = "vigil:staging-for";
export const STAGING_PURPOSE_TAG = "vigil:purpose";
export const STAGING_PURPOSE = "ibkr-staging";
const STAGING_KIND = "vigil.ibkr-staging/v1";
const PROGRESS_MARKER = "[progress] ";
/** Secrets Manager refuses a longer Description (ValidationException). */
const MAX_DESCRIPTION_CHARS = 2_048;

/** The staging secret's name for a target secret name. */
export function stagingSecretName(targetName: string): string {
  return `${targetName}${STAGING_SUFFIX}`;
}

const stagedValueSchema = z.object({
  kind: z.literal(STAGING_KIND),
  targetArn: z.string().check(z.minLength(1)),
  /** AWSCURRENT version of the target when the value was staged: a later change makes the staging stale. */
  basedOnVersionId: z.string().check(z.minLength(1)),
  password: z.string(),
  api_key: z.optional(z.string()),
  stagedAt: z.string(),
  stagedBy: z.optional(z.string()),
});
export type StagedValue = z.infer<typeof stagedValueSchema>;

/** Builds the staging secret's value. */
export function stagedValue(input: Omit<StagedValue, "kind">): StagedValue {
  return { kind: STAGING_KIND, ...input };
}

export type StagingRead =
  | { state: "absent" }
  | { state: "invalid"; arn: string; problems: string[] }
  | { state: "staged"; arn: string; versionId: string; value: StagedValue };

/** Reads the staging secret; one marked for deletion counts as absent. Registers its values for redaction. */
export async function readStaging(client: SecretsManagerClient, stagingName: string): Promise<StagingRead> {
  let response: Awaited<ReturnType<typeof getValue>>;
  try {
    response = await getValue(client, stagingName);
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return { state: "absent" };
    // Secrets Manager answers InvalidRequestException for a secret scheduled for deletion.
    if (error instanceof InvalidRequestException && /deletion/i.test(error.message))
      return { state: "absent" };
    throw error;
  }
  const arn = response.ARN ?? stagingName;
  registerSecret(response.SecretString);
  let json: unknown;
  try {
    json = JSON.parse(response.SecretString ?? "");
  } catch {
    return { state: "invalid", arn, problems: ["its value is not JSON"] };
  }
  registerSecretFields(json);
  const parsed = stagedValueSchema.safeParse(json);
  if (!parsed.success) {
    return {
      state: "invalid",
      arn,
      problems: parsed.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`),
    };
  }
  return { state: "staged", arn, versionId: response.VersionId ?? "", value: parsed.data };
}

function getValue(client: SecretsManagerClient, stagingName: string) {
  return client.send(new GetSecretValueCommand({ SecretId: stagingName }));
}

/**
 * Writes (or replaces) the staging secret. Creates it encrypted with `kmsKeyId` (undefined = the account's
 * aws/secretsmanager key) and tagged; an existing one gets a new AWSCURRENT version; one scheduled for
 * deletion is restored first. Returns its ARN.
 */
export async function writeStaging(
  client: SecretsManagerClient,
  input: { targetArn: string; targetName: string; kmsKeyId: string | undefined; value: StagedValue },
): Promise<string> {
  const name = stagingSecretName(input.targetName);
  const secretString = JSON.stringify(input.value);
  registerSecretFields(input.value);
  try {
    const created = await client.send(
      new CreateSecretCommand({
        Name: name,
        Description: describeStaging(input.targetName),
        SecretString: secretString,
        ...(input.kmsKeyId ? { KmsKeyId: input.kmsKeyId } : {}),
        Tags: [
          { Key: STAGING_FOR_TAG, Value: input.targetArn },
          { Key: STAGING_PURPOSE_TAG, Value: STAGING_PURPOSE },
        ],
      }),
    );
    return created.ARN ?? name;
  } catch (error) {
    if (error instanceof InvalidRequestException && /deletion/i.test(error.message)) {
      await client.send(new RestoreSecretCommand({ SecretId: name }));
    } else if (!(error instanceof ResourceExistsException)) {
      throw error;
    }
  }
  const put = await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: secretString }));
  // A replaced staging starts with a clean progress line.
  await client.send(
    new UpdateSecretCommand({ SecretId: name, Description: describeStaging(input.targetName) }),
  );
  return put.ARN ?? name;
}

/** Force-deletes the staging secret (no recovery window: it holds a password). False when already gone. */
export async function deleteStaging(client: SecretsManagerClient, stagingName: string): Promise<boolean> {
  try {
    await client.send(new DeleteSecretCommand({ SecretId: stagingName, ForceDeleteWithoutRecovery: true }));
    return true;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return false;
    throw error;
  }
}

function describeStaging(targetName: string): string {
  return `Vigil: new IBKR credentials staged for ${targetName}; consumed by its rotation and deleted when it finishes.`;
}

/** One step's outcome as the rotation reports it to the operator's CLI. */
export interface StagingProgress {
  step: string;
  status: "done" | "failed";
  versionId: string;
  at: string;
  /** The failure's message (already redacted); absent on success. */
  message?: string;
}

/**
 * Records a step's outcome in the staging secret's Description (no new version, no value). Best effort:
 * returns false when the staging secret is gone or the call fails, since progress is only informational.
 */
export async function recordStagingProgress(
  client: SecretsManagerClient,
  stagingName: string,
  targetName: string,
  progress: StagingProgress,
): Promise<boolean> {
  const prefix = `${describeStaging(targetName)} ${PROGRESS_MARKER}`;
  const describe = (message: string | undefined) =>
    prefix + JSON.stringify({ ...progress, ...(message === undefined ? {} : { message }) });
  // Cut the message, never the JSON, so the whole Description stays within Secrets Manager's limit.
  let message = progress.message;
  while (message && describe(message).length > MAX_DESCRIPTION_CHARS) {
    message = message.slice(
      0,
      message.length - Math.max(1, describe(message).length - MAX_DESCRIPTION_CHARS),
    );
  }
  try {
    await client.send(new UpdateSecretCommand({ SecretId: stagingName, Description: describe(message) }));
    return true;
  } catch {
    return false;
  }
}

/** Reads the last recorded progress; undefined when none was recorded or the staging secret is gone. */
export async function readStagingProgress(
  client: SecretsManagerClient,
  stagingName: string,
): Promise<StagingProgress | undefined> {
  let description: string | undefined;
  try {
    description = (await client.send(new DescribeSecretCommand({ SecretId: stagingName }))).Description;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
  const at = description?.indexOf(PROGRESS_MARKER) ?? -1;
  if (!description || at < 0) return undefined;
  try {
    const parsed = JSON.parse(description.slice(at + PROGRESS_MARKER.length)) as StagingProgress;
    return typeof parsed.step === "string" && typeof parsed.status === "string" ? parsed : undefined;
  } catch {
    return undefined;
  }
}
