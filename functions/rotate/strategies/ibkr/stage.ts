import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  ResourceNotFoundException,
  RotateSecretCommand,
  type SecretsManagerClient,
  SecretsManagerServiceException,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { registerSecret } from "../../../../lib/redaction.ts";
import { CONSUMERS_TAG } from "../../consumers.ts";
import { AWSCURRENT, AWSPENDING, versionWithStage } from "../../secrets.ts";
import { ROTATION_STEPS } from "../../strategy.ts";
import { IbkrStageError, IbkrStagingUntrustedError } from "./errors.ts";
import { IBKR_PASSWORD_MAX, IBKR_PASSWORD_MIN, ibkrPasswordProblems, parseIbkrSecret } from "./secret.ts";
import {
  readStaging,
  readStagingProgress,
  type StagingProgress,
  stagedValue,
  stagingSecretName,
  writeStaging,
} from "./staging.ts";

/**
 * The operator's side of an IBKR rotation (`vigil ibkr stage`), shared by the CLI, the demo and the tests:
 * check the new values, write the staging secret, start RotateSecret and follow it through the four steps.
 * Terminal prompting stays in the CLI, which passes it in as `askHidden`.
 */

const RUNBOOK = "docs/ibkr.md";

export interface IbkrStageOptions {
  secretId: string;
  /** Also prompt for (or read) a new api_key. */
  apiKey: boolean;
  /** Read the password (line 1) and api_key (line 2) from standard input instead of prompting. */
  stdin: boolean;
  /** Start the rotation after staging (default true). */
  rotate: boolean;
  /** Retry a rotation that failed after its values were staged, without entering them again. */
  resume: boolean;
  /** Drop a failed rotation's pending version and stage new values. */
  discardPending: boolean;
  /** KMS key for the staging secret; default VIGIL_STAGING_KMS_KEY_ID, then the target secret's key. */
  kmsKeyId: string | undefined;
  /** How long to follow the rotation before giving up watching (it goes on in AWS). */
  timeoutSeconds: number;
  pollSeconds: number;
}

/** What a scripted caller (the demo, tests) usually wants: values on stdin, rotate, follow for a minute. */
export const SCRIPTED_STAGE_OPTIONS: Omit<IbkrStageOptions, "secretId"> = {
  apiKey: false,
  stdin: true,
  rotate: true,
  resume: false,
  discardPending: false,
  kmsKeyId: undefined,
  timeoutSeconds: 60,
  pollSeconds: 1,
};

export interface IbkrStageDependencies {
  secretsManager: SecretsManagerClient;
  /** Standard input: read whole with --stdin, which refuses a terminal (it would echo the password). */
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Progress and the outcome. */
  output: NodeJS.WritableStream;
  /** Asks one question without echo (the CLI's terminal prompt); undefined when there is no terminal. */
  askHidden?: (question: string) => Promise<string>;
  sleep: (ms: number) => Promise<void>;
  now: () => Date;
  operator: () => string;
  env: Readonly<Record<string, string | undefined>>;
}

export interface IbkrStageResult {
  secretArn: string;
  stagingSecret: string;
  /** The rotation's version id; undefined with --no-rotate. */
  versionId: string | undefined;
  outcome: "staged" | "rotated";
}

/**
 * The operator step of an IBKR rotation: validate the new values against IBKR's rules and the current
 * secret before writing anything, write the staging secret, start RotateSecret and follow it through the
 * four steps. Throws IbkrStageError (never with a secret value in it) when something needs a human.
 */
export async function stageIbkrCredentials(
  options: IbkrStageOptions,
  deps: IbkrStageDependencies,
): Promise<IbkrStageResult> {
  const sm = deps.secretsManager;
  const say = (line: string) => deps.output.write(`${line}\n`);
  if (options.resume && options.discardPending) {
    throw new IbkrStageError(
      "--resume and --discard-pending contradict each other: --resume retries the failed rotation with the values it stored, " +
        "--discard-pending drops them to stage new ones; give one of them",
    );
  }

  const metadata = await describeTarget(sm, options.secretId);
  const secretArn = metadata.ARN!;
  const name = metadata.Name ?? options.secretId;
  const staging = stagingSecretName(name);
  const currentVersion = versionWithStage(metadata, AWSCURRENT);
  if (!currentVersion) throw new IbkrStageError(`Secret ${name} has no AWSCURRENT version to rotate from`);
  const current = await readCurrent(sm, secretArn, name);
  const pending = await findPending(sm, metadata);

  if (options.resume) {
    const staged = await readStaging(sm, staging);
    if (staged.state !== "staged") {
      if (!pending?.value) {
        throw new IbkrStageError(
          `Nothing to resume for ${name}: no staged values and no pending version with a value. Run \`vigil ibkr stage --secret-id ${name}\` without --resume.`,
        );
      }
      // The staging secret is gone but the pending version still holds the operator's values.
      const password = pending.value.password;
      const problems =
        typeof password === "string"
          ? ibkrPasswordProblems(password).map((problem) => `its password ${problem}`)
          : ["it holds no password (not an IBKR secret's JSON)"];
      if (typeof password !== "string" || problems.length > 0) {
        throw new IbkrStageError(
          `Cannot resume ${name} from pending version ${pending.versionId}: ${problems.join("; ")}. ` +
            `Stage new values with \`vigil ibkr stage --secret-id ${name} --discard-pending\`.`,
        );
      }
      await stageValues(sm, {
        targetArn: secretArn,
        targetName: name,
        kmsKeyId: kmsKeyFor(options, deps, metadata),
        value: stagedValue({
          targetArn: secretArn,
          basedOnVersionId: currentVersion,
          password,
          ...(pending.value.api_key !== undefined && pending.value.api_key !== current.api_key
            ? { api_key: String(pending.value.api_key) }
            : {}),
          stagedAt: deps.now().toISOString(),
          stagedBy: deps.operator(),
        }),
      });
      say(`Re-staged the values of the failed rotation (version ${pending.versionId}) in ${staging}.`);
    }
    if (pending) await releasePending(sm, secretArn, pending.versionId, say);
  } else {
    if (pending?.value && !options.discardPending) {
      throw new IbkrStageError(
        `A rotation of ${name} is already in progress or failed after storing new values (pending version ${pending.versionId}). ` +
          `If it failed at testSecret, fix the cause and run \`vigil ibkr stage --secret-id ${name} --resume\`; ` +
          `to stage different values instead, add --discard-pending. See ${RUNBOOK}.`,
      );
    }
    const values = await readNewValues(options, deps);
    const problems = ibkrPasswordProblems(values.password).map((problem) => `the new password ${problem}`);
    if (values.password === current.password)
      problems.push("the new password is the same as the current one");
    if (values.apiKey !== undefined && values.apiKey.trim() === "") problems.push("the new api_key is empty");
    if (problems.length > 0) {
      throw new IbkrStageError(
        `Nothing was written: ${problems.join("; ")}. IBKR passwords are ${IBKR_PASSWORD_MIN}–${IBKR_PASSWORD_MAX} characters with at least one letter and one digit.`,
      );
    }
    const kmsKeyId = kmsKeyFor(options, deps, metadata);
    await stageValues(sm, {
      targetArn: secretArn,
      targetName: name,
      kmsKeyId,
      value: stagedValue({
        targetArn: secretArn,
        basedOnVersionId: currentVersion,
        password: values.password,
        ...(values.apiKey === undefined ? {} : { api_key: values.apiKey }),
        stagedAt: deps.now().toISOString(),
        stagedBy: deps.operator(),
      }),
    });
    say(`Staged the new credentials in ${staging} (encrypted with ${kmsKeyId ?? "aws/secretsmanager"}).`);
    if (pending) await releasePending(sm, secretArn, pending.versionId, say);
  }

  if (!options.rotate) {
    say(
      `Not rotating (--no-rotate). Start it with \`aws secretsmanager rotate-secret --secret-id ${name}\`.`,
    );
    return { secretArn, stagingSecret: staging, versionId: undefined, outcome: "staged" };
  }
  const versionId = await startRotation(sm, secretArn, name);
  say(`Rotation started: version ${versionId}.`);
  await followRotation({ sm, secretArn, name, staging, versionId, options, deps, say });
  return { secretArn, stagingSecret: staging, versionId, outcome: "rotated" };
}

/** writeStaging, refusing (as IbkrStageError) to write into a staging secret that cannot be trusted. */
async function stageValues(sm: SecretsManagerClient, input: Parameters<typeof writeStaging>[1]) {
  try {
    return await writeStaging(sm, input);
  } catch (error) {
    if (error instanceof IbkrStagingUntrustedError) throw new IbkrStageError(error.message, { cause: error });
    throw error;
  }
}

async function describeTarget(
  sm: SecretsManagerClient,
  secretId: string,
): Promise<DescribeSecretCommandOutput> {
  try {
    return await sm.send(new DescribeSecretCommand({ SecretId: secretId }));
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      throw new IbkrStageError(
        `No secret ${secretId} in this account and region (check --secret-id and AWS_REGION)`,
      );
    }
    throw error;
  }
}

async function readCurrent(sm: SecretsManagerClient, secretArn: string, name: string) {
  const response = await sm.send(
    new GetSecretValueCommand({ SecretId: secretArn, VersionStage: AWSCURRENT }),
  );
  registerSecret(response.SecretString);
  let json: unknown;
  try {
    json = JSON.parse(response.SecretString ?? "");
  } catch {
    throw new IbkrStageError(`Secret ${name} is not JSON, so it is not an IBKR secret`);
  }
  const notIbkr = notAnIbkrSecret(json);
  if (notIbkr) {
    throw new IbkrStageError(
      `Secret ${name} is not an IBKR secret: ${notIbkr}. \`vigil ibkr stage\` stages IBKR credentials ` +
        `({${IBKR_FIELDS.join(", ")}}); database secrets rotate without an operator.`,
    );
  }
  const parsed = parseIbkrSecret(json);
  if (!parsed.ok) {
    throw new IbkrStageError(`Secret ${name} is not a valid IBKR secret: ${parsed.problems.join("; ")}`);
  }
  registerSecret(parsed.secret.password);
  registerSecret(parsed.secret.api_key);
  return parsed.secret;
}

const IBKR_FIELDS = ["username", "password", "account", "host", "port"];

/** What a secret is instead of an IBKR secret (names and kinds, never values); undefined when it is one. */
function notAnIbkrSecret(json: unknown): string | undefined {
  if (json === null || typeof json !== "object" || Array.isArray(json))
    return "its value is not a JSON object";
  const value = json as Record<string, unknown>;
  if (typeof value.engine === "string") {
    const kind =
      value.masterarn === undefined || value.masterarn === null ? "single-user" : "alternating-users";
    return `it is a ${kind} database secret (engine "${value.engine}")`;
  }
  const missing = IBKR_FIELDS.filter((field) => value[field] === undefined);
  return missing.length > 0 ? `it has no ${missing.join(", ")}` : undefined;
}

/** The AWSPENDING version of an unfinished rotation (not the current one), with its value if it has one. */
async function findPending(sm: SecretsManagerClient, metadata: DescribeSecretCommandOutput) {
  const entry = Object.entries(metadata.VersionIdsToStages ?? {}).find(
    ([, stages]) => stages.includes(AWSPENDING) && !stages.includes(AWSCURRENT),
  );
  if (!entry) return undefined;
  const [versionId] = entry;
  try {
    const response = await sm.send(
      new GetSecretValueCommand({ SecretId: metadata.ARN, VersionId: versionId, VersionStage: AWSPENDING }),
    );
    registerSecret(response.SecretString);
    // Never JSON.parse's own error: its message quotes the start of the value.
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.SecretString ?? "{}");
    } catch {
      parsed = undefined;
    }
    // A value that is not a JSON object still counts as stored values, but holds nothing to resume with.
    const value = (
      parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {}
    ) as Record<string, unknown>;
    registerSecret(typeof value.password === "string" ? value.password : undefined);
    return { versionId, value };
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return { versionId, value: undefined };
    throw error;
  }
}

/**
 * Removes AWSPENDING from an unfinished rotation's version: while it is there, RotateSecret refuses to
 * start ("A previous rotation isn't complete"), as documented for RotateSecret.
 */
async function releasePending(
  sm: SecretsManagerClient,
  secretArn: string,
  versionId: string,
  say: (line: string) => void,
) {
  await sm.send(
    new UpdateSecretVersionStageCommand({
      SecretId: secretArn,
      VersionStage: AWSPENDING,
      RemoveFromVersionId: versionId,
    }),
  );
  say(`Cleared the unfinished rotation's pending version ${versionId}.`);
}

function kmsKeyFor(
  options: IbkrStageOptions,
  deps: IbkrStageDependencies,
  metadata: DescribeSecretCommandOutput,
): string | undefined {
  return options.kmsKeyId ?? (deps.env.VIGIL_STAGING_KMS_KEY_ID?.trim() || undefined) ?? metadata.KmsKeyId;
}

async function readNewValues(
  options: IbkrStageOptions,
  deps: IbkrStageDependencies,
): Promise<{ password: string; apiKey: string | undefined }> {
  if (options.stdin) {
    // A terminal would echo what is typed: the password would stay on screen and in the scrollback.
    if (deps.input.isTTY) {
      throw new IbkrStageError(
        "--stdin reads the password from a pipe, but standard input is a terminal that would show it; leave --stdin out to be prompted without echo",
      );
    }
    const text = await readAll(deps.input);
    if (text === "") {
      throw new IbkrStageError(
        "Nothing was read from standard input: --stdin expects the new password on its first line (and the api_key on the second with --api-key); nothing was written",
      );
    }
    const [password = "", apiKey] = text.split(/\r?\n/);
    registerSecret(password);
    registerSecret(apiKey);
    if (options.apiKey && (apiKey === undefined || apiKey === "")) {
      throw new IbkrStageError(
        "--api-key with --stdin expects the api_key on the second line of standard input",
      );
    }
    return { password, apiKey: options.apiKey ? apiKey : undefined };
  }
  const ask = deps.askHidden;
  if (!ask) {
    throw new IbkrStageError(
      "Standard input is not a terminal, so the password cannot be prompted for without echo; pipe it with --stdin",
    );
  }
  const password = await ask("New IBKR password (not shown): ");
  registerSecret(password);
  const again = await ask("Repeat the new password: ");
  if (again !== password) throw new IbkrStageError("The two passwords differ; nothing was written");
  let apiKey: string | undefined;
  if (options.apiKey) {
    apiKey = await ask("New IBKR api_key (not shown): ");
    registerSecret(apiKey);
  }
  return { password, apiKey };
}

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

async function startRotation(sm: SecretsManagerClient, secretArn: string, name: string): Promise<string> {
  try {
    const response = await sm.send(new RotateSecretCommand({ SecretId: secretArn }));
    if (!response.VersionId) throw new IbkrStageError(`RotateSecret for ${name} returned no version id`);
    return response.VersionId;
  } catch (error) {
    if (error instanceof SecretsManagerServiceException && error.name === "InvalidRequestException") {
      throw new IbkrStageError(
        `Secrets Manager refused to start the rotation of ${name}: ${error.message} ` +
          "The credentials are staged; once rotation is configured (or the previous one has finished), run the command again with --resume.",
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Follows the rotation until the new version is AWSCURRENT or a step reports a failure. Secrets Manager
 * rotates asynchronously and has no per-step status, so progress comes from what the steps leave behind:
 * the strategy's note on the staging secret and the version's labels.
 */
async function followRotation(input: {
  sm: SecretsManagerClient;
  secretArn: string;
  name: string;
  staging: string;
  versionId: string;
  options: IbkrStageOptions;
  deps: IbkrStageDependencies;
  say: (line: string) => void;
}): Promise<void> {
  const { sm, secretArn, name, staging, versionId, options, deps, say } = input;
  let shown = 0;
  const show = (upTo: number, failure?: StagingProgress) => {
    for (; shown < upTo; shown += 1) say(`  ✔ ${ROTATION_STEPS[shown]}`);
    if (failure) say(`  ✘ ${failure.step}: ${failure.message ?? "failed"}`);
  };
  const deadline = deps.now().getTime() + options.timeoutSeconds * 1_000;
  let seenPending = false;
  for (;;) {
    const metadata = await sm.send(new DescribeSecretCommand({ SecretId: secretArn }));
    const stages = metadata.VersionIdsToStages?.[versionId];
    if (stages?.includes(AWSCURRENT)) {
      show(ROTATION_STEPS.length);
      const consumers = metadata.Tags?.find((tag) => tag.Key === CONSUMERS_TAG)?.Value?.trim();
      say(`Rotated: ${name} AWSCURRENT is now version ${versionId}.`);
      if (consumers) say(`ECS services asked to restart with the new credentials: ${consumers}`);
      return;
    }
    const progress = await readStagingProgress(sm, staging);
    const mine = progress?.versionId === versionId ? progress : undefined;
    if (mine) {
      const index = ROTATION_STEPS.indexOf(mine.step as (typeof ROTATION_STEPS)[number]);
      if (mine.status === "failed") {
        show(Math.max(0, index), mine);
        throw new IbkrStageError(
          `Rotation of ${name} failed at ${mine.step}; AWSCURRENT is unchanged. ${nextStep(mine.step, name)}`,
        );
      }
      show(index + 1);
    }
    if (stages) seenPending = true;
    else if (seenPending) {
      // createSecret removes the label of an attempt it refuses, so the next one can start.
      throw new IbkrStageError(
        `Rotation of ${name} stopped: version ${versionId} is no longer pending and did not become current. ` +
          `Check the rotation function's log and the rotation finding, then run \`vigil ibkr stage --secret-id ${name} --resume\`.`,
      );
    }
    if (deps.now().getTime() >= deadline) {
      throw new IbkrStageError(
        `Rotation of ${name} has not finished after ${options.timeoutSeconds} s; it goes on in AWS. ` +
          `Check again with \`aws secretsmanager describe-secret --secret-id ${name}\` (version ${versionId} becomes AWSCURRENT) or \`vigil status\`.`,
      );
    }
    await deps.sleep(options.pollSeconds * 1_000);
  }
}

function nextStep(step: string, name: string): string {
  if (step === "testSecret") {
    return (
      "The new password is stored as the pending version. Fix what the message names (gateway down, wrong host/port or account, " +
      `paper vs live port), then run \`vigil ibkr stage --secret-id ${name} --resume\`. See ${RUNBOOK}, "If testSecret fails".`
    );
  }
  return `Fix what the message names, then stage again with \`vigil ibkr stage --secret-id ${name}\`. See ${RUNBOOK}.`;
}
