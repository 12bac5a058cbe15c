import { STAGING_SUFFIX } from "../rotation.ts";
import {
  about,
  describeOrigin,
  describePrincipal,
  forSensitivity,
  NO_SIGNALS,
  nameOf,
  type Rule,
  succeeded,
} from "../rule.ts";

/** A secret scheduled for deletion, or deleted at once without recovery. */
export const secretDeleted: Rule = {
  id: "secret-deleted",
  severity: "high",
  description:
    "Fires when DeleteSecret succeeds outside a rotation. With `forceDeleteWithoutRecovery` the secret is gone at once and nothing can restore it: critical. A scheduled deletion (7–30 days of recovery window) is high, critical for `sensitivity: critical` secrets, and medium when the principal is one of the secret's `writers`. Deleting an IBKR staging secret outside its rotation is low. Deleting the application's credentials is sabotage that stops trading at its next restart.",
  runbook:
    "For a scheduled deletion, restore the secret now (`aws secretsmanager restore-secret --secret-id ...`) unless the deletion was planned. A forced deletion cannot be undone: recreate the secret from the database/broker side (a new password) and redeploy consumers. Revoke the principal's sessions if nobody planned it.",
  falsePositives:
    "Decommissioning a service deletes its secrets; infrastructure-as-code replacing a secret. Suppress for the decommissioned secret, or list the deploy role in `writers` (reported medium).",
  events: { secretsmanager: ["DeleteSecret"] },
  evaluate(event, context) {
    if (event.service !== "secretsmanager" || event.eventName !== "DeleteSecret" || !succeeded(event))
      return NO_SIGNALS;
    const force = event.request.forceDeleteWithoutRecovery;
    const forced = force === true || force === "true";
    return event.secretArns.map((secretArn) => {
      const secret = context.secretPolicy(secretArn);
      const severity = secretArn.endsWith(STAGING_SUFFIX)
        ? "low"
        : forced
          ? "critical"
          : context.isExpectedWriter(event, secretArn)
            ? "medium"
            : forSensitivity("high", secret);
      return {
        kind: "alert" as const,
        detection: {
          severity,
          title: `${nameOf(secretArn)} ${forced ? "deleted without recovery" : "scheduled for deletion"}`,
          summary: `${describePrincipal(event)} ${forced ? "deleted" : "scheduled the deletion of"} ${secretArn}${forced ? " with no recovery window" : ` (recovery window ${String(event.request.recoveryWindowInDays ?? 30)} days)`} from ${describeOrigin(event)}.`,
          secretArn,
          group: `${secretArn}|delete`,
          ...about(event, { forceDeleteWithoutRecovery: forced, deletionDate: event.response.deletionDate }),
        },
      };
    });
  },
};
