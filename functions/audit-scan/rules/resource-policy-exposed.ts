import type { Severity } from "../../../lib/finding.ts";
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

/** A secret's resource policy now grants access to everyone, or to principals of other accounts. */
export const resourcePolicyExposed: Rule = {
  id: "resource-policy-exposed",
  severity: "critical",
  description:
    "Fires when PutResourcePolicy attaches a policy whose Allow statements name `*` as principal (public: critical — unless a condition pins the caller's account or organisation, then high) or principals of other AWS accounts (high; critical for `sensitivity: critical` secrets). A policy CloudTrail recorded but that is not valid JSON is medium. This is how a secret is opened to an attacker's own account for later, quiet reads.",
  runbook:
    "Read the policy now attached (`aws secretsmanager get-resource-policy`), remove the statement (`delete-resource-policy` or a corrected `put-resource-policy` with `--block-public-policy`), and check CloudTrail for reads by the foreign principals since the change (cross-account-read findings). Rotate the secret if any happened.",
  falsePositives:
    "Deliberate cross-account sharing inside the organisation: pin it with an `aws:PrincipalOrgID` condition (reported high, not critical) and suppress for that secret.",
  events: { secretsmanager: ["PutResourcePolicy"] },
  evaluate(event, context) {
    if (event.service !== "secretsmanager" || event.eventName !== "PutResourcePolicy" || !succeeded(event))
      return NO_SIGNALS;
    const exposure = exposureOf(event.request.resourcePolicy, event.account);
    if (!exposure) return NO_SIGNALS;
    return event.secretArns.map((secretArn) => {
      const severity =
        exposure.kind === "foreign"
          ? forSensitivity("high", context.secretPolicy(secretArn))
          : exposure.severity;
      return {
        kind: "alert" as const,
        detection: {
          severity,
          title: `Resource policy of ${nameOf(secretArn)} ${exposure.what}`,
          summary: `${describePrincipal(event)} attached a resource policy to ${secretArn} that ${exposure.what} (${exposure.principals.join(", ") || "unparsed"}), from ${describeOrigin(event)}.`,
          secretArn,
          group: `${secretArn}|policy`,
          ...about(event, {
            grantedTo: exposure.principals,
            blockPublicPolicy: event.request.blockPublicPolicy,
          }),
        },
      };
    });
  },
};

interface Exposure {
  kind: "public" | "foreign" | "unreadable";
  what: string;
  severity: Severity;
  principals: string[];
}

const ORG_CONDITION = /aws:(PrincipalOrgID|PrincipalAccount|SourceAccount|PrincipalOrgPaths|SourceOrgID)/i;

function exposureOf(policyText: unknown, account: string): Exposure | undefined {
  if (typeof policyText !== "string") return undefined;
  let policy: unknown;
  try {
    policy = JSON.parse(policyText);
  } catch {
    return { kind: "unreadable", what: "could not be read (not JSON)", severity: "medium", principals: [] };
  }
  const statements = listOf((policy as { Statement?: unknown })?.Statement);
  const publicGrants: string[] = [];
  let pinned = true;
  const foreign = new Set<string>();
  for (const statement of statements) {
    if (typeof statement !== "object" || statement === null) continue;
    const s = statement as Record<string, unknown>;
    if (s.Effect !== "Allow") continue;
    for (const principal of principalsOf(s.Principal)) {
      if (principal === "*") {
        publicGrants.push("*");
        if (!ORG_CONDITION.test(JSON.stringify(s.Condition ?? {}))) pinned = false;
        continue;
      }
      const other = /(?:^|:)(\d{12})(?::|$)/.exec(principal)?.[1];
      if (other && other !== account) foreign.add(principal);
    }
  }
  if (publicGrants.length > 0) {
    return pinned
      ? {
          kind: "public",
          what: "allows any principal of the pinned organisation or account",
          severity: "high",
          principals: publicGrants,
        }
      : {
          kind: "public",
          what: "allows anyone (Principal *)",
          severity: "critical",
          principals: publicGrants,
        };
  }
  if (foreign.size > 0)
    return { kind: "foreign", what: "grants other accounts", severity: "high", principals: [...foreign] };
  return undefined;
}

function principalsOf(principal: unknown): string[] {
  if (typeof principal === "string") return [principal];
  if (typeof principal !== "object" || principal === null) return [];
  return Object.values(principal as Record<string, unknown>).flatMap((value) => listOf(value).map(String));
}

function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}
