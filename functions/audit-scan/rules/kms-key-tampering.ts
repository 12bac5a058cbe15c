import type { Severity } from "../../../lib/finding.ts";
import { about, describeOrigin, describePrincipal, NO_SIGNALS, type Rule, succeeded } from "../rule.ts";

const CHANGES: Record<string, { what: string; severity: Severity }> = {
  ScheduleKeyDeletion: { what: "scheduled for deletion", severity: "high" },
  DisableKey: { what: "disabled", severity: "high" },
  PutKeyPolicy: { what: "given a new key policy", severity: "medium" },
};

/** A KMS key disabled, scheduled for deletion, or given a new policy. */
export const kmsKeyTampering: Rule = {
  id: "kms-key-tampering",
  severity: "high",
  description:
    "Fires when a KMS key is disabled (DisableKey) or scheduled for deletion (ScheduleKeyDeletion) — high: every secret encrypted under it becomes unreadable, and after the waiting period unrecoverable — or gets a new key policy (PutKeyPolicy): medium, high when the policy allows `*`. The scanner cannot tell from one event which keys protect secrets, so it watches every key in the trail.",
  runbook:
    "Find which secrets use the key (`aws secretsmanager list-secrets` shows KmsKeyId). Cancel a scheduled deletion (`aws kms cancel-key-deletion`) or re-enable the key (`enable-key`) unless the change was planned; read a new key policy for grants to unknown principals. Then find out who did it.",
  falsePositives:
    "Planned key retirement and key-policy updates by infrastructure-as-code. Suppress for the deploy role during the change window.",
  events: { kms: Object.keys(CHANGES) },
  evaluate(event) {
    if (event.service !== "kms" || !succeeded(event)) return NO_SIGNALS;
    const change = CHANGES[event.eventName];
    if (!change) return NO_SIGNALS;
    const keyId = String(event.request.keyId ?? event.response.keyId ?? "(unknown key)");
    const policy = typeof event.request.policy === "string" ? event.request.policy : "";
    const severity =
      event.eventName === "PutKeyPolicy" && /"Principal"\s*:\s*(\{\s*"AWS"\s*:\s*)?"\*"/.test(policy)
        ? "high"
        : change.severity;
    return [
      {
        kind: "alert",
        detection: {
          severity,
          title: `KMS key ${change.what}: ${keyId}`,
          summary: `${describePrincipal(event)} called ${event.eventName} on KMS key ${keyId}${event.request.pendingWindowInDays ? ` (deletion in ${String(event.request.pendingWindowInDays)} days)` : ""} from ${describeOrigin(event)}. Secrets encrypted under it ${event.eventName === "PutKeyPolicy" ? "are readable by whoever the new policy allows" : "cannot be read while it lasts"}.`,
          group: `${event.account}|${keyId}|${event.eventName}`,
          ...about(event, { keyId }),
        },
      },
    ];
  },
};
