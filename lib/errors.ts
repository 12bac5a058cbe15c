import { redactText } from "./redaction.ts";

/** Base class of every error Vigil throws on purpose; anything else is a bug. */
export class VigilError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VigilError";
  }
}

/** Thrown at cold start when an environment variable is missing or malformed. */
export class ConfigError extends VigilError {
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${variable}: ${message}`, options);
    this.name = "ConfigError";
  }
}

/** Thrown when input (an event, a secret's JSON, a file) does not match its schema. */
export class ValidationError extends VigilError {
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(issues.length > 0 ? `${message}: ${issues.join("; ")}` : message, options);
    this.name = "ValidationError";
  }
}

/** Returns a message safe to show for any thrown value: without its stack, registered secrets removed. */
export function describeError(error: unknown): string {
  return redactText(error instanceof Error ? error.message || error.name : String(error));
}
