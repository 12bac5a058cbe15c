import { STAGING_SUFFIX } from "../rotation.ts";
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

/** A secret's value (or its encryption key) changed by someone other than the rotation or its writers. */
export const secretValueWritten: Rule = {
  id: "secret-value-written",
  severity: "high",
  description:
    "Fires when a secret's value is written (PutSecretValue, or UpdateSecret creating a new version) or its KMS key is changed (UpdateSecret with `kmsKeyId`) by anyone other than the rotation function (recognised inside the secret's rotation, or listed in `rotationRoles`) and the secret's `writers`. A replaced value can lock the application out or plant credentials the attacker knows; a new key can be one the attacker controls. Severity is critical for `sensitivity: critical` secrets. Writes to an IBKR staging secret (`<name>/vigil-staging`, written by `vigil ibkr stage`) are low: they are the operator's step of IBKR rotation.",
  runbook:
    "Ask who made the change and why. If nobody did: look at the new version (`aws secretsmanager list-secret-versions --secret-id ...`), move AWSCURRENT back to the previous version if the application is failing (`update-secret-version-stage`), revoke the principal's sessions, and rotate the secret through Vigil so the value is one nobody else has seen.",
  falsePositives:
    "Operators updating a secret by hand (a new API key from a vendor), infrastructure-as-code applying a changed value. List those principals in the secret's `writers`.",
  events: { secretsmanager: ["PutSecretValue", "UpdateSecret"] },
  evaluate(event, context) {
    if (event.service !== "secretsmanager" || !succeeded(event)) return NO_SIGNALS;
    const change = changeOf(event.eventName, event.request, event.response);
    if (!change) return NO_SIGNALS;
    return perSecret(event, (secretArn) => {
      if (context.isExpectedWriter(event, secretArn)) return undefined;
      const staging = secretArn.endsWith(STAGING_SUFFIX);
      const secret = context.secretPolicy(staging ? secretArn.slice(0, -STAGING_SUFFIX.length) : secretArn);
      return {
        kind: "alert" as const,
        detection: {
          severity: staging ? "low" : forSensitivity("high", secret),
          title: staging
            ? `IBKR credentials staged for ${nameOf(secretArn).slice(0, -STAGING_SUFFIX.length)}`
            : `${nameOf(secretArn)} ${change} by ${event.principal.id}`,
          summary: `${describePrincipal(event)} ${change === "value written" ? "wrote a new value to" : "changed the KMS key of"} ${secretArn} from ${describeOrigin(event)}, outside a rotation.`,
          secretArn,
          group: `${secretArn}|${event.principal.id}`,
          ...about(event, {
            ...(typeof event.response.versionId === "string" ? { versionId: event.response.versionId } : {}),
            ...(typeof event.request.kmsKeyId === "string" ? { kmsKeyId: event.request.kmsKeyId } : {}),
          }),
        },
      };
    });
  },
};

function changeOf(
  eventName: string,
  request: Record<string, unknown>,
  response: Record<string, unknown>,
): "value written" | "encryption key changed" | undefined {
  if (eventName === "PutSecretValue") return "value written";
  if (eventName !== "UpdateSecret") return undefined;
  // CloudTrail never records the value itself; a new version id in the response means it changed.
  if (typeof response.versionId === "string") return "value written";
  if (typeof request.kmsKeyId === "string") return "encryption key changed";
  return undefined;
}
