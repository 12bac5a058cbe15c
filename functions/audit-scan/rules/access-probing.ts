import type { AuditEvent } from "../normalise.ts";
import { about, describeOrigin, describePrincipal, isAwsService, NO_SIGNALS, type Rule } from "../rule.ts";

export const PROBING_THRESHOLD = 5;
export const PROBING_WINDOW_MS = 10 * 60_000;
const REFUSED = /AccessDenied|Unauthorized|ResourceNotFound|NotFound|DecryptionFailure|InvalidRequest/;

/** Repeated refused or not-found calls on Secrets Manager by one principal: probing. */
export const accessProbing: Rule = {
  id: "access-probing",
  severity: "medium",
  description: `Fires when one principal gets ${PROBING_THRESHOLD} or more refused or not-found answers from Secrets Manager (AccessDenied, ResourceNotFoundException, decryption failures) within ${PROBING_WINDOW_MS / 60_000} minutes, counted across files and invocations. Someone with credentials but without a map guesses secret names and tries what the credentials allow. A version that does not exist yet on an existing secret (the rotation function's expected ResourceNotFoundException on AWSPENDING) does not count.`,
  runbook:
    "List the secret names it tried (event ids in the finding; `vigil scan` over the same period). Guessed names (prod/db, admin, ...) mean enumeration with stolen credentials: revoke them and look at everything else the principal did. A misconfigured application (wrong name, missing permission) keeps failing the same call: fix its configuration.",
  falsePositives:
    "Applications deployed with a wrong secret name or a missing permission fail on every start; infrastructure tools probing whether a secret exists before creating it. Fix the application or add a dated suppression.",
  events: { secretsmanager: "*" },
  evaluate(event) {
    if (event.service !== "secretsmanager" || !event.errorCode || !REFUSED.test(event.errorCode))
      return NO_SIGNALS;
    if (isAwsService(event) || isMissingVersion(event)) return NO_SIGNALS;
    const principal = event.principal.id;
    return [
      {
        kind: "window",
        key: principal,
        member: event.eventId,
        threshold: PROBING_THRESHOLD,
        windowMs: PROBING_WINDOW_MS,
        unit: "refused or not-found calls",
        detection: {
          severity: "medium",
          title: `Repeated denied or not-found secret access: ${principal}`,
          summary: `${describePrincipal(event)} keeps getting refused or not-found answers from Secrets Manager (for example ${event.eventName} on ${event.secretArns[0] ?? "no secret"}: ${event.errorCode}) from ${describeOrigin(event)}.`,
          group: principal,
          ...about(event, { secrets: event.secretArns }),
        },
      },
    ];
  },
};

/** ResourceNotFound for a version or stage of a secret (not the secret itself). */
function isMissingVersion(event: AuditEvent): boolean {
  if (!event.errorCode?.includes("NotFound")) return false;
  const { versionId, versionStage } = event.request;
  return (
    (typeof versionId === "string" || versionStage === "AWSPENDING") &&
    /secret value|version/i.test(event.errorMessage ?? "version")
  );
}
