import { VigilError } from "../../../lib/errors.ts";

/** Base of every error the scanner's sources (LookupEvents, S3, EventBridge, compliance, publishing) throw on purpose. */
export class ScanSourceError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ScanSourceError";
  }
}

/** Thrown when the handler receives an event of no shape it knows (names what it expected). */
export class UnknownScanEventError extends ScanSourceError {
  constructor(message: string) {
    super(message);
    this.name = "UnknownScanEventError";
  }
}

/** Thrown when a LookupEvents sweep of one region and event source gave up on a non-throttling error. */
export class LookupSweepError extends ScanSourceError {
  constructor(
    readonly region: string,
    readonly eventSource: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`LookupEvents sweep of ${eventSource} in ${region}: ${message}`, options);
    this.name = "LookupSweepError";
  }
}

/** Thrown when a trail file cannot be read (GetObject failed, not gzip, not CloudTrail JSON). */
export class TrailObjectError extends ScanSourceError {
  constructor(
    readonly bucket: string,
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`s3://${bucket}/${key}: ${message}`, options);
    this.name = "TrailObjectError";
  }
}

/** Thrown when findings could not be put on the findings queue after every retry. */
export class PublishFindingsError extends ScanSourceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PublishFindingsError";
  }
}

/** Thrown by a state-table call that left items unprocessed after every retry. */
export class StateTableError extends ScanSourceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StateTableError";
  }
}

/** Thrown for bad input to `vigil who` / `vigil status` (an option's value, a path that does not exist). */
export class InvestigationInputError extends ScanSourceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvestigationInputError";
  }
}
