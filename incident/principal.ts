import { IncidentInputError } from "./errors.ts";

/** A principal `--deny` names, checked strictly: a Deny for the wrong principal can lock out the wrong people. */
export interface DenyPrincipal {
  arn: string;
  account: string;
  kind: "user" | "role" | "root" | "assumed-role";
}

// IAM names: letters, digits and +=,.@_- (at most 64); paths are /segment/.../; sessions 2-64 characters.
const NAME = "[\\w+=,.@-]{1,64}";
const PATH = "(?:[\\w+=,.@-]+/)*";
const IAM_PRINCIPAL = new RegExp(
  `^arn:aws(?:-cn|-us-gov)?:iam::(\\d{12}):(root|(user|role)/${PATH}${NAME})$`,
);
const ROLE_SESSION = new RegExp(
  `^arn:aws(?:-cn|-us-gov)?:sts::(\\d{12}):assumed-role/${NAME}/[\\w+=,.@-]{2,64}$`,
);

/** Parses one `--deny` value; the error names the option, the forms accepted and what was given. */
export function parseDenyPrincipal(text: string): DenyPrincipal {
  const arn = text.trim();
  const iam = IAM_PRINCIPAL.exec(arn);
  if (iam) {
    const kind = iam[2] === "root" ? "root" : (iam[3] as "user" | "role");
    return { arn, account: iam[1]!, kind };
  }
  const session = ROLE_SESSION.exec(arn);
  if (session) return { arn, account: session[1]!, kind: "assumed-role" };
  throw new IncidentInputError(
    `--deny: expected an IAM user, role or account ARN (arn:aws:iam::123456789012:role/NAME, .../user/NAME, ...:root) or a role session (arn:aws:sts::123456789012:assumed-role/ROLE/SESSION), got "${text}"`,
  );
}

/** The role ARN behind an assumed-role session ARN (arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R). */
export function roleOfSession(arn: string): string | undefined {
  const match = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(arn);
  return match ? `arn:${match[1]}:iam::${match[2]}:role/${match[3]}` : undefined;
}

/**
 * Refuses a Deny that would lock out the responder (its own user, role or session: the undo needs them) or
 * everyone (the secret's own account root, which in a resource policy means every principal of the account).
 */
export function checkDenyTarget(
  principal: DenyPrincipal,
  context: { callerArn: string; secretAccount: string },
): void {
  const mine = new Set([context.callerArn, roleOfSession(context.callerArn)].filter(Boolean));
  const target = roleOfSession(principal.arn) ?? principal.arn;
  if (mine.has(principal.arn) || mine.has(target)) {
    throw new IncidentInputError(
      `--deny: ${principal.arn} is the identity running this command (${context.callerArn}); denying it would lock you out of the secret and of the undo`,
    );
  }
  if (principal.kind === "root" && principal.account === context.secretAccount) {
    throw new IncidentInputError(
      `--deny: ${principal.arn} is the secret's own account, which in a resource policy means every principal in it (the rotation too); name the user or role instead`,
    );
  }
}
