import { VigilError } from "../../lib/errors.ts";

/** Base of every error the audit scanner throws on purpose. */
export class ScanError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ScanError";
  }
}

/** Thrown when a policy file is not YAML or does not match the policy schema (names the path and why). */
export class PolicyError extends ScanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PolicyError";
  }
}

/** Thrown when a `--state` file cannot be read back (wrong format or shape). */
export class ScanStateFileError extends ScanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ScanStateFileError";
  }
}

/** Thrown when a file is not a CloudTrail log (neither `{"Records": [...]}` nor lookup-events output). */
export class NotCloudTrailError extends ScanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NotCloudTrailError";
  }
}

/** Thrown when a trail file ends early (a cut-off download, a truncated gzip stream). */
export class TruncatedTrailFileError extends ScanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TruncatedTrailFileError";
  }
}

/** Thrown by `vigil scan` for bad arguments: a path that does not exist, a malformed --since. */
export class ScanInputError extends ScanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ScanInputError";
  }
}
