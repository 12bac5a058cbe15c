import { VigilError } from "../../lib/errors.ts";
import type { Severity } from "../../lib/finding-keys.ts";

/** Base of every error a rotation step throws on purpose. Carries what the failure finding should say. */
export class RotationError extends VigilError {
  /** Severity of the finding raised for this failure (high unless a subclass says otherwise). */
  readonly severity: Severity = "high";
  /** Rule name of the finding raised for this failure. */
  readonly rule: string = "rotation.failed";
  /** Where the finding sends its reader; undefined means the rotation runbook. */
  readonly runbook?: string;
  /** The finding's title after the secret's name; undefined means "Rotation of <name> failed at <step>". */
  readonly headline?: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RotationError";
  }
}

/** Thrown when the event is not a valid rotation event (missing SecretId, token or an unknown Step). */
export class InvalidRotationEventError extends RotationError {
  constructor(message: string) {
    super(message);
    this.name = "InvalidRotationEventError";
  }
}

/** Thrown when rotation is not enabled on the secret: Secrets Manager should never have called us. */
export class RotationDisabledError extends RotationError {
  constructor(secretArn: string) {
    super(`Secret ${secretArn} does not have rotation enabled; enable it with RotateSecret or the console`);
    this.name = "RotationDisabledError";
  }
}

/** Thrown when the ClientRequestToken is not a version of the secret, or not AWSPENDING nor AWSCURRENT. */
export class TokenMismatchError extends RotationError {
  constructor(message: string) {
    super(message);
    this.name = "TokenMismatchError";
  }
}

/** Thrown when no strategy applies to the secret (tag value unknown, or JSON that matches none). */
export class UnknownStrategyError extends RotationError {
  constructor(message: string) {
    super(message);
    this.name = "UnknownStrategyError";
  }
}

/** Thrown when a secret's JSON is malformed or misses a field its strategy needs. */
export class SecretFormatError extends RotationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SecretFormatError";
  }
}

/** Thrown before the Lambda deadline, so a step stops cleanly instead of being killed mid-statement. */
export class DeadlineExceededError extends RotationError {
  constructor(step: string, remainingMs: number) {
    super(
      `${step}: stopped with ${remainingMs} ms left before the Lambda deadline; the step is safe to re-run`,
    );
    this.name = "DeadlineExceededError";
  }
}

/** Thrown when the target system (database, gateway) refuses or cannot be reached during a step. */
export class TargetError extends RotationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TargetError";
  }
}

/** Thrown by testSecret when the pending credential does not work. */
export class TestSecretFailedError extends RotationError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TestSecretFailedError";
  }
}

/** Thrown when the database refuses a credential itself (wrong password, unknown or locked user). */
export class LoginRejectedError extends TargetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LoginRejectedError";
  }
}

/** Thrown when no stored version of a secret logs in any more: consumers are locked out until someone acts. */
export class NoWorkingCredentialError extends RotationError {
  override readonly severity: Severity = "critical";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NoWorkingCredentialError";
  }
}

/**
 * Thrown when a secret may not use the admin secret its `masterarn` names: the admin is not bound to it,
 * serves another server, or the secret would gain a user or privilege it does not already hold. A
 * possible privilege escalation, so critical; nothing was changed in the database.
 */
export class AdminSecretRefusedError extends RotationError {
  override readonly severity: Severity = "critical";
  override readonly headline = "refused to use the admin secret (possible privilege escalation)";
  constructor(secretArn: string, adminArn: string, reason: string) {
    super(
      `Refused to use the admin secret ${adminArn} (masterarn) for ${secretArn}: ${reason}. Nothing was changed in the database (see docs/rotation.md#the-admin-secret-binding)`,
    );
    this.name = "AdminSecretRefusedError";
  }
}

/**
 * Thrown when the database refuses the connection by policy before it checks the password (PostgreSQL
 * pg_hba.conf, TLS required, host not allowed, account locked): the stored password was not tested.
 */
export class ConnectionPolicyError extends TargetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectionPolicyError";
  }
}

/**
 * Thrown when the database also accepts a deliberately wrong password for a user (trust or ident
 * authentication, an authenticating proxy): a login there proves nothing about a stored password.
 */
export class PasswordNotCheckedError extends TargetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PasswordNotCheckedError";
  }
}

/** Thrown when the database refuses a login because the account is locked (the password may be right). */
export class AccountLockedError extends ConnectionPolicyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AccountLockedError";
  }
}
