import {
  about,
  describeOrigin,
  describePrincipal,
  forSensitivity,
  NO_SIGNALS,
  nameOf,
  type Rule,
  succeeded,
} from "../rule.ts";

/** A secret replicated to regions it was not in. */
export const secretReplicated: Rule = {
  id: "secret-replicated",
  severity: "high",
  description:
    "Fires when ReplicateSecretToRegions (or CreateSecret with `addReplicaRegions`) copies a secret to other regions. A replica is a second copy with its own access path, in a region nobody watches — a quiet way to keep access after the original is locked down. High, critical for `sensitivity: critical` secrets, medium when the principal is one of the secret's `writers`.",
  runbook:
    "Check whether the region is one the firm operates in and whether the replication was planned. If not, remove the replica (`aws secretsmanager remove-regions-from-replication`), look for reads of the replica in that region's CloudTrail, and rotate the secret.",
  falsePositives:
    "Disaster-recovery set-ups replicating secrets to a standby region. List the deploy role in `writers` (medium) or suppress for those secrets.",
  events: { secretsmanager: ["ReplicateSecretToRegions", "CreateSecret"] },
  evaluate(event, context) {
    if (event.service !== "secretsmanager" || !succeeded(event)) return NO_SIGNALS;
    if (event.eventName !== "ReplicateSecretToRegions" && event.eventName !== "CreateSecret")
      return NO_SIGNALS;
    const regions = replicaRegions(event.request.addReplicaRegions);
    if (regions.length === 0) return NO_SIGNALS;
    return event.secretArns.map((secretArn) => ({
      kind: "alert" as const,
      detection: {
        severity: context.isExpectedWriter(event, secretArn)
          ? "medium"
          : forSensitivity("high", context.secretPolicy(secretArn)),
        title: `${nameOf(secretArn)} replicated to ${regions.join(", ")}`,
        summary: `${describePrincipal(event)} replicated ${secretArn} to ${regions.join(", ")} from ${describeOrigin(event)}.`,
        secretArn,
        group: `${secretArn}|${regions.join(",")}`,
        ...about(event, { regions }),
      },
    }));
  },
};

function replicaRegions(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry) =>
    typeof entry === "object" && entry !== null && typeof (entry as { region?: unknown }).region === "string"
      ? [(entry as { region: string }).region]
      : [],
  );
}
