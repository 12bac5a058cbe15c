import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { byCodeUnit } from "./order.ts";

/**
 * Vigil's CloudWatch metrics, written as embedded metric format (EMF) lines on stdout by Powertools Metrics:
 * CloudWatch Logs turns them into metrics, so emitting costs no API call and no latency. This catalogue is
 * the single list of metric names, units and dimensions; the dashboard and alarms in infra/ may only refer
 * to metrics listed here (a template test enforces it).
 *
 * Every metric also carries the `service` dimension, whose value is the Lambda function's name
 * (`vigil-<stage>-<function>`), so that two stages in one account never mix and alarms select one
 * stage's function with plain dimensions, no metric math.
 */
export const METRICS_NAMESPACE = "Vigil";

/** The dimension set every metric name is emitted with (besides `service`), and its unit. */
export const metricCatalogue = {
  // rotate: one per step run. Outcome operator-stop is the expected IBKR "rotation due" stop.
  RotationSteps: { unit: MetricUnit.Count, dimensions: ["Strategy", "Outcome"] },
  RotationStepDuration: { unit: MetricUnit.Milliseconds, dimensions: ["Step"] },
  // Failed steps that need someone: never counts operator stops. The rotation-failure alarm uses it.
  RotationFailures: { unit: MetricUnit.Count, dimensions: [] },
  // notify: PagerDuty events accepted, given up on (handed back to SQS or rejected), and retried.
  PagesSent: { unit: MetricUnit.Count, dimensions: [] },
  PagesFailed: { unit: MetricUnit.Count, dimensions: [] },
  PagesRetried: { unit: MetricUnit.Count, dimensions: [] },
  Resolves: { unit: MetricUnit.Count, dimensions: [] },
  BatchSize: { unit: MetricUnit.Count, dimensions: [] },
  // Findings in the batch per group sent (1 = no grouping; 10,000 findings in 1 group = 10000).
  GroupingRatio: { unit: MetricUnit.NoUnit, dimensions: [] },
  // audit-scan, per source (lookup, s3, eventbridge).
  EventsProcessed: { unit: MetricUnit.Count, dimensions: ["Source"] },
  RecordsSkipped: { unit: MetricUnit.Count, dimensions: ["Source"] },
  // Now minus the newest time the source has fully processed (the lookup checkpoint, a log file's newest
  // event): grows when the scanner stops seeing CloudTrail.
  ScannerLagSeconds: { unit: MetricUnit.Seconds, dimensions: ["Source"] },
  LookupThrottles: { unit: MetricUnit.Count, dimensions: [] },
  Findings: { unit: MetricUnit.Count, dimensions: ["Rule", "Severity"] },
} as const satisfies Record<
  string,
  { unit: (typeof MetricUnit)[keyof typeof MetricUnit]; dimensions: readonly string[] }
>;

/**
 * Metrics that CloudWatch Logs metric filters derive from log lines the code cannot turn into EMF itself
 * (infra/monitoring.yml), in the namespace `Vigil/Logs/<stage>` because a filter cannot add a dimension.
 */
export const LOG_METRICS_NAMESPACE_PREFIX = "Vigil/Logs/";
export const logMetricCatalogue = {
  // Platform lines of the rotate function: a timeout, a crash, a failed start (e.g. a configuration error).
  RotateCrashes: "rotate",
  // The notifier's "PagerDuty rejected the event; not retried" log line.
  PagerDutyRejectedEvents: "notify",
} as const;

export type MetricName = keyof typeof metricCatalogue;

/** The dimensions a metric must be given: exactly the names its catalogue entry lists. */
export type MetricDimensions<N extends MetricName> = {
  [K in (typeof metricCatalogue)[N]["dimensions"][number]]: string;
};

/** Values of the `Outcome` dimension of RotationSteps. */
export type RotationOutcome = "done" | "failed" | "operator-stop";

/** Values of the `Source` dimension of the scanner's metrics. */
export type ScanSource = "lookup" | "s3" | "eventbridge";

interface Pending {
  name: MetricName;
  dimensions: Record<string, string>;
  values: number[];
}

// Powertools publishes by itself when one name reaches 100 values, and then forgets the dimensions.
const VALUES_PER_LINE = 99;

/**
 * A function's metrics for one invocation: `count` sums (one data point per name and dimension values,
 * however many times it is called), `record` keeps every value (durations, sizes, lag). `flush` writes
 * one EMF line per distinct dimension set and forgets everything; call it in the handler's `finally`.
 */
export class VigilMetrics {
  readonly #metrics: Metrics;
  readonly #pending = new Map<string, Pending>();

  /** `service` is the function's short name; the dimension is its Lambda name when running on Lambda. */
  constructor(service: string, env: Readonly<Record<string, string | undefined>> = process.env) {
    this.#metrics = new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: env.AWS_LAMBDA_FUNCTION_NAME?.trim() || service,
    });
  }

  /** Adds `value` (default 1) to the metric's sum for these dimension values. */
  count<N extends MetricName>(name: N, dimensions: MetricDimensions<N>, value = 1): void {
    const entry = this.#entry(name, dimensions);
    entry.values[0] = (entry.values[0] ?? 0) + value;
  }

  /** Records one value of the metric (each value is its own data point). */
  record<N extends MetricName>(name: N, dimensions: MetricDimensions<N>, value: number): void {
    if (Number.isFinite(value)) this.#entry(name, dimensions).values.push(value);
  }

  /** True when something is waiting to be flushed. */
  get hasPending(): boolean {
    return this.#pending.size > 0;
  }

  /** Writes the pending metrics as EMF lines on stdout, one per dimension set, then clears them. */
  flush(): void {
    const bySet = new Map<string, Pending[]>();
    for (const entry of this.#pending.values()) {
      const key = JSON.stringify(entry.dimensions);
      bySet.set(key, [...(bySet.get(key) ?? []), entry]);
    }
    this.#pending.clear();
    for (const entries of bySet.values()) {
      const dimensions = entries[0]?.dimensions ?? {};
      this.#metrics.addDimensions(dimensions);
      for (const entry of entries) {
        for (const [index, value] of entry.values.entries()) {
          if (index > 0 && index % VALUES_PER_LINE === 0) {
            this.#metrics.publishStoredMetrics();
            this.#metrics.addDimensions(dimensions);
          }
          this.#metrics.addMetric(entry.name, metricCatalogue[entry.name].unit, value);
        }
      }
      this.#metrics.publishStoredMetrics();
    }
  }

  #entry(name: MetricName, dimensions: Record<string, string>): Pending {
    // Sorted so that {a, b} and {b, a} are one dimension set.
    const sorted = Object.fromEntries(Object.entries(dimensions).sort(([a], [b]) => byCodeUnit(a, b)));
    const key = `${name}\u0000${JSON.stringify(sorted)}`;
    let entry = this.#pending.get(key);
    if (!entry) {
      entry = { name, dimensions: sorted, values: [] };
      this.#pending.set(key, entry);
    }
    return entry;
  }
}

/** Creates the metrics of one function (`rotate`, `notify`, `audit-scan`); create it once at module scope. */
export function createMetrics(service: string): VigilMetrics {
  return new VigilMetrics(service);
}

/** Counts one rotation step: its outcome by strategy, its duration, and a failure unless an operator stop. */
export function recordRotationStep(
  metrics: VigilMetrics,
  step: {
    step: string;
    strategy: string | undefined;
    outcome: string;
    durationMs: number;
    operatorStop: boolean;
  },
): void {
  const outcome: RotationOutcome =
    step.outcome !== "failed" ? "done" : step.operatorStop ? "operator-stop" : "failed";
  metrics.count("RotationSteps", { Strategy: step.strategy ?? "unknown", Outcome: outcome });
  metrics.record("RotationStepDuration", { Step: step.step }, step.durationMs);
  // Zero on success too: the alarm then sees data points, not a missing metric.
  metrics.count("RotationFailures", {}, outcome === "failed" ? 1 : 0);
}

/** Counts one notifier batch: pages sent, failed and retried, resolves, batch size and grouping ratio. */
export function recordNotifyBatch(
  metrics: VigilMetrics,
  batch: {
    received: number;
    invalid: number;
    groups: number;
    pagesSent: number;
    pagesFailed: number;
    pagerDutyRetries: number;
    resolves: number;
  },
): void {
  metrics.count("PagesSent", {}, batch.pagesSent);
  metrics.count("PagesFailed", {}, batch.pagesFailed);
  metrics.count("PagesRetried", {}, batch.pagerDutyRetries);
  metrics.count("Resolves", {}, batch.resolves);
  metrics.record("BatchSize", {}, batch.received);
  if (batch.groups > 0) metrics.record("GroupingRatio", {}, (batch.received - batch.invalid) / batch.groups);
}
