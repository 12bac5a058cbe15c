import { VigilError } from "../lib/errors.ts";

/** Base class of errors the sandbox raises about itself (configuration, start-up), not AWS API errors. */
export class SandboxError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SandboxError";
  }
}

/** Thrown when a configured Lambda handler (scanner, notifier) cannot be loaded or does not export `handler`. */
export class LambdaHandlerError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LambdaHandlerError";
  }
}

/** Thrown when the configured rotation handler cannot be loaded or does not export `handler`. */
export class RotationHandlerError extends LambdaHandlerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RotationHandlerError";
  }
}

/**
 * Thrown inside a simulated service to answer with an AWS error: `code` becomes the JSON `__type` (or the
 * query-protocol `<Code>`), which the SDK maps to its exception class of the same name.
 */
export class AwsServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** The awsQueryCompatible code SQS sends in `x-amzn-query-error`, when it differs from `code`. */
    readonly queryCode?: string,
  ) {
    super(message);
    this.name = "AwsServiceError";
  }
}

/** Thrown when `npm start` (the demo) cannot go on: names the stage it stopped at and why. */
export class DemoError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DemoError";
  }
}
