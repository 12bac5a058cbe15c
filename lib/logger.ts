import { LogFormatter, Logger, LogItem } from "@aws-lambda-powertools/logger";
import type { LogAttributes, UnformattedAttributes } from "@aws-lambda-powertools/logger/types";
import { redact } from "./redaction.ts";

/**
 * Powertools' standard JSON shape, passed through the redaction wrapper as the very last step, so that
 * the message, persistent keys, extra objects and formatted errors are all covered.
 */
class RedactingLogFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const base: LogAttributes = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: attributes.lambdaContext?.coldStart,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      xray_trace_id: attributes.xRayTraceId,
    };
    return new LogItem({ attributes: redact({ ...base, ...additional }) as LogAttributes });
  }

  override formatError(error: Error): LogAttributes {
    return redact(super.formatError(error));
  }
}

/** Creates a structured JSON logger whose every line goes through the redaction wrapper. */
export function createLogger(serviceName: string): Logger {
  return new Logger({
    serviceName,
    logLevel: (process.env.LOG_LEVEL as "INFO" | undefined) ?? "INFO",
    logFormatter: new RedactingLogFormatter(),
  });
}

export type { Logger };
