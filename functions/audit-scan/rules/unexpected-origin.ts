import {
  about,
  describeOrigin,
  describePrincipal,
  forSensitivity,
  isValueRead,
  NO_SIGNALS,
  nameOf,
  perSecret,
  type Rule,
  succeeded,
  VALUE_READS,
} from "../rule.ts";
import { fromExpectedOrigin } from "./origin.ts";

/** A secret's value read from outside the VPC endpoints and CIDRs its policy allows. */
export const unexpectedOrigin: Rule = {
  id: "unexpected-origin",
  severity: "high",
  description:
    "Fires when a secret whose policy lists `origins` (VPC endpoints and/or CIDRs) has its value read from anywhere else — the signature of credentials copied off the host they belong to. Calls made by AWS services on the account's behalf are not judged by origin. Severity is critical for `sensitivity: critical` secrets.",
  runbook:
    "Look at the address, VPC endpoint and user agent in the finding. An address outside your networks means the credentials left their workload: revoke the principal's sessions (or deactivate the user's keys) and rotate the secret. An address inside them means the policy's `origins` is missing a range or endpoint: add it.",
  falsePositives:
    "New subnets, new VPC endpoints, a workload moved to another VPC, or engineers reading from the office without a listed range. Keep `origins` complete; reads through AWS services are never judged.",
  events: VALUE_READS,
  evaluate(event, context) {
    if (!isValueRead(event) || !succeeded(event) || event.principal.viaService) return NO_SIGNALS;
    return perSecret(event, (secretArn) => {
      const secret = context.secretPolicy(secretArn);
      if (!secret.origins || fromExpectedOrigin(event, secret)) return undefined;
      const where = event.origin.vpcEndpointId ?? event.origin.sourceIp ?? "unknown";
      return {
        kind: "alert" as const,
        detection: {
          severity: forSensitivity("high", secret),
          title: `${nameOf(secretArn)} read from an unexpected origin: ${where}`,
          summary: `${describePrincipal(event)} read ${secretArn} from ${describeOrigin(event)}, outside the policy's origins (${[...secret.origins.vpcEndpoints, ...secret.origins.cidrs].join(", ")}).`,
          secretArn,
          group: `${secretArn}|${event.principal.id}|${where}`,
          ...about(event),
        },
      };
    });
  },
};
