import { LogFormatter, Logger, LogItem } from "@aws-lambda-powertools/logger";
import type { LogAttributes, UnformattedAttributes } from "@aws-lambda-powertools/logger/types";
import { redact } from "./redaction.ts";

/**
 * Powertools' standard JSON shape (the fields of its own PowertoolsLogFormatter, which it does not
 * export), passed through the redaction wrapper as the very last step, so that the message, Powertools'
 * own fields, persistent keys, extra objects and formatted errors are all covered.
 */
class RedactingLogFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const base: LogAttributes = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: attributes.lambdaContext?.coldStart,
      function_arn: attributes.lambdaContext?.invokedFunctionArn,
      function_memory_size: attributes.lambdaContext?.memoryLimitInMB,
      function_name: attributes.lambdaContext?.functionName,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      sampling_rate: attributes.sampleRateValue,
      xray_trace_id: attributes.xRayTraceId,
    };
    return new LogItem({ attributes: redact({ ...base, ...additional }) as LogAttributes });
  }

  override formatError(error: Error): LogAttributes {
    return redact(super.formatError(error));
  }
}

/**
 * Creates a structured JSON logger whose every line goes through the redaction wrapper. The level comes
 * from POWERTOOLS_LOG_LEVEL, then LOG_LEVEL (Powertools' own order; default INFO).
 */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, logFormatter: new RedactingLogFormatter() });
}

export type { Logger };
