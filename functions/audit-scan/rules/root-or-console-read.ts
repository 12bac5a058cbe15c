import type { Severity } from "../../../lib/finding.ts";
import { inBusinessHours } from "../policy.ts";
import {
  about,
  describeOrigin,
  forSensitivity,
  isValueRead,
  NO_SIGNALS,
  nameOf,
  type Rule,
  raised,
  succeeded,
  VALUE_READS,
} from "../rule.ts";

/** A secret's value read by the root user, or by a person in the AWS console. */
export const rootOrConsoleRead: Rule = {
  id: "root-or-console-read",
  severity: "high",
  description:
    "Fires when the account's root user reads a secret's value (high; critical for `sensitivity: critical` secrets), or when a person reads one through the AWS console (`sessionCredentialFromConsole`): medium for normal secrets, high for `high` and `critical` ones, one level more outside the policy's `businessHours`. Secrets are for workloads; a human copying one out of the console is how credentials end up in chat logs and laptops.",
  runbook:
    "Ask the person why they needed the value. Root use at all needs an explanation (root should be locked away). If nobody claims it, treat the session as stolen: sign-out (revoke sessions), reset the root/user password and MFA, rotate the secret.",
  falsePositives:
    "Break-glass access during an incident, engineers checking a value by hand. A dated suppression for that person covers a planned change window.",
  events: VALUE_READS,
  evaluate(event, context) {
    if (!isValueRead(event) || !succeeded(event)) return NO_SIGNALS;
    const { principal } = event;
    if (!principal.isRoot && !principal.console) return NO_SIGNALS;
    return event.secretArns.map((secretArn) => {
      const secret = context.secretPolicy(secretArn);
      let severity: Severity;
      if (principal.isRoot) severity = forSensitivity("high", secret);
      else {
        severity = secret.sensitivity === "normal" ? "medium" : "high";
        if (context.policy.businessHours && !inBusinessHours(context.policy, event.timeMs))
          severity = raised(severity);
      }
      const who = principal.isRoot
        ? "The root user"
        : `${principal.id}${principal.session ? ` (${principal.session})` : ""} in the AWS console`;
      return {
        kind: "alert" as const,
        detection: {
          severity,
          title: `${principal.isRoot ? "Root" : "Console"} read of ${nameOf(secretArn)}`,
          summary: `${who} read the value of ${secretArn} from ${describeOrigin(event)}${principal.mfa ? " (with MFA)" : ""}.`,
          secretArn,
          group: `${secretArn}|${principal.id}`,
          ...about(event, { console: principal.console, root: principal.isRoot, mfa: principal.mfa }),
        },
      };
    });
  },
};
