import { DeadlineExceededError } from "./errors.ts";

/**
 * The invocation's time budget. Steps call `check()` between side effects and size their own timeouts
 * with `remainingMs()`, so they stop with a clear error instead of being killed mid-statement.
 */
export class Deadline {
  constructor(
    private readonly remaining: () => number,
    /** Time kept in reserve for logging the outcome and returning. */
    readonly reserveMs = 5_000,
  ) {}

  /** Milliseconds a step may still use. */
  remainingMs(): number {
    return Math.max(0, this.remaining() - this.reserveMs);
  }

  /** Throws DeadlineExceededError when less than `neededMs` is left. */
  check(step: string, neededMs = 1_000): void {
    const left = this.remainingMs();
    if (left < neededMs) throw new DeadlineExceededError(step, this.remaining());
  }

  /** A timeout for one operation: at most `capMs`, and never past the deadline. */
  timeoutMs(capMs: number): number {
    return Math.max(1, Math.min(capMs, this.remainingMs()));
  }
}
