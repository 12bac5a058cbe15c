import { VigilError } from "../../../../lib/errors.ts";
import type { Severity } from "../../../../lib/finding-keys.ts";
import { RotationError } from "../../errors.ts";

/**
 * Thrown by createSecret when nothing is staged: the scheduled reminder that a human has to change the
 * IBKR password. Low severity: it notifies Trading Ops, it does not page.
 */
export class IbkrRotationDueError extends RotationError {
  override readonly severity: Severity = "low";
  override readonly rule: string = "ibkr.rotation-due";
  /** Where the finding sends Trading Ops. */
  override readonly runbook = "docs/ibkr.md#runbook-trading-ops";
  /** The finding's title after the secret's name. */
  override readonly headline = "IBKR password rotation due";
  constructor(message: string) {
    super(message);
    this.name = "IbkrRotationDueError";
  }
}

/** Thrown by createSecret when the staged value breaks IBKR's rules, is stale, or names another secret. */
export class IbkrStagingInvalidError extends RotationError {
  override readonly severity: Severity = "medium";
  override readonly rule: string = "ibkr.staging-invalid";
  override readonly runbook = "docs/ibkr.md#other-failures";
  override readonly headline = "staged IBKR credentials were rejected";
  constructor(message: string) {
    super(message);
    this.name = "IbkrStagingInvalidError";
  }
}

/**
 * Thrown by createSecret when the staging secret does not show that someone allowed to stage wrote it (its
 * KMS key, tags or location): a possible attempt to plant a password. Nothing is promoted or restarted.
 */
export class IbkrStagingUntrustedError extends RotationError {
  override readonly severity: Severity = "high";
  override readonly rule: string = "ibkr.staging-untrusted";
  override readonly runbook = "docs/ibkr.md#an-untrusted-staging-secret";
  override readonly headline = "untrusted IBKR staging secret refused";
  constructor(message: string) {
    super(message);
    this.name = "IbkrStagingUntrustedError";
  }
}

/** Thrown by finishSecret, after promotion, when the staging secret could not be deleted. */
export class IbkrStagingCleanupError extends RotationError {
  override readonly severity: Severity = "medium";
  override readonly rule: string = "ibkr.staging-left-behind";
  override readonly runbook = "docs/ibkr.md#other-failures";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IbkrStagingCleanupError";
  }
}

/** Thrown for every expected failure of `vigil ibkr stage`; the message says what to do next (exit 2). */
export class IbkrStageError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IbkrStageError";
  }
}
