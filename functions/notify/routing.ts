import type { Severity } from "../../lib/finding.ts";
import type { RoutingPolicy } from "./config.ts";
import type { AlertGroup } from "./grouping.ts";

/** PagerDuty's four severities (Events API v2 `payload.severity`). */
export type PagerDutySeverity = "critical" | "error" | "warning" | "info";

/** Vigil's five severities on PagerDuty's four. */
export const PAGERDUTY_SEVERITY: Readonly<Record<Severity, PagerDutySeverity>> = {
  critical: "critical",
  high: "error",
  medium: "warning",
  low: "warning",
  info: "info",
};

/** The PagerDuty services (integration keys) the notifier knows. */
export type PagerDutyService = "primary" | "lowUrgency";

/** What to send for one group. */
export interface GroupRoute {
  /** The service to trigger an alert on, if the group is firing and its severity pages anywhere. */
  readonly trigger: PagerDutyService | undefined;
  /** The services to send a resolve to. */
  readonly resolve: readonly PagerDutyService[];
  /** Whether the group's finding goes to SNS (rotations are decided by `rotationsToSns`). */
  readonly findingToSns: boolean;
  /** Whether each `secret.rotated` event becomes an SNS message (they are `info`). */
  readonly rotationsToSns: boolean;
}

/** The PagerDuty service a firing finding of this severity triggers on, if any. */
export function triggerServiceFor(
  severity: Severity,
  policy: RoutingPolicy,
  hasLowUrgencyService: boolean,
): PagerDutyService | undefined {
  if (policy.page.has(severity)) return "primary";
  if (hasLowUrgencyService && policy.lowUrgency.has(severity)) return "lowUrgency";
  return undefined;
}

/**
 * Decides the deliveries of one group. A resolve goes to every configured service: PagerDuty ignores a
 * resolve for a dedup key it does not know, and the severity that triggered may differ from the one that
 * resolves, so guessing the service could leave an incident open.
 */
export function routeGroup(
  group: AlertGroup,
  policy: RoutingPolicy,
  hasLowUrgencyService: boolean,
): GroupRoute {
  const services: PagerDutyService[] = hasLowUrgencyService ? ["primary", "lowUrgency"] : ["primary"];
  const firing = group.state === "firing";
  return {
    trigger: firing ? triggerServiceFor(group.severity, policy, hasLowUrgencyService) : undefined,
    resolve: firing ? [] : services,
    findingToSns: group.latest !== undefined && policy.sns.has(group.severity),
    rotationsToSns: policy.sns.has("info"),
  };
}
