import { principalMatches } from "../policy.ts";
import {
  about,
  describeOrigin,
  describePrincipal,
  forSensitivity,
  isAwsService,
  isValueRead,
  NO_SIGNALS,
  nameOf,
  perSecret,
  type Rule,
  succeeded,
  VALUE_READS,
} from "../rule.ts";

/** A secret's value read by a principal its policy does not list as a reader. */
export const unexpectedReader: Rule = {
  id: "unexpected-reader",
  severity: "high",
  description:
    "Fires when a principal outside a secret's `readers` (and outside `rotationRoles`) reads its value with GetSecretValue or BatchGetSecretValue and gets it. Only secrets whose policy entry lists `readers` are checked. Severity is critical for `sensitivity: critical` secrets.",
  runbook:
    "Find out whether the principal should have the secret: who owns the role or user, what ran under the session named in the finding, from which address. If it should not, remove the permission (identity policy or the secret's resource policy), revoke the session, and rotate the secret — the value was returned. If it should, add it to `readers`.",
  falsePositives:
    "A new service or a renamed role that nobody added to `readers`; break-glass reads by administrators. Add the role to `readers` (globs allowed) or a dated suppression.",
  events: VALUE_READS,
  evaluate(event, context) {
    if (!isValueRead(event) || !succeeded(event) || isAwsService(event) || context.isRotationRole(event))
      return NO_SIGNALS;
    return perSecret(event, (secretArn) => {
      const secret = context.secretPolicy(secretArn);
      if (!secret.readers || principalMatches(secret.readers, event.principal.id)) return undefined;
      return {
        kind: "alert" as const,
        detection: {
          severity: forSensitivity("high", secret),
          title: `Unexpected reader of ${nameOf(secretArn)}: ${event.principal.id}`,
          summary: `${describePrincipal(event)} read the value of ${secretArn} from ${describeOrigin(event)}; the policy's readers for it are ${secret.readers.join(", ") || "(none)"}.`,
          secretArn,
          group: `${secretArn}|${event.principal.id}`,
          ...about(event),
        },
      };
    });
  },
};
