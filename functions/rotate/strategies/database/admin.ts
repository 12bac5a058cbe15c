import { DescribeSecretCommand, type Tag } from "@aws-sdk/client-secrets-manager";
import { AdminSecretRefusedError } from "../../errors.ts";
import { AWSCURRENT, getSecretJson } from "../../secrets.ts";
import type { StepContext } from "../../strategy.ts";
import { CLONE_SUFFIX, type DatabaseSecret, familyOf, ownerUsername, parseDatabaseSecret } from "./secret.ts";

/**
 * Tags on an admin secret that list the secrets allowed to use it (every tag whose key starts with this,
 * e.g. `vigil:rotation-admin-for` and `vigil:rotation-admin-for-2`). Each value holds secret names or
 * full secret ARNs separated by spaces. Tags are set by whoever may tag the admin secret (its owner),
 * never by the owner of a target, and DescribeSecret shows them without reading any value.
 */
export const ADMIN_BINDING_TAG = "vigil:rotation-admin-for";

/** The secret names and ARNs an admin secret's binding tags list. */
export function boundSecrets(tags: readonly Tag[] | undefined): string[] {
  return (tags ?? [])
    .filter((tag) => tag.Key?.startsWith(ADMIN_BINDING_TAG))
    .flatMap((tag) => (tag.Value ?? "").split(/\s+/))
    .filter((entry) => entry !== "");
}

/** Region and account of a secret ARN (`arn:partition:secretsmanager:region:account:secret:...`). */
function arnScope(arn: string): string {
  return arn.split(":").slice(1, 5).join(":");
}

/**
 * True when an entry of the admin's binding names the target: an ARN equal to the target's, or a name
 * equal to the target's name in the admin secret's own partition, region and account.
 */
export function isBoundTo(
  entries: readonly string[],
  admin: { arn: string },
  target: { arn: string; name: string },
): boolean {
  return entries.some((entry) =>
    entry.startsWith("arn:")
      ? entry === target.arn
      : entry === target.name && arnScope(admin.arn) === arnScope(target.arn),
  );
}

/** The user names of an alternating pair: `name` and `name_clone`, whichever of the two is given. */
export function userPair(username: string): [string, string] {
  const owner = ownerUsername(username);
  return [owner, owner + CLONE_SUFFIX];
}

/**
 * Reads the admin secret named by `masterarn` after checking that it may act for this secret: bound to
 * it by the admin's tags (checked before its value is read), on the same engine family, host and port,
 * and not a user of the pair (neither the admin's own user nor a clone of it, either way round).
 * Throws AdminSecretRefusedError, naming both secrets, otherwise.
 */
export async function boundAdminSecret(
  context: StepContext,
  current: DatabaseSecret & { masterarn: string },
): Promise<{ admin: DatabaseSecret; adminArn: string }> {
  const { secretArn, metadata } = context;
  const adminMetadata = await context.secretsManager.send(
    new DescribeSecretCommand({ SecretId: current.masterarn }),
  );
  const adminArn = adminMetadata.ARN ?? current.masterarn;
  const refuse = (reason: string) => new AdminSecretRefusedError(secretArn, adminArn, reason);
  const target = { arn: metadata.ARN ?? secretArn, name: metadata.Name ?? "" };
  if (!isBoundTo(boundSecrets(adminMetadata.Tags), { arn: adminArn }, target)) {
    throw refuse(
      `the admin secret is not bound to this secret: its ${ADMIN_BINDING_TAG} tags do not list "${target.name}" or its ARN (the admin secret's owner adds it there)`,
    );
  }
  const json = await getSecretJson(context.secretsManager, adminArn, AWSCURRENT);
  const admin = parseDatabaseSecret(json, `${adminArn} (admin secret named by masterarn)`);
  if (
    familyOf(admin) !== familyOf(current) ||
    admin.host.toLowerCase() !== current.host.toLowerCase() ||
    admin.port !== current.port
  ) {
    throw refuse(
      `the admin secret is for ${admin.engine} ${admin.host}:${admin.port}, this secret for ${current.engine} ${current.host}:${current.port}; both must name the same engine family, host and port`,
    );
  }
  const adminUsers = userPair(admin.username);
  const taken = userPair(current.username).filter((user) => adminUsers.includes(user));
  if (taken.length > 0) {
    throw refuse(
      `this secret's users "${userPair(current.username).join('" and "')}" include the admin's own user or its clone ("${taken.join('", "')}")`,
    );
  }
  return { admin, adminArn };
}
