import { about, describeOrigin, describePrincipal, NO_SIGNALS, perSecret, type Rule } from "../rule.ts";

/** Any call naming a canary secret: nothing legitimate ever touches one. */
export const canaryTouched: Rule = {
  id: "canary-touched",
  severity: "critical",
  description:
    "Fires on any call that names a secret the policy marks `canary: true` — a read, a describe, a write, a delete, a failed attempt. Canary secrets are decoys nobody uses, so any touch means someone is enumerating or harvesting secrets.",
  runbook:
    "Treat the principal as compromised until shown otherwise: check what else it did in CloudTrail around that time (`vigil who --secret <canary>`, then the principal's other calls), revoke its sessions (for a role, an inline deny with `aws:TokenIssueTime`; for a user, deactivate its access keys), and rotate every secret it could read.",
  falsePositives:
    "AWS services acting for the account (AWS Config inventory, for example) are ignored. A person inspecting the canary on purpose will trip it — add a dated suppression for that principal and rule.",
  events: { secretsmanager: "*" },
  evaluate(event, context) {
    if (event.principal.type === "AWSService" || (event.principal.viaService && event.readOnly))
      return NO_SIGNALS;
    return perSecret(event, (secretArn) =>
      context.secretPolicy(secretArn).canary
        ? {
            kind: "alert",
            detection: {
              severity: "critical",
              title: `Canary secret touched: ${event.eventName} by ${event.principal.id}`,
              summary: `${describePrincipal(event)} called ${event.eventName}${event.errorCode ? ` (${event.errorCode})` : ""} on the canary secret ${secretArn} from ${describeOrigin(event)}. Nothing legitimate uses a canary.`,
              secretArn,
              group: `${secretArn}|${event.principal.id}`,
              ...about(event),
            },
          }
        : undefined,
    );
  },
};
