import { VigilError } from "../../../lib/errors.ts";

/** Base of every error the compliance report throws on purpose. */
export class ReportError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ReportError";
  }
}

/** Thrown for bad `vigil report` input (a date, a backwards range, a format, a path), before anything is read or written. */
export class ReportInputError extends ReportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ReportInputError";
  }
}
