import { rotationGroupKey } from "../../../lib/finding-keys.ts";
import { NO_SIGNALS, nameOf, type Rule } from "../rule.ts";

/** Secrets Manager reports a rotation failed or was abandoned; a later success resolves it. */
export const rotationFailed: Rule = {
  id: "rotation-failed",
  severity: "high",
  description:
    "Fires on Secrets Manager's RotationFailed service event and RotationAbandoned (medium: the rotation was given up and may have left an AWSPENDING version behind). RotationFailed is high (it pages) only when nobody else will report it: it is medium when the rotation's calls on the secret (within 30 minutes before) were made by a `rotationRoles` principal, because Vigil's rotate function sends its own `rotation.failed` finding (or the low `ibkr.rotation-due` reminder) with the reason, and a high finding in the same group would page twice or escalate the reminder. The finding shares its group with the rotate function's own failure findings (`rotation:<secret ARN>`), and RotationSucceeded for the same secret sends a `resolved` finding that closes the incident.",
  runbook:
    "Read the rotate function's logs for the secret (the error message names the step). docs/rotation.md has the runbook per strategy; once fixed, `aws secretsmanager rotate-secret --secret-id ...` rotates again and the success resolves this finding.",
  falsePositives:
    "A database briefly unreachable during maintenance fails a rotation that the next attempt completes; the success resolves the incident. List Vigil's rotate function role in `rotationRoles`: without it every failure of Vigil's rotations is high here too (a second page beside the function's own finding, and an escalated IBKR rotation reminder).",
  events: { secretsmanager: ["RotationFailed", "RotationAbandoned", "RotationSucceeded"] },
  evaluate(event, context) {
    if (event.service !== "secretsmanager" || event.eventType !== "AwsServiceEvent") return NO_SIGNALS;
    const name = event.eventName;
    if (name !== "RotationFailed" && name !== "RotationAbandoned" && name !== "RotationSucceeded")
      return NO_SIGNALS;
    const fullArn =
      typeof event.additional.SecretId === "string" ? event.additional.SecretId : event.secretArns[0];
    const secretArn = event.secretArns[0];
    if (!fullArn || !secretArn) return NO_SIGNALS;
    const detail = { eventName: name, ...(event.errorMessage ? { error: event.errorMessage } : {}) };
    if (name === "RotationSucceeded") {
      return [
        {
          kind: "alert",
          detection: {
            severity: "info",
            title: `Rotation of ${nameOf(secretArn)} succeeded`,
            summary: `Secrets Manager reports that the rotation of ${secretArn} succeeded.`,
            secretArn,
            group: `${secretArn}|succeeded`,
            groupKey: rotationGroupKey(fullArn),
            resolves: true,
            details: detail,
          },
        },
      ];
    }
    const failed = name === "RotationFailed";
    // Vigil's rotate function (its calls are by a rotationRoles principal) reports its own failures, with
    // the reason and the right urgency (an IBKR "rotation due" stop is a low reminder): a high finding here
    // would duplicate the page, or, sharing the group, escalate the reminder into one.
    const reported = failed && context.rotationFacts(event, secretArn).byRotationRole;
    return [
      {
        kind: "alert",
        detection: {
          severity: failed && !reported ? "high" : "medium",
          title: `Rotation of ${nameOf(secretArn)} ${failed ? "failed" : "abandoned"}`,
          summary: `Secrets Manager reports that the rotation of ${secretArn} ${failed ? "failed" : "was abandoned"}${event.errorMessage ? `: ${event.errorMessage}` : ""}. The current value stays in use${failed ? "" : "; an AWSPENDING version may be left behind"}.${reported ? " The rotation was run by a rotation role (Vigil's rotate function), which reports the failure and its reason itself." : ""}`,
          secretArn,
          group: `${secretArn}|${name}`,
          groupKey: rotationGroupKey(fullArn),
          details: { ...detail, ...(reported ? { reportedByRotationFunction: true } : {}) },
        },
      },
    ];
  },
};
