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

/** A secret's value read by a principal of another AWS account. */
export const crossAccountRead: Rule = {
  id: "cross-account-read",
  severity: "high",
  description:
    "Fires when a principal from another AWS account reads a secret's value (the secret's resource policy and KMS key let it). Cross-account access is rare and deliberate; when it was not deliberate, the secret has left the account's control. Principals listed in the secret's `readers` are expected. Severity is critical for `sensitivity: critical` secrets.",
  runbook:
    "Identify the other account (is it one of the organisation's?). Read the secret's resource policy (`aws secretsmanager get-resource-policy`) and the KMS key policy to see what grants the access; remove it if unintended, and rotate the secret.",
  falsePositives:
    "Shared secrets consumed from another account of the organisation by design: list those roles in the secret's `readers`.",
  events: VALUE_READS,
  evaluate(event, context) {
    if (!isValueRead(event) || !succeeded(event) || isAwsService(event)) return NO_SIGNALS;
    const from = event.principal.accountId;
    if (!from) return NO_SIGNALS;
    return perSecret(event, (secretArn) => {
      const owner = accountOf(secretArn);
      const secret = context.secretPolicy(secretArn);
      if (from === owner || principalMatches(secret.readers ?? [], event.principal.id)) return undefined;
      return {
        kind: "alert" as const,
        detection: {
          severity: forSensitivity("high", secret),
          title: `Cross-account read of ${nameOf(secretArn)} by account ${from}`,
          summary: `${describePrincipal(event)} of account ${from} read ${secretArn} (account ${owner}) from ${describeOrigin(event)}.`,
          secretArn,
          group: `${secretArn}|${event.principal.id}`,
          ...about(event, { callerAccount: from }),
        },
      };
    });
  },
};

/** The account field of an ARN (`arn:partition:service:region:ACCOUNT:...`), without splitting it all. */
function accountOf(arn: string): string | undefined {
  let at = -1;
  for (let field = 0; field < 4; field++) {
    at = arn.indexOf(":", at + 1);
    if (at < 0) return undefined;
  }
  const end = arn.indexOf(":", at + 1);
  return arn.slice(at + 1, end < 0 ? undefined : end);
}
