import {
  about,
  describeOrigin,
  describePrincipal,
  forSensitivity,
  nameOf,
  perSecret,
  type Rule,
  succeeded,
} from "../rule.ts";

/** Staging labels (AWSCURRENT, AWSPREVIOUS, ...) moved by someone other than the rotation. */
export const versionStageMoved: Rule = {
  id: "version-stage-moved",
  severity: "high",
  description:
    "Fires when UpdateSecretVersionStage moves a staging label outside a rotation, by anyone but `rotationRoles` and the secret's `writers`. Moving AWSCURRENT switches every consumer to another value on its next read — a planted version, or an old one the attacker already holds. AWSCURRENT/AWSPREVIOUS moves are high (critical for `sensitivity: critical` secrets); other labels medium; only removing a leftover AWSPENDING (what `vigil ibkr stage` does to clear an unfinished rotation) is low.",
  runbook:
    "Check which version is AWSCURRENT now and where it came from (`aws secretsmanager list-secret-versions`). If the move was not planned, move the label back, revoke the principal's sessions and rotate the secret through Vigil.",
  falsePositives:
    "A manual rollback after a failed deployment; operators clearing a stuck rotation. List the people who do that in `writers`, or suppress for the incident's duration.",
  events: { secretsmanager: ["UpdateSecretVersionStage"] },
  evaluate(event, context) {
    if (
      event.service !== "secretsmanager" ||
      event.eventName !== "UpdateSecretVersionStage" ||
      !succeeded(event)
    ) {
      return [];
    }
    const stage = typeof event.request.versionStage === "string" ? event.request.versionStage : "(unknown)";
    const moveTo = event.request.moveToVersionId;
    const from = event.request.removeFromVersionId;
    return perSecret(event, (secretArn) => {
      if (context.isExpectedWriter(event, secretArn)) return undefined;
      const secret = context.secretPolicy(secretArn);
      const severity =
        stage === "AWSPENDING" && moveTo === undefined
          ? "low"
          : stage === "AWSCURRENT" || stage === "AWSPREVIOUS"
            ? forSensitivity("high", secret)
            : "medium";
      const move = moveTo ? `to version ${String(moveTo)}` : `off version ${String(from)}`;
      return {
        kind: "alert" as const,
        detection: {
          severity,
          title: `${stage} of ${nameOf(secretArn)} moved by ${event.principal.id}`,
          summary: `${describePrincipal(event)} moved ${stage} of ${secretArn} ${move} from ${describeOrigin(event)}, outside a rotation.`,
          secretArn,
          group: `${secretArn}|${event.principal.id}|${stage}`,
          ...about(event, { versionStage: stage, moveToVersionId: moveTo, removeFromVersionId: from }),
        },
      };
    });
  },
};
