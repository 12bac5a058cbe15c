import { VigilError } from "../lib/errors.ts";

/** Base of every error the incident response throws on purpose. */
export class IncidentError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IncidentError";
  }
}

/**
 * Thrown for bad `vigil incident` input (an unknown secret, a malformed `--deny`, a used `--out`, missing
 * configuration, no terminal to confirm on) before anything is changed or written.
 */
export class IncidentInputError extends IncidentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IncidentInputError";
  }
}

/** Thrown when a step of the response failed: names the step and the state the response left. */
export class IncidentStepError extends IncidentError {
  constructor(
    readonly step: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "IncidentStepError";
  }
}

/** Thrown inside a step that failed, with the state it left; the response records it and goes on to the next step. */
export class StepFailedError extends IncidentError {
  constructor(
    message: string,
    readonly state: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StepFailedError";
  }
}
