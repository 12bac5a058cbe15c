import type { AuditEvent } from "../normalise.ts";
import {
  about,
  describePrincipal,
  forSensitivity,
  isAwsService,
  isValueRead,
  NO_SIGNALS,
  nameOf,
  perSecretRemembered,
  type Rule,
  type RuleContext,
  type Signal,
  SignalMemo,
  succeeded,
  VALUE_READS,
} from "../rule.ts";
import { fromExpectedOrigin, originKey } from "./origin.ts";

/** A known reader of a secret reading it from a network or tool it never used before. */
export const firstSeenOrigin: Rule = {
  id: "first-seen-origin",
  severity: "low",
  description:
    'Fires the first time a principal reads a secret from a new origin after the learning period. An origin is coarse on purpose: the VPC endpoint, else "private network", else the /24 (IPv4) or /48 (IPv6) of a public address — together with the client family (`aws-cli`, `Boto3`, `aws-sdk-js`, a browser). The application\'s own credentials used from a laptop, or with the AWS CLI instead of the SDK, look like this. Severity is medium for `sensitivity: critical` secrets.',
  runbook:
    "Compare the origin with where the principal normally runs (the finding's details hold the address, endpoint and user agent). If the credentials were used from somewhere they should not be, revoke the session and rotate the secret; if the workload moved (new VPC endpoint, new NAT address), nothing to do — later reads from there are quiet.",
  falsePositives:
    "Workloads moving to a new VPC endpoint or NAT gateway, engineers switching tools. Reads through AWS services and origins the secret's policy lists under `origins` never trigger it.",
  events: VALUE_READS,
  evaluate(event, context) {
    if (!isValueRead(event) || !succeeded(event) || isAwsService(event) || context.isRotationRole(event))
      return NO_SIGNALS;
    if (event.principal.viaService) return NO_SIGNALS;
    return perSecretRemembered(event, context, signalOf);
  },
};

/** One signal per principal, secret, origin and severity, for every read of that secret from there. */
const remembered = new SignalMemo();

function signalOf(event: AuditEvent, context: RuleContext, secretArn: string): readonly [Signal] | undefined {
  const secret = context.secretPolicy(secretArn);
  if (secret.origins && fromExpectedOrigin(event, secret)) return undefined;
  const principal = event.principal.id;
  const origin = originKey(event);
  const severity = forSensitivity("low", secret);
  const known = remembered.get(principal, secretArn, origin, severity);
  if (known) return known;
  const group = `${secretArn}|${principal}|${origin}`;
  return remembered.set(principal, secretArn, origin, {
    kind: "first-seen",
    key: `baseline#origin#${principal}#${secretArn}#${origin}`,
    detection: {
      severity,
      group,
      secretArn,
      principal,
      build: (first) => ({
        severity,
        group,
        title: `${nameOf(secretArn)} read from a new origin: ${origin}`,
        summary: `${describePrincipal(first)} read ${secretArn} from ${origin} (${first.origin.sourceIp ?? "no address"}) for the first time since the scanner started learning.`,
        secretArn,
        ...about(first, { originKey: origin }),
      }),
    },
  });
}
