import { envReader } from "../../lib/config.ts";
import { ConfigError } from "../../lib/errors.ts";
import { SEVERITIES, type Severity } from "../../lib/finding.ts";

export const DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";

/** Which severities go where (see docs/alerts.md, "Tuning the routing"). */
export interface RoutingPolicy {
  /** Severities that trigger an alert on the primary (paging) PagerDuty service. */
  readonly page: ReadonlySet<Severity>;
  /** Severities that trigger an alert on the low-urgency service, when one is configured. */
  readonly lowUrgency: ReadonlySet<Severity>;
  /** Severities published to the alerts topic. */
  readonly sns: ReadonlySet<Severity>;
}

/** Retry budget for PagerDuty calls; every wait also stays within the invocation's deadline. */
export interface RetryPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Longest a single HTTP request may take before it counts as a network failure. */
  readonly requestTimeoutMs: number;
  /** Time kept back from the Lambda deadline to publish to SNS and return the batch response. */
  readonly deadlineMarginMs: number;
}

export interface NotifierConfig {
  readonly alertsTopicArn: string;
  /** The DynamoDB state table holding the last state of each alert group. */
  readonly stateTableName: string;
  readonly pagerDutyEventsUrl: string;
  readonly pagerDutyChangeEventsUrl: string;
  readonly routingKeySecretId: string;
  readonly lowUrgencyRoutingKeySecretId: string | undefined;
  /** Base URL that relative runbook paths (`docs/...`) are resolved against, e.g. the repository's docs. */
  readonly runbookBaseUrl: string | undefined;
  readonly routingKeyCacheMs: number;
  readonly routing: RoutingPolicy;
  readonly retry: RetryPolicy;
  /** How many groups are delivered at the same time. */
  readonly concurrency: number;
  /** A firing group already paged/published (by any container) within this time is not sent again. */
  readonly repeatIntervalMs: number;
}

/** The change-events endpoint that sits beside an alert-events endpoint (/v2/enqueue -> /v2/change/enqueue). */
export function changeEventsUrlFor(eventsUrl: string): string {
  const url = new URL(eventsUrl);
  url.pathname = url.pathname.replace(/\/enqueue\/?$/, "/change/enqueue");
  if (!url.pathname.endsWith("/change/enqueue"))
    url.pathname = `${url.pathname.replace(/\/$/, "")}/change/enqueue`;
  return url.toString();
}

/** Reads and validates the notifier's environment once, at cold start. */
export function loadNotifierConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): NotifierConfig {
  const read = envReader(env);
  const severities = (name: string, fallback: readonly Severity[]): ReadonlySet<Severity> => {
    const values = read.list(name, fallback);
    for (const value of values) {
      if (!(SEVERITIES as readonly string[]).includes(value)) {
        throw new ConfigError(
          name,
          `expected a comma-separated list of ${SEVERITIES.join(", ")}, got "${value}"`,
        );
      }
    }
    return new Set(values as Severity[]);
  };
  const pagerDutyEventsUrl = read.url("PAGERDUTY_EVENTS_URL", DEFAULT_PAGERDUTY_EVENTS_URL);
  const explicitChangeUrl = read.optionalString("PAGERDUTY_CHANGE_EVENTS_URL");
  return {
    alertsTopicArn: read.arn("ALERTS_TOPIC_ARN", "sns"),
    stateTableName: read.string("STATE_TABLE_NAME"),
    pagerDutyEventsUrl,
    pagerDutyChangeEventsUrl: explicitChangeUrl
      ? read.url("PAGERDUTY_CHANGE_EVENTS_URL")
      : changeEventsUrlFor(pagerDutyEventsUrl),
    routingKeySecretId: read.string("PAGERDUTY_ROUTING_KEY_SECRET_ID"),
    lowUrgencyRoutingKeySecretId: read.optionalString("PAGERDUTY_LOW_URGENCY_ROUTING_KEY_SECRET_ID"),
    runbookBaseUrl:
      read.optionalString("RUNBOOK_BASE_URL") === undefined ? undefined : read.url("RUNBOOK_BASE_URL"),
    routingKeyCacheMs:
      read.integer("ROUTING_KEY_CACHE_SECONDS", { fallback: 300, min: 0, max: 86_400 }) * 1000,
    routing: {
      page: severities("PAGE_SEVERITIES", ["critical", "high"]),
      lowUrgency: severities("LOW_URGENCY_SEVERITIES", ["medium", "low"]),
      sns: severities("SNS_SEVERITIES", SEVERITIES),
    },
    retry: {
      baseDelayMs: read.integer("PAGERDUTY_RETRY_BASE_MS", { fallback: 250, min: 1, max: 60_000 }),
      maxDelayMs: read.integer("PAGERDUTY_RETRY_MAX_MS", { fallback: 8_000, min: 1, max: 300_000 }),
      requestTimeoutMs: read.integer("PAGERDUTY_TIMEOUT_MS", { fallback: 10_000, min: 100, max: 900_000 }),
      deadlineMarginMs: read.integer("NOTIFY_DEADLINE_MARGIN_MS", { fallback: 5_000, min: 0, max: 900_000 }),
    },
    concurrency: read.integer("NOTIFY_CONCURRENCY", { fallback: 8, min: 1, max: 100 }),
    repeatIntervalMs:
      read.integer("NOTIFY_REPEAT_INTERVAL_SECONDS", { fallback: 300, min: 0, max: 86_400 }) * 1000,
  };
}
