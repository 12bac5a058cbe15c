/** Fault injection for reliability tests: make matching requests fail, slow down or drop. */

export type FaultTarget = "secretsmanager" | "cloudtrail" | "sns" | "sqs" | "pagerduty" | "ibgateway" | "ecs";

export interface FaultRule {
  target: FaultTarget;
  /** e.g. "PutSecretValue", "LookupEvents", "Publish", "enqueue", "change", "connect"; absent = all. */
  operation?: string;
  kind: "throttle" | "5xx" | "latency" | "drop";
  /** For 5xx (default 500) / for pagerduty throttle (default 429). */
  status?: number;
  /** For latency. */
  latencyMs?: number;
  /** How many matching requests it affects (default: unlimited until cleared). */
  times?: number;
}

/** The active rules; the first matching rule with uses left applies to a request, and uses one up. */
export class FaultInjector {
  private rules: { rule: FaultRule; remaining: number }[] = [];

  inject(rule: FaultRule): void {
    this.rules.push({ rule: { ...rule }, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.rules = [];
  }

  /** The fault to apply to one request, if any. */
  take(target: FaultTarget, operation: string): FaultRule | undefined {
    const entry = this.rules.find(
      ({ rule, remaining }) =>
        remaining > 0 &&
        rule.target === target &&
        (rule.operation === undefined || rule.operation === operation),
    );
    if (!entry) return undefined;
    entry.remaining -= 1;
    return entry.rule;
  }
}

/** Waits without keeping the process alive, so a stopped sandbox does not linger on an injected latency. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
