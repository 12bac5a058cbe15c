import { createHash } from "node:crypto";

/** Who calls the sandbox, and how CloudTrail names them. */

/** A caller of the sandbox, chosen by the access key id the SDK or CLI signs with. */
export interface SandboxIdentity {
  /** What the SDK/CLI sends in the SigV4 Authorization header Credential=AKID/... */
  accessKeyId: string;
  /** Any value; signatures are not verified. */
  secretAccessKey?: string;
  type: "IAMUser" | "AssumedRole" | "Root";
  /** User name, or role name for AssumedRole. */
  name: string;
  /** For AssumedRole. */
  sessionName?: string;
  /** Defaults to the sandbox account (a different one = cross-account caller). */
  accountId?: string;
  /** Recorded as sourceIPAddress (default 127.0.0.1). */
  sourceIp?: string;
  /** Overrides the caller's user agent in records. */
  userAgent?: string;
}

/** Deterministic-looking ids in the shapes IAM uses, derived from a name so records stay stable. */
function iamId(prefix: string, seed: string): string {
  return prefix + createHash("sha256").update(seed).digest("hex").slice(0, 17).toUpperCase();
}

/** Builds the userIdentity block CloudTrail writes for an identity. */
export function userIdentityOf(identity: SandboxIdentity, sandboxAccount: string): Record<string, unknown> {
  const accountId = identity.accountId ?? sandboxAccount;
  if (identity.type === "Root") {
    return {
      type: "Root",
      principalId: accountId,
      arn: `arn:aws:iam::${accountId}:root`,
      accountId,
      accessKeyId: identity.accessKeyId,
    };
  }
  if (identity.type === "AssumedRole") {
    const roleId = iamId("AROA", `${accountId}:${identity.name}`);
    const session = identity.sessionName ?? "session";
    return {
      type: "AssumedRole",
      principalId: `${roleId}:${session}`,
      arn: `arn:aws:sts::${accountId}:assumed-role/${identity.name}/${session}`,
      accountId,
      accessKeyId: identity.accessKeyId,
      sessionContext: {
        sessionIssuer: {
          type: "Role",
          principalId: roleId,
          arn: `arn:aws:iam::${accountId}:role/${identity.name}`,
          accountId,
          userName: identity.name,
        },
        webIdFederationData: {},
        attributes: {
          creationDate: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
          mfaAuthenticated: "false",
        },
      },
    };
  }
  return {
    type: "IAMUser",
    principalId: iamId("AIDA", `${accountId}:${identity.name}`),
    arn: `arn:aws:iam::${accountId}:user/${identity.name}`,
    accountId,
    accessKeyId: identity.accessKeyId,
    userName: identity.name,
  };
}

/** LookupEvents' Username: the user name, the role session name, or "root". */
export function usernameOf(identity: SandboxIdentity | undefined): string | undefined {
  if (!identity) return undefined;
  if (identity.type === "Root") return "root";
  if (identity.type === "AssumedRole") return identity.sessionName ?? "session";
  return identity.name;
}
