import { createHash } from "node:crypto";
import { IncidentError } from "./errors.ts";

/** Sid prefix of the statements `vigil incident --deny` adds; a Sid per principal makes re-runs idempotent. */
export const DENY_SID_PREFIX = "VigilIncidentDeny";

interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  Principal?: unknown;
  Action?: unknown;
  Resource?: unknown;
  [key: string]: unknown;
}

/** The statement's Sid for a principal: the prefix and 12 hex digits of the ARN's SHA-256 (Sids are alphanumeric). */
export function denySid(principalArn: string): string {
  return DENY_SID_PREFIX + createHash("sha256").update(principalArn).digest("hex").slice(0, 12);
}

/** An explicit Deny of every Secrets Manager action on this secret for one principal. */
export function denyStatement(principalArn: string): PolicyStatement {
  return {
    Sid: denySid(principalArn),
    Effect: "Deny",
    Principal: { AWS: principalArn },
    Action: "secretsmanager:*",
    Resource: "*",
  };
}

export interface MergedPolicy {
  /** The policy to put: the existing statements untouched, one Deny per principal added or refreshed. */
  policy: string;
  /** Sids of the Deny statements the policy holds for the principals. */
  sids: string[];
  /** True when the existing policy already held exactly these statements (nothing to put). */
  unchanged: boolean;
}

/**
 * Adds a Deny per principal to the secret's resource policy, keeping every existing statement as it is
 * (never replacing the policy). A statement with the same Sid (an earlier run) is replaced by the same
 * content, so running it again changes nothing. Throws IncidentError when the existing policy is not a
 * JSON policy document.
 */
export function mergeDenyStatements(
  existing: string | undefined,
  principalArns: readonly string[],
): MergedPolicy {
  const document = parsePolicy(existing);
  const additions = new Map(principalArns.map((arn) => [denySid(arn), denyStatement(arn)]));
  // An earlier run's statement is refreshed where it stands; a new one goes last.
  const statements = document.Statement.map((statement) =>
    statement.Sid !== undefined && additions.has(statement.Sid) ? additions.get(statement.Sid)! : statement,
  );
  const present = new Set(statements.map((statement) => statement.Sid));
  for (const [sid, statement] of additions) if (!present.has(sid)) statements.push(statement);
  const merged = { ...document, Version: document.Version ?? "2012-10-17", Statement: statements };
  return {
    policy: JSON.stringify(merged, null, 2),
    sids: [...additions.keys()],
    unchanged:
      document.Version !== undefined && JSON.stringify(document.Statement) === JSON.stringify(statements),
  };
}

/** The policy document with Statement as an array (the JSON allows a single object). */
function parsePolicy(
  text: string | undefined,
): { Version?: string; Statement: PolicyStatement[] } & Record<string, unknown> {
  if (text === undefined || text.trim() === "") return { Statement: [] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IncidentError("the secret's resource policy is not JSON; it was left as it is");
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new IncidentError(
      "the secret's resource policy is not a policy document (a JSON object); it was left as it is",
    );
  }
  const document = json as Record<string, unknown>;
  const statement = document.Statement;
  const list = statement === undefined ? [] : Array.isArray(statement) ? statement : [statement];
  if (list.some((entry) => entry === null || typeof entry !== "object" || Array.isArray(entry))) {
    throw new IncidentError(
      "the secret's resource policy has a Statement that is not an object; it was left as it is",
    );
  }
  return { ...document, Statement: list as PolicyStatement[] } as {
    Version?: string;
    Statement: PolicyStatement[];
  };
}

/** The Deny statements for these principals that the policy holds (to check a put took effect). */
export function deniedPrincipals(policy: string | undefined, principalArns: readonly string[]): string[] {
  if (!policy) return [];
  const statements = parsePolicy(policy).Statement;
  return principalArns.filter((arn) =>
    statements.some(
      (statement) =>
        statement.Sid === denySid(arn) &&
        statement.Effect === "Deny" &&
        JSON.stringify(statement.Principal) === JSON.stringify({ AWS: arn }),
    ),
  );
}

/** Quotes a word for a POSIX shell (left bare when it needs no quoting). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/**
 * The exact AWS CLI command that puts the secret's resource policy back as it was before the incident:
 * the saved pre-incident policy, or no policy when there was none.
 */
export function undoCommand(input: {
  secretArn: string;
  region: string;
  savedPolicyPath: string | undefined;
}): string {
  const base = `aws secretsmanager --region ${shellQuote(input.region)}`;
  if (input.savedPolicyPath === undefined) {
    return `${base} delete-resource-policy --secret-id ${shellQuote(input.secretArn)}`;
  }
  return `${base} put-resource-policy --secret-id ${shellQuote(input.secretArn)} --resource-policy ${shellQuote(`file://${input.savedPolicyPath}`)}`;
}

/**
 * The policy as it was before any `vigil incident` Deny for these principals: their statements removed
 * (an earlier run's), or undefined when nothing else is left. The text is kept as it is when it has none.
 */
export function withoutDenyStatements(
  policy: string | undefined,
  principalArns: readonly string[],
): string | undefined {
  if (policy === undefined) return undefined;
  const document = parsePolicy(policy);
  const sids = new Set(principalArns.map(denySid));
  const kept = document.Statement.filter(
    (statement) => statement.Sid === undefined || !sids.has(statement.Sid),
  );
  if (kept.length === document.Statement.length) return policy;
  if (kept.length === 0) return undefined;
  return JSON.stringify({ ...document, Statement: kept }, null, 2);
}
