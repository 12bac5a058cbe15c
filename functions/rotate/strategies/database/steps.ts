import { randomBytes } from "node:crypto";
import { GetRandomPasswordCommand, ResourceNotFoundException } from "@aws-sdk/client-secrets-manager";
import { registerSecret } from "../../../../lib/redaction.ts";
import {
  DeadlineExceededError,
  LoginRejectedError,
  PasswordNotCheckedError,
  SecretFormatError,
  TargetError,
} from "../../errors.ts";
import {
  AWSPREVIOUS,
  getPendingJson,
  getSecretJson,
  putPendingOnce,
  type SecretJson,
  versionWithStage,
} from "../../secrets.ts";
import type { StepContext } from "../../strategy.ts";
import type { ConnectOptions, CredentialLabel, DatabaseDriver, DatabaseSession } from "./driver.ts";
import {
  DATABASE_ENGINES,
  type DatabaseFamily,
  type DatabaseSecret,
  describeTarget,
  familyOf,
  parseDatabaseSecret,
  sameTarget,
} from "./secret.ts";

/** Asks Secrets Manager for a password with the configured policy and registers it for redaction. */
export async function generatePassword(context: StepContext): Promise<string> {
  const { settings } = context;
  const response = await context.secretsManager.send(
    new GetRandomPasswordCommand({
      PasswordLength: settings.passwordLength,
      ExcludeCharacters: settings.excludeCharacters,
    }),
  );
  const password = response.RandomPassword;
  registerSecret(password);
  if (!password) throw new TargetError("GetRandomPassword returned no password");
  return password;
}

/** Connection options sized from the step's deadline. */
export function connectOptions(context: StepContext, label: CredentialLabel): ConnectOptions {
  const { deadline, step, settings } = context;
  return {
    settings,
    label,
    connectTimeoutMs: deadline.timeoutMs(10_000),
    statementTimeoutMs: deadline.timeoutMs(15_000),
    beforeStatement: () => {
      deadline.check(step);
      return deadline.timeoutMs(15_000);
    },
  };
}

/**
 * Logs in with `secret`: the session, or `undefined` when the database refuses this credential.
 * Any other failure (unreachable, TLS, timeout) is thrown: it says nothing about the credential.
 */
export async function tryLogin(
  driver: DatabaseDriver,
  secret: DatabaseSecret,
  context: StepContext,
  label: CredentialLabel,
): Promise<DatabaseSession | undefined> {
  context.deadline.check(context.step);
  try {
    return await driver.connect(secret, connectOptions(context, label));
  } catch (error) {
    if (error instanceof LoginRejectedError) {
      context.logger.info("database refused a stored credential", {
        secretArn: context.secretArn,
        credential: label,
        target: describeTarget(secret),
      });
      return undefined;
    }
    throw error;
  }
}

/**
 * Refuses a target where a successful login proves nothing: logs in as `secret`'s user with a random
 * password the database never received, and throws PasswordNotCheckedError when that works too (trust or
 * ident authentication, an authenticating proxy). Run before trusting "the pending password already logs in".
 */
export async function refuseUncheckedPasswords(
  driver: DatabaseDriver,
  secret: DatabaseSecret,
  options: ConnectOptions,
): Promise<void> {
  const wrong = { ...secret, password: `vigil-wrong-${randomBytes(24).toString("base64url")}` };
  let session: DatabaseSession;
  try {
    session = await driver.connect(wrong, { ...options, label: "deliberately wrong password" });
  } catch (error) {
    if (error instanceof LoginRejectedError) return;
    throw error;
  }
  await session.close();
  throw new PasswordNotCheckedError(
    `${describeTarget(secret)} also accepts a deliberately wrong password (trust or ident authentication, or an authenticating proxy), so a login proves nothing there and no password would be promoted safely: require password authentication (e.g. scram-sha-256 in pg_hba.conf) for this user, or stop rotating it`,
  );
}

/** Runs `use` with a session and always closes it. */
export async function withSession<T>(session: DatabaseSession, use: (s: DatabaseSession) => Promise<T>) {
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

/** The AWSCURRENT value as a database secret of `family`, or a clear error naming the mismatch. */
export function currentDatabaseSecret(context: StepContext, family: DatabaseFamily): DatabaseSecret {
  const current = parseDatabaseSecret(context.current, `${context.secretArn} (AWSCURRENT)`);
  if (familyOf(current) !== family) {
    throw new SecretFormatError(
      `Secret ${context.secretArn}: "engine" is "${current.engine}", which the ${family} strategies do not rotate; accepted engines: ${Object.entries(
        DATABASE_ENGINES,
      )
        .filter(([, value]) => value === family)
        .map(([engine]) => engine)
        .join(", ")}`,
    );
  }
  return current;
}

/**
 * The AWSPENDING value stored by createSecret (read by version id and stage), validated against the
 * current one: same engine family, host and port, and the user name the strategy expects.
 */
export async function pendingDatabaseSecret(
  context: StepContext,
  current: DatabaseSecret,
  expectedUsername: string,
): Promise<DatabaseSecret> {
  const json = await getPendingJson(context.secretsManager, context.secretArn, context.token);
  if (!json) {
    throw new SecretFormatError(
      `Secret ${context.secretArn} has no AWSPENDING value for version ${context.token}; createSecret must run first`,
    );
  }
  const pending = parseDatabaseSecret(json, `${context.secretArn} (AWSPENDING version ${context.token})`);
  if (!sameTarget(pending, current) || pending.username !== expectedUsername) {
    throw new SecretFormatError(
      `Secret ${context.secretArn}: the AWSPENDING version ${context.token} names another database or user than expected (user "${expectedUsername}" on ${current.host}:${current.port}); cancel the rotation and remove that version`,
    );
  }
  return pending;
}

/** The AWSPREVIOUS value when it exists and is a database secret for the same target; else undefined. */
export async function previousDatabaseSecret(
  context: StepContext,
  current: DatabaseSecret,
): Promise<DatabaseSecret | undefined> {
  const previousVersion = versionWithStage(context.metadata, AWSPREVIOUS);
  if (!previousVersion) return undefined;
  try {
    const json = await getSecretJson(context.secretsManager, context.secretArn, AWSPREVIOUS, previousVersion);
    const previous = parseDatabaseSecret(json, `${context.secretArn} (AWSPREVIOUS)`);
    return sameTarget(previous, current) && previous.username === current.username ? previous : undefined;
  } catch (error) {
    if (error instanceof SecretFormatError || error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/** Stores `pending` as the AWSPENDING version unless createSecret already did (or a concurrent run did). */
export async function storePendingOnce(context: StepContext, pending: SecretJson): Promise<void> {
  const stored = await putPendingOnce(context.secretsManager, context.secretArn, context.token, pending);
  context.logger.info(
    stored ? "stored the pending version" : "a concurrent invocation stored the pending version",
    {
      secretArn: context.secretArn,
      versionId: context.token,
    },
  );
}

/** Waits `ms` (bounded by the deadline) before the next attempt. */
export async function pause(context: StepContext, ms: number): Promise<void> {
  const wait = Math.min(ms, Math.max(0, context.deadline.remainingMs() - 1_000));
  await new Promise((resolve) => setTimeout(resolve, wait));
  context.deadline.check(context.step);
}

/** How testSecret retries before it declares the pending credential failed for good. */
export interface TestRetryPolicy {
  attempts: number;
  delayMs: number;
}
export const DEFAULT_TEST_RETRY: TestRetryPolicy = { attempts: 3, delayMs: 250 };

/** Outcome of logging in with a credential and running the driver's check, retried per the policy. */
export type CredentialCheck =
  | { ok: true }
  | { ok: false; reason: "rejected" | "check-failed" | "unreachable"; error?: unknown };

/** Logs in with `secret` and runs the driver's session check, retrying transient failures. */
export async function checkCredential(
  driver: DatabaseDriver,
  secret: DatabaseSecret,
  context: StepContext,
  label: CredentialLabel,
  policy: TestRetryPolicy,
): Promise<CredentialCheck> {
  let outcome: CredentialCheck = { ok: false, reason: "unreachable" };
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (attempt > 1) await pause(context, policy.delayMs * (attempt - 1));
    try {
      const session = await tryLogin(driver, secret, context, label);
      if (!session) {
        outcome = { ok: false, reason: "rejected" };
        continue;
      }
      try {
        await driver.checkSession(session, secret);
        return { ok: true };
      } catch (error) {
        if (error instanceof DeadlineExceededError) throw error;
        outcome = { ok: false, reason: "check-failed", error };
      } finally {
        await session.close();
      }
    } catch (error) {
      if (error instanceof DeadlineExceededError) throw error;
      outcome = { ok: false, reason: "unreachable", error };
    }
  }
  return outcome;
}
