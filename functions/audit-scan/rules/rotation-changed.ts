import type { Severity } from "../../../lib/finding.ts";
import type { AuditEvent } from "../normalise.ts";
import type { SecretPolicy } from "../policy.ts";
import {
  about,
  describeOrigin,
  describePrincipal,
  forSensitivity,
  NO_SIGNALS,
  nameOf,
  perSecret,
  type Rule,
  succeeded,
} from "../rule.ts";

/** Rotation reconfigured (function, schedule) or cancelled by someone other than the rotation's writers. */
export const rotationChanged: Rule = {
  id: "rotation-changed",
  severity: "high",
  description:
    "Fires when RotateSecret changes a secret's rotation function or schedule, or CancelRotateSecret turns rotation off, by anyone but `rotationRoles` and the secret's `writers`. A rotation function in another account receives every new value (critical); another function in the account is high (critical for `sensitivity: critical` secrets), but medium when it is the secret's first rotation function (after the learning period, the scanner's state holds no earlier attachment or rotation of the secret); a schedule longer than the policy's `maxRotationDays` and a cancelled rotation keep a possibly leaked value alive (high; critical for `sensitivity: critical` secrets); other schedule changes are medium; starting a rotation on demand is low (that is what `vigil ibkr stage` does).",
  runbook:
    "Compare the rotation configuration now (`aws secretsmanager describe-secret`) with what it should be (the Vigil rotate function, the policy's schedule). Restore it, find out who changed it, and rotate the secret if the rotation function was replaced — it saw the value.",
  falsePositives:
    "Infrastructure-as-code deployments changing rotation settings, operators rotating on demand. List the deploy role in `writers`.",
  events: { secretsmanager: ["RotateSecret", "CancelRotateSecret"] },
  evaluate(event, context) {
    if (event.service !== "secretsmanager" || !succeeded(event)) return NO_SIGNALS;
    if (event.eventName !== "RotateSecret" && event.eventName !== "CancelRotateSecret") return NO_SIGNALS;
    return perSecret(event, (secretArn) => {
      if (context.isExpectedWriter(event, secretArn)) return undefined;
      const change = changeOf(
        event,
        context.secretPolicy(secretArn),
        context.rotationFacts(event, secretArn).firstAttachment,
      );
      return {
        kind: "alert" as const,
        detection: {
          severity: change.severity,
          title: `Rotation of ${nameOf(secretArn)} ${change.what} by ${event.principal.id}`,
          summary: `${describePrincipal(event)} ${change.what} (${event.eventName}) on ${secretArn} from ${describeOrigin(event)}. ${change.detail}`,
          secretArn,
          group: `${secretArn}|${event.principal.id}|${event.eventName}`,
          ...about(event, {
            rotationLambdaARN: event.request.rotationLambdaARN,
            rotationRules: event.request.rotationRules,
          }),
        },
      };
    });
  },
};

function changeOf(
  event: AuditEvent,
  secret: SecretPolicy,
  firstAttachment: boolean,
): { what: string; severity: Severity; detail: string } {
  if (event.eventName === "CancelRotateSecret") {
    return {
      what: "cancelled",
      severity: forSensitivity("high", secret),
      detail: "Rotation is off: the current value stays valid indefinitely.",
    };
  }
  const lambda = event.request.rotationLambdaARN;
  if (typeof lambda === "string") {
    const lambdaAccount = lambda.split(":")[4];
    if (lambdaAccount && lambdaAccount !== event.account) {
      return {
        what: "handed to a function in another account",
        severity: "critical",
        detail: `The rotation function is now ${lambda} (account ${lambdaAccount}); it will receive every new value.`,
      };
    }
    if (firstAttachment) {
      // CloudTrail does not say whether a function replaced another; the state does (after learning).
      return {
        what: "attached for the first time",
        severity: "medium",
        detail: `The rotation function is now ${lambda}; no rotation of the secret was seen before.`,
      };
    }
    return {
      what: "given another rotation function",
      severity: forSensitivity("high", secret),
      detail: `The rotation function is now ${lambda}.`,
    };
  }
  const rules = event.request.rotationRules;
  if (rules && typeof rules === "object") {
    const days = (rules as Record<string, unknown>).automaticallyAfterDays;
    if (typeof days === "number" && days > secret.maxRotationDays) {
      return {
        what: "schedule lengthened",
        severity: forSensitivity("high", secret),
        detail: `Rotation now every ${days} days, beyond the policy's ${secret.maxRotationDays}.`,
      };
    }
    return { what: "schedule changed", severity: "medium", detail: `New rules: ${JSON.stringify(rules)}.` };
  }
  return {
    what: "started on demand",
    severity: "low",
    detail: "A rotation was started outside its schedule.",
  };
}
