import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
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
import { registerSecret, registerSecretFields } from "../../../../lib/redaction.ts";
import { IbkrStagingUntrustedError } from "./errors.ts";

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
 * aws/secretsmanager key) and tagged; an existing one gets a new AWSCURRENT version, and one scheduled for
 * deletion is restored first, but only when it passes `stagingTrustProblems` (else
 * IbkrStagingUntrustedError, nothing written). Returns its ARN.
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
        Description: stagingDescription(input.targetName),
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
    const scheduledForDeletion = error instanceof InvalidRequestException && /deletion/i.test(error.message);
    if (!scheduledForDeletion && !(error instanceof ResourceExistsException)) throw error;
    // Someone else's secret of that name could carry a resource policy that lets them read the new password.
    await assertTrustedStaging(client, name, { targetArn: input.targetArn, kmsKeyId: input.kmsKeyId });
    if (scheduledForDeletion) await client.send(new RestoreSecretCommand({ SecretId: name }));
  }
  const put = await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: secretString }));
  // A replaced staging starts with a clean progress line.
  await client.send(
    new UpdateSecretCommand({ SecretId: name, Description: stagingDescription(input.targetName) }),
  );
  return put.ARN ?? name;
}

/** What a staging secret must show, besides its name, to be trusted: see `stagingTrustProblems`. */
export interface StagingExpectations {
  /** The secret the staging is for. */
  targetArn: string;
  /** The KMS key it must be encrypted with; undefined means the account's aws/secretsmanager key. */
  kmsKeyId: string | undefined;
}

/** The staging secret's metadata (also when scheduled for deletion); undefined when it does not exist. */
export async function describeStagingSecret(
  client: SecretsManagerClient,
  stagingName: string,
): Promise<DescribeSecretCommandOutput | undefined> {
  try {
    return await client.send(new DescribeSecretCommand({ SecretId: stagingName }));
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/**
 * Why a staging secret cannot be trusted, empty when it can. Anyone allowed to create a secret of that name
 * can plant one, so the name proves nothing, and neither do tags alone (their writer chooses them). What an
 * attacker cannot forge is the KMS key: writing a value under a key takes kms:GenerateDataKey on it, which the
 * key's policy grants only to those allowed to stage. Tags, owner and region are checked too, as consistency.
 */
export function stagingTrustProblems(
  metadata: DescribeSecretCommandOutput,
  expected: StagingExpectations,
): string[] {
  const problems: string[] = [];
  const expectedKey = kmsKeyLabel(expected.kmsKeyId);
  if (!sameKmsKey(metadata.KmsKeyId, expected.kmsKeyId, expected.targetArn)) {
    problems.push(
      `it is encrypted with KMS key ${kmsKeyLabel(metadata.KmsKeyId)}, not the expected ${expectedKey}`,
    );
  }
  const tag = (key: string) => metadata.Tags?.find((entry) => entry.Key === key)?.Value;
  if (tag(STAGING_FOR_TAG) !== expected.targetArn) {
    problems.push(`its tag ${STAGING_FOR_TAG} is ${quoted(tag(STAGING_FOR_TAG))}, not ${expected.targetArn}`);
  }
  if (tag(STAGING_PURPOSE_TAG) !== STAGING_PURPOSE) {
    problems.push(
      `its tag ${STAGING_PURPOSE_TAG} is ${quoted(tag(STAGING_PURPOSE_TAG))}, not ${STAGING_PURPOSE}`,
    );
  }
  if (metadata.OwningService) problems.push(`it is managed by ${metadata.OwningService}`);
  const [target, staging] = [arnLocation(expected.targetArn), arnLocation(metadata.ARN ?? "")];
  if (staging.account !== target.account || staging.region !== target.region) {
    problems.push(`it lives in ${staging.account || "?"}/${staging.region || "?"}, not beside its target`);
  }
  if (metadata.PrimaryRegion && metadata.PrimaryRegion !== target.region) {
    problems.push(`it is a replica written in ${metadata.PrimaryRegion}`);
  }
  return problems;
}

async function assertTrustedStaging(
  client: SecretsManagerClient,
  name: string,
  expected: StagingExpectations,
): Promise<void> {
  const metadata = await describeStagingSecret(client, name);
  const problems = metadata
    ? stagingTrustProblems(metadata, expected)
    : ["it disappeared while being written"];
  if (problems.length === 0) return;
  throw new IbkrStagingUntrustedError(
    `The existing staging secret ${name} cannot be trusted: ${problems.join("; ")}. Nothing was written. ` +
      "Check in CloudTrail who created it, delete it " +
      `(\`aws secretsmanager delete-secret --secret-id ${name} --force-delete-without-recovery\`) and stage again.`,
  );
}

const DEFAULT_KMS_ALIAS = "alias/aws/secretsmanager";

/** A key identifier as DescribeSecret or an operator may give it: id, alias, key ARN or alias ARN. */
function kmsKeyReference(keyId: string | undefined, targetArn: string) {
  const target = arnLocation(targetArn);
  const value = keyId?.trim() || DEFAULT_KMS_ALIAS;
  if (value.startsWith("arn:")) {
    const [, , , region = "", account = "", ...resource] = value.split(":");
    return { region, account, resource: resource.join(":") };
  }
  const resource = value.startsWith("alias/") ? value : `key/${value}`;
  return { region: target.region, account: target.account, resource };
}

function sameKmsKey(actual: string | undefined, expected: string | undefined, targetArn: string): boolean {
  const [a, b] = [kmsKeyReference(actual, targetArn), kmsKeyReference(expected, targetArn)];
  return a.resource === b.resource && a.account === b.account && a.region === b.region;
}

function kmsKeyLabel(keyId: string | undefined): string {
  return keyId?.trim() || "aws/secretsmanager (the account's default key)";
}

function arnLocation(arn: string): { region: string; account: string } {
  const [, , , region = "", account = ""] = arn.split(":");
  return { region, account };
}

function quoted(value: string | undefined): string {
  return value === undefined ? "missing" : `"${value}"`;
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

function stagingDescription(targetName: string): string {
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
  const prefix = `${stagingDescription(targetName)} ${PROGRESS_MARKER}`;
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
