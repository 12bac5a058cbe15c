import type { AuditEvent } from "../normalise.ts";
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
  perSecretRemembered,
  type Rule,
  type RuleContext,
  type Signal,
  SignalMemo,
  succeeded,
  VALUE_READS,
} from "../rule.ts";

/** A principal reading a secret it never read before, once the learning period is over. */
export const firstSeenReader: Rule = {
  id: "first-seen-reader",
  severity: "medium",
  description:
    "Fires the first time a principal (a role — whatever its session is called — or a user) reads a secret's value after the learning period (`learningDays` from the earliest record the scanner has seen). Stolen credentials are usually used against secrets their owner never touched. Severity is high for `sensitivity: critical` secrets and low when an AWS service made the call on the principal's behalf.",
  runbook:
    "Ask the owner of the principal whether it was meant to read this secret (a new feature, a new deployment). If not: check the session and origin in the finding, the principal's other calls around that time, revoke its sessions and rotate the secret.",
  falsePositives:
    "New services and new features reading their secrets for the first time, quarterly jobs (backup, audit) that run less often than the learning period. Principals listed in the secret's `readers` never trigger it; add expected ones there, or a dated suppression for periodic jobs.",
  events: VALUE_READS,
  evaluate(event, context) {
    if (!isValueRead(event) || !succeeded(event) || isAwsService(event) || context.isRotationRole(event))
      return NO_SIGNALS;
    return perSecretRemembered(event, context, signalOf);
  },
};

/** One signal per principal, secret and severity, for every read of that secret by that principal. */
const remembered = new SignalMemo();

function signalOf(event: AuditEvent, context: RuleContext, secretArn: string): readonly [Signal] | undefined {
  const principal = event.principal.id;
  const secret = context.secretPolicy(secretArn);
  if (secret.readers && principalMatches(secret.readers, principal)) return undefined;
  const severity = event.principal.viaService ? "low" : forSensitivity("medium", secret);
  const known = remembered.get(principal, secretArn, severity, severity);
  if (known) return known;
  const group = `${secretArn}|${principal}`;
  return remembered.set(principal, secretArn, severity, {
    kind: "first-seen",
    key: `baseline#reader#${principal}#${secretArn}`,
    detection: {
      severity,
      group,
      secretArn,
      principal,
      build: (first) => ({
        severity,
        group,
        title: `First read of ${nameOf(secretArn)} by ${principal}`,
        summary: `${describePrincipal(first)} read ${secretArn} for the first time since the scanner started learning, from ${describeOrigin(first)}.`,
        secretArn,
        ...about(first),
      }),
    },
  });
}
