import { UpdateSecretVersionStageCommand } from "@aws-sdk/client-secrets-manager";
import { describeError } from "../../../../lib/errors.ts";
import { redactText } from "../../../../lib/redaction.ts";
import { SecretFormatError, TestSecretFailedError } from "../../errors.ts";
import { arnParts } from "../../outcomes.ts";
import {
  AWSCURRENT,
  AWSPENDING,
  getPendingJson,
  putPendingOnce,
  type SecretJson,
  versionWithStage,
} from "../../secrets.ts";
import type { RotationStrategy, StepContext } from "../../strategy.ts";
import {
  IbkrRotationDueError,
  IbkrStagingCleanupError,
  IbkrStagingInvalidError,
  IbkrStagingUntrustedError,
} from "./errors.ts";
import { type IbkrSecret, ibkrPasswordProblems, paperPortProblem, parseIbkrSecret } from "./secret.ts";
import { type IbkrSettings, loadIbkrSettings } from "./settings.ts";
import {
  deleteStaging,
  describeStagingSecret,
  readStaging,
  recordStagingProgress,
  type StagedValue,
  stagingSecretName,
  stagingTrustProblems,
} from "./staging.ts";
import { type TwsHandshakeError, twsHandshake } from "./tws.ts";

/**
 * IBKR credentials (docs/ibkr.md). IBKR has no API to change a password, so a human changes it
 * in the portal and stages it with `vigil ibkr stage`; this strategy consumes the staged value, verifies
 * what can be verified without a login (the gateway answers the TWS API handshake and lists the account),
 * and lets the protocol promote it and restart the consumers. It never attempts an IBKR login.
 */

export interface IbkrStrategyOptions {
  /** Settings source; by default the environment, parsed on first use. */
  settings?: () => IbkrSettings;
  handshake?: typeof twsHandshake;
  now?: () => Date;
}

/** The operator's instruction, shared by the rotation-due finding and the docs. */
export function rotationDueMessage(secretName: string): string {
  return (
    `IBKR rotation due for ${secretName}: nothing is staged. Change the password in the IBKR portal ` +
    `(Settings > User Settings > Password), then run \`vigil ibkr stage --secret-id ${secretName}\`; ` +
    "it stores the new password and starts the rotation. See docs/ibkr.md."
  );
}

/** Builds the strategy; tests pass settings, a handshake stub or a clock. */
export function createIbkrStrategy(options: IbkrStrategyOptions = {}): RotationStrategy {
  let settings: IbkrSettings | undefined;
  const currentSettings = () => {
    settings ??= options.settings?.() ?? loadIbkrSettings();
    return settings;
  };
  const handshake = options.handshake ?? twsHandshake;
  const now = options.now ?? (() => new Date());

  /** Runs one step; on failure records it for the operator's CLI before rethrowing. */
  const step = async (context: StepContext, run: () => Promise<void>): Promise<void> => {
    const names = secretNames(context);
    try {
      await run();
    } catch (error) {
      // Nothing is staged when the rotation is merely due: there is no staging secret to write to.
      if (error instanceof IbkrRotationDueError) throw error;
      await recordStagingProgress(context.secretsManager, names.staging, names.target, {
        step: context.step,
        status: "failed",
        versionId: context.token,
        at: now().toISOString(),
        message: redactText(describeError(error)),
      });
      throw error;
    }
    await recordStagingProgress(context.secretsManager, names.staging, names.target, {
      step: context.step,
      status: "done",
      versionId: context.token,
      at: now().toISOString(),
    });
  };

  return {
    name: "ibkr",

    createSecret: (context) =>
      step(context, async () => {
        const { secretsManager, secretArn, token, logger } = context;
        const current = currentIbkrSecret(context);
        const names = secretNames(context);
        const pending = await getPendingJson(secretsManager, secretArn, token);
        if (pending) {
          // A retry, or a value written straight into AWSPENDING: keep it if it is acceptable.
          assertPendingAcceptable(context, pending, current, (message) => new SecretFormatError(message));
          logger.info("pending IBKR version already has a value; keeping it", {
            secretArn,
            versionId: token,
          });
          return;
        }

        const staging = await readStaging(secretsManager, names.staging);
        if (staging.state === "absent") {
          await releaseEmptyPending(context);
          throw new IbkrRotationDueError(rotationDueMessage(names.target));
        }
        // Read after the value: a key changed in between shows here, and changing it back is not possible
        // without the expected key (re-encrypting the versions needs it).
        const untrusted = await untrustedStaging(context, currentSettings().stagingKmsKeyId);
        if (untrusted) {
          await releaseEmptyPending(context);
          throw untrusted;
        }
        const problems =
          staging.state === "invalid" ? staging.problems : stagingProblems(context, staging.value, current);
        if (problems.length > 0) {
          await releaseEmptyPending(context);
          throw new IbkrStagingInvalidError(
            `The staged IBKR credentials for ${names.target} (${names.staging}) cannot be used: ${problems.join("; ")}. ` +
              `Stage them again with \`vigil ibkr stage --secret-id ${names.target}\`.`,
          );
        }
        const staged = (staging as { value: StagedValue }).value;
        const value: SecretJson = {
          ...context.current,
          password: staged.password,
          ...(staged.api_key === undefined ? {} : { api_key: staged.api_key }),
        };
        context.deadline.check(context.step);
        if (!(await putPendingOnce(secretsManager, secretArn, token, value))) {
          // A concurrent invocation stored the pending value first: use what is stored.
          const stored = await getPendingJson(secretsManager, secretArn, token);
          if (!stored)
            throw new SecretFormatError(`Secret ${secretArn} version ${token} vanished while storing it`);
          assertPendingAcceptable(context, stored, current, (message) => new SecretFormatError(message));
        }
        logger.info("consumed the staged IBKR credentials into the pending version", {
          secretArn,
          versionId: token,
          stagingSecret: names.staging,
          stagedAt: staged.stagedAt,
          apiKeyChanged: staged.api_key !== undefined,
        });
      }),

    setSecret: (context) =>
      step(context, async () => {
        const pending = await requirePending(context);
        parsePending(context, pending, (message) => new SecretFormatError(message));
        // IBKR has no API to change a password: the operator already did it in the portal before staging.
        context.logger.info(
          "nothing to push to IBKR: the operator changed the credentials in the IBKR portal",
          {
            secretArn: context.secretArn,
            versionId: context.token,
            operatorConfirmed: true,
          },
        );
      }),

    testSecret: (context) =>
      step(context, async () => {
        const { secretArn, token, logger } = context;
        const current = currentIbkrSecret(context);
        const pending = await requirePending(context);
        const secret = assertPendingAcceptable(
          context,
          pending,
          current,
          (message) => new TestSecretFailedError(message),
        );
        const portProblem = paperPortProblem(secret);
        if (portProblem) throw new TestSecretFailedError(`Secret ${secretArn}: ${portProblem}`);

        const { verifyClientId, verifyTimeoutMs } = currentSettings();
        if (verifyClientId === secret.client_id || verifyClientId === current.client_id) {
          throw new TestSecretFailedError(
            `IBKR_VERIFY_CLIENT_ID (${verifyClientId}) equals the trading application's client_id; ` +
              "set it to an id no application uses, so the check can never knock the application's session off",
          );
        }
        context.deadline.check(context.step, 2_000);
        const where = `${secret.host}:${secret.port}`;
        let accounts: string[];
        let serverVersion: number;
        try {
          const result = await handshake({
            host: secret.host,
            port: secret.port,
            clientId: verifyClientId,
            timeoutMs: context.deadline.timeoutMs(verifyTimeoutMs),
          });
          accounts = result.managedAccounts;
          serverVersion = result.serverVersion;
        } catch (error) {
          const reason = (error as Partial<TwsHandshakeError>).reason;
          throw new TestSecretFailedError(
            `IB Gateway check failed for ${secretArn}: ${describeError(error)}. ${gatewayHint(reason, secretNames(context).target)}`,
            { cause: error },
          );
        }
        if (!accounts.includes(secret.account)) {
          throw new TestSecretFailedError(
            `IB Gateway at ${where} answered but does not manage account ${secret.account} ` +
              `(it lists ${accounts.length} account${accounts.length === 1 ? "" : "s"}): the secret's account or ` +
              "host/port points at the wrong gateway, or the gateway is logged in as another user.",
          );
        }
        logger.info("IB Gateway answered the TWS API handshake and manages the account", {
          secretArn,
          versionId: token,
          gateway: where,
          serverVersion,
          clientId: verifyClientId,
        });
      }),

    // Deleting before promotion keeps the copy's life short; a failure must never block promotion.
    async beforePromote(context) {
      const { staging } = secretNames(context);
      try {
        await deleteStaging(context.secretsManager, staging);
      } catch (error) {
        context.logger.warn("could not delete the IBKR staging secret before promotion; retrying after", {
          stagingSecret: staging,
          error,
        });
      }
    },

    async afterPromote(context) {
      const { staging } = secretNames(context);
      try {
        await deleteStaging(context.secretsManager, staging);
      } catch (error) {
        throw new IbkrStagingCleanupError(
          `Rotation of ${context.secretArn} finished, but the staging secret ${staging} could not be deleted ` +
            `(${describeError(error)}); delete it with \`aws secretsmanager delete-secret --secret-id ${staging} --force-delete-without-recovery\``,
          { cause: error },
        );
      }
    },
  };
}

/**
 * Checks that the staging secret was written by someone allowed to stage: encrypted with the configured key
 * (else the target's own key), tagged for this target, in its account and region. Returns the refusal.
 */
async function untrustedStaging(
  context: StepContext,
  configuredKey: string | undefined,
): Promise<IbkrStagingUntrustedError | undefined> {
  const { target, staging } = secretNames(context);
  const metadata = await describeStagingSecret(context.secretsManager, staging);
  const expected = { targetArn: context.secretArn, kmsKeyId: configuredKey ?? context.metadata.KmsKeyId };
  const problems = metadata ? stagingTrustProblems(metadata, expected) : ["it disappeared while being read"];
  if (problems.length === 0) return undefined;
  const keySource = configuredKey ? "IBKR_STAGING_KMS_KEY_ID" : "the key of the IBKR secret itself";
  return new IbkrStagingUntrustedError(
    `Refused the staging secret ${metadata?.ARN ?? staging} for ${target}: ${problems.join("; ")} ` +
      `(expected key: ${keySource}). Nothing was stored, promoted or restarted; the staging secret is left for investigation. ` +
      `Check in CloudTrail who created or wrote it (CreateSecret, PutSecretValue, UpdateSecret, TagResource on ${staging}). ` +
      `If an operator staged it, delete it and stage again with \`vigil ibkr stage --secret-id ${target}\` using the expected key.`,
  );
}

/** The strategy registered for `vigil:rotation=ibkr`. */
export const ibkrStrategy: RotationStrategy = /* @__PURE__ */ createIbkrStrategy();

function secretNames(context: StepContext): { target: string; staging: string } {
  const target = context.metadata.Name ?? arnParts(context.secretArn).name;
  return { target, staging: stagingSecretName(target) };
}

function currentIbkrSecret(context: StepContext): IbkrSecret {
  return parsePending(context, context.current, (message) => new SecretFormatError(message), AWSCURRENT);
}

function parsePending(
  context: StepContext,
  value: SecretJson,
  error: (message: string) => Error,
  stage = AWSPENDING,
): IbkrSecret {
  const parsed = parseIbkrSecret(value);
  if (!parsed.ok) {
    throw error(
      `Secret ${context.secretArn} (${stage}) is not a valid IBKR secret: ${parsed.problems.join("; ")}`,
    );
  }
  return parsed.secret;
}

/** Checks a pending value: IBKR shape, IBKR password rules, and a password that actually changed. */
function assertPendingAcceptable(
  context: StepContext,
  pending: SecretJson,
  current: IbkrSecret,
  error: (message: string) => Error,
): IbkrSecret {
  const secret = parsePending(context, pending, error);
  const problems = ibkrPasswordProblems(secret.password).map((problem) => `the password ${problem}`);
  if (secret.password === current.password) problems.push("the password is the same as the current one");
  if (problems.length > 0) {
    throw error(`Secret ${context.secretArn} pending version ${context.token}: ${problems.join("; ")}`);
  }
  return secret;
}

/** What is wrong with a staged value (never its content): rules, staleness, and the secret it is for. */
function stagingProblems(context: StepContext, staged: StagedValue, current: IbkrSecret): string[] {
  const problems = ibkrPasswordProblems(staged.password).map((problem) => `the password ${problem}`);
  if (staged.password === current.password) problems.push("the password is the same as the current one");
  if (staged.api_key !== undefined && staged.api_key.trim() === "") problems.push("the api_key is empty");
  if (staged.targetArn !== context.secretArn) problems.push(`it was staged for ${staged.targetArn}`);
  const currentVersion = versionWithStage(context.metadata, AWSCURRENT);
  if (staged.basedOnVersionId !== currentVersion) {
    problems.push(
      `it was staged against version ${staged.basedOnVersionId} but the current version is ${currentVersion} (the secret changed since)`,
    );
  }
  return problems;
}

async function requirePending(context: StepContext): Promise<SecretJson> {
  const pending = await getPendingJson(context.secretsManager, context.secretArn, context.token);
  if (!pending) {
    throw new SecretFormatError(
      `Secret ${context.secretArn} version ${context.token} has no value: createSecret has not stored it`,
    );
  }
  return pending;
}

/**
 * Removes AWSPENDING from the empty version Secrets Manager created for this attempt. Left in place, it
 * makes every later RotateSecret fail with "A previous rotation isn't complete" (documented for
 * RotateSecret), which would block the operator's staged rotation. Never masks the step's own error.
 */
async function releaseEmptyPending(context: StepContext): Promise<void> {
  try {
    await context.secretsManager.send(
      new UpdateSecretVersionStageCommand({
        SecretId: context.secretArn,
        VersionStage: AWSPENDING,
        RemoveFromVersionId: context.token,
      }),
    );
  } catch (error) {
    context.logger.warn("could not remove AWSPENDING from the empty version of this attempt", {
      secretArn: context.secretArn,
      versionId: context.token,
      error,
    });
  }
}

function gatewayHint(reason: string | undefined, target: string): string {
  const resume = `\`vigil ibkr stage --secret-id ${target} --resume\``;
  switch (reason) {
    case "unreachable":
      return `Start IB Gateway (or TWS) on the secret's host/port, or fix host/port, then run ${resume}.`;
    case "timeout":
    case "closed":
      return `Check that the gateway's API is enabled, this Lambda's address is a trusted IP, and the gateway is logged in; then run ${resume}.`;
    case "client-id-in-use":
      return `Another client uses the verification client id: set IBKR_VERIFY_CLIENT_ID to an unused id, then run ${resume}.`;
    default:
      return "See docs/ibkr.md, 'If testSecret fails'.";
  }
}
