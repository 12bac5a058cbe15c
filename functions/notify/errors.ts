import { VigilError } from "../../lib/errors.ts";

/** Base class of every error the notifier throws on purpose. */
export class NotifyError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NotifyError";
  }
}

/**
 * Thrown when a delivery failed for a reason that may clear on its own (PagerDuty 429/5xx, network
 * errors, timeouts, SNS or Secrets Manager unavailable): the SQS messages behind it go back to the queue.
 */
export class DeliveryUnavailableError extends NotifyError {
  constructor(
    message: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DeliveryUnavailableError";
  }
}

/**
 * Thrown when PagerDuty refuses an event as invalid (400, 413, 422). Sending it again can never succeed,
 * so it is not retried; the response body is kept for the log.
 */
export class PagerDutyRejectedError extends NotifyError {
  constructor(
    readonly status: number,
    readonly responseBody: string,
  ) {
    super(`PagerDuty rejected the event with HTTP ${status}: ${responseBody}`);
    this.name = "PagerDutyRejectedError";
  }
}

/**
 * Thrown when PagerDuty answers 401/403/404 or another client error that points at our configuration
 * (wrong URL, disabled integration): not retried now, but the messages go back to SQS (and so to the
 * DLQ), because they become deliverable once an operator fixes the setting.
 */
export class PagerDutyConfigurationError extends NotifyError {
  constructor(
    readonly status: number,
    readonly responseBody: string,
  ) {
    super(`PagerDuty refused the request with HTTP ${status} (check PAGERDUTY_EVENTS_URL): ${responseBody}`);
    this.name = "PagerDutyConfigurationError";
  }
}

/** Thrown when the routing-key secret cannot be read or holds no usable integration key. */
export class RoutingKeyError extends NotifyError {
  constructor(
    readonly secretId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`routing key secret ${secretId}: ${message}`, options);
    this.name = "RoutingKeyError";
  }
}

/** Thrown when the state table cannot be read or written: the group's messages go back to SQS. */
export class AlertStateError extends NotifyError {
  constructor(
    readonly groupKey: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`alert state of group ${groupKey}: ${message}`, options);
    this.name = "AlertStateError";
  }
}
