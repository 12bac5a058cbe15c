import { SandboxError } from "./errors.ts";

/** Fault injection for reliability tests: make matching requests fail, slow down or drop. */

const FAULT_KINDS = ["throttle", "5xx", "latency", "drop"] as const;

/** A service name of the sandbox ("secretsmanager", "dynamodb", "pagerduty", "ibgateway", ...). */
export type FaultTarget = string;

export interface FaultRule {
  target: FaultTarget;
  /** e.g. "PutSecretValue", "LookupEvents", "Publish", "enqueue", "change", "connect"; absent = all. */
  operation?: string;
  kind: (typeof FAULT_KINDS)[number];
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

  /** `operations`: each target's operations, which a rule's `target` and `operation` must name. */
  constructor(private readonly operations: Record<FaultTarget, readonly string[]>) {}

  /** Adds a rule; throws SandboxError naming the field when it could never match or apply. */
  inject(rule: unknown): void {
    checkFaultRule(rule, this.operations);
    this.rules.push({ rule: { ...rule }, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.rules = [];
  }

  /** The active rules, with the uses each has left (`times`; absent = until cleared). */
  list(): FaultRule[] {
    return this.rules
      .filter(({ remaining }) => remaining > 0)
      .map(({ rule, remaining }) => ({
        ...rule,
        ...(Number.isFinite(remaining) ? { times: remaining } : {}),
      }));
  }

  /** Each target and the operations a rule may name for it. */
  targets(): Record<FaultTarget, readonly string[]> {
    return { ...this.operations };
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

/** Refuses a rule with an unknown target, operation or kind, or a count, status or latency out of range. */
function checkFaultRule(
  rule: unknown,
  operations: Record<FaultTarget, readonly string[]>,
): asserts rule is FaultRule {
  if (typeof rule !== "object" || rule === null || Array.isArray(rule)) {
    throw new SandboxError("fault rule: expected a JSON object {target, kind, operation?, ...}");
  }
  const { target, kind, operation, status, latencyMs, times } = rule as Record<string, unknown>;
  const problems: string[] = [];
  const targetOperations = typeof target === "string" ? operations[target] : undefined;
  if (!targetOperations || !Object.hasOwn(operations, target as string))
    problems.push(`target must be one of ${Object.keys(operations).join(", ")}`);
  if (!(FAULT_KINDS as readonly unknown[]).includes(kind))
    problems.push(`kind must be one of ${FAULT_KINDS.join(", ")}`);
  if (operation !== undefined && (typeof operation !== "string" || operation === ""))
    problems.push("operation must be a non-empty string (e.g. PutSecretValue, enqueue, connect)");
  else if (typeof operation === "string" && targetOperations && !targetOperations.includes(operation))
    problems.push(
      `operation ${JSON.stringify(operation)} is not an operation of ${target as string}; valid: ${targetOperations.join(", ")}`,
    );
  const integer = (value: unknown, min: number, max: number) =>
    Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
  if (status !== undefined && !integer(status, 400, 599)) problems.push("status must be an integer 400-599");
  if (latencyMs !== undefined && !integer(latencyMs, 0, 600_000))
    problems.push("latencyMs must be an integer 0-600000");
  if (times !== undefined && !integer(times, 1, Number.MAX_SAFE_INTEGER))
    problems.push("times must be a positive integer");
  if (problems.length > 0) throw new SandboxError(`fault rule: ${problems.join("; ")}`);
}
