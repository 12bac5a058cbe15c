import {
  AccountLockedError,
  AdminSecretRefusedError,
  ConnectionPolicyError,
  SecretFormatError,
  TargetError,
  TestSecretFailedError,
} from "../../errors.ts";
import { getPendingJson } from "../../secrets.ts";
import type { RotationStrategy, RotationStrategyName, StepContext } from "../../strategy.ts";
import { boundAdminSecret } from "./admin.ts";
import type { DatabaseDriver } from "./driver.ts";
import {
  alternateUsername,
  type DatabaseSecret,
  describeTarget,
  USERNAME_LIMITS,
  usernameLength,
} from "./secret.ts";
import {
  checkCredential,
  connectOptions,
  currentDatabaseSecret,
  DEFAULT_TEST_RETRY,
  generatePassword,
  pendingDatabaseSecret,
  refuseUncheckedPasswords,
  storePendingOnce,
  type TestRetryPolicy,
  tryLogin,
  withSession,
} from "./steps.ts";

/**
 * Alternating users: the admin secret named by `masterarn` maintains `username` and `username_clone`
 * and each rotation moves AWSCURRENT to the other one with a fresh password, so the previous
 * credential keeps working until the next rotation (zero downtime for consumers that restart late).
 */
export function alternatingUsersStrategy(
  name: RotationStrategyName,
  driver: DatabaseDriver,
  retry: TestRetryPolicy = DEFAULT_TEST_RETRY,
): RotationStrategy {
  const ids = (context: StepContext) => ({ secretArn: context.secretArn, versionId: context.token });

  function currentWithAdmin(context: StepContext): DatabaseSecret & { masterarn: string } {
    const current = currentDatabaseSecret(context, driver.family);
    if (!current.masterarn) {
      throw new SecretFormatError(
        `Secret ${context.secretArn}: missing "masterarn" (the ARN of the admin secret that creates and updates the alternating users); ${name} needs it`,
      );
    }
    return { ...current, masterarn: current.masterarn };
  }

  return {
    name,

    async createSecret(context) {
      const current = currentWithAdmin(context);
      // Refuse an unbound admin before anything is stored, so a refused rotation leaves no AWSPENDING.
      await boundAdminSecret(context, current);
      if (await getPendingJson(context.secretsManager, context.secretArn, context.token)) {
        context.logger.info("pending version already stored", ids(context));
        return;
      }
      const username = alternateUsername(current.username);
      const limit = USERNAME_LIMITS[current.engine];
      const length = usernameLength(current.engine, username);
      if (username === "" || length > limit.max) {
        throw new SecretFormatError(
          `Secret ${context.secretArn}: the alternate user "${username}" is ${length} ${limit.unit} long; ${current.engine} allows 1 to ${limit.max}, so "username" may have at most ${limit.max - 6} ${limit.unit} (room for "_clone")`,
        );
      }
      const password = await generatePassword(context);
      await storePendingOnce(context, { ...context.current, username, password });
    },

    async setSecret(context) {
      const current = currentWithAdmin(context);
      const pending = await pendingDatabaseSecret(context, current, alternateUsername(current.username));
      // The password is set last, so a pending user that logs in is fully prepared. MySQL creates it
      // locked until then: a locked pending account is one still being prepared.
      const already = await tryLogin(driver, pending, context, "AWSPENDING").catch((error: unknown) => {
        if (error instanceof AccountLockedError) return undefined;
        throw error;
      });
      if (already) {
        await already.close();
        // Behind trust authentication any password "logs in": never promote one the database did not receive.
        await refuseUncheckedPasswords(driver, pending, connectOptions(context, "AWSPENDING"));
        context.logger.info("the pending user already logs in", ids(context));
        return;
      }
      const { admin, adminArn } = await boundAdminSecret(context, current);
      // The admin acts only for a secret that already holds its current user: one whose stored
      // password logs in. Otherwise any secret could name another user and have the admin take it over.
      const own = await tryLogin(driver, current, context, "AWSCURRENT");
      if (!own) {
        throw new AdminSecretRefusedError(
          context.secretArn,
          adminArn,
          `its AWSCURRENT password does not log in as "${current.username}", so nothing shows that this secret holds that user (was the password changed outside Vigil? reset it by hand and store it as AWSCURRENT)`,
        );
      }
      await own.close();
      const session = await tryLogin(driver, admin, context, "admin (masterarn)");
      if (!session) {
        throw new TargetError(
          `${describeTarget(admin)} refuses the admin credential of ${adminArn} (masterarn); nothing was changed`,
        );
      }
      await withSession(session, async (s) => {
        const excess = await driver.excessPrivileges(s, current, pending);
        if (excess) throw new AdminSecretRefusedError(context.secretArn, adminArn, excess);
        await driver.prepareAlternateUser(s, current, pending);
      });
      context.logger.info("prepared the pending user", { ...ids(context), user: pending.username });
    },

    async testSecret(context) {
      const current = currentWithAdmin(context);
      const pending = await pendingDatabaseSecret(context, current, alternateUsername(current.username));
      const check = await checkCredential(driver, pending, context, "AWSPENDING", retry);
      if (check.ok) return;
      const outcome =
        check.error instanceof ConnectionPolicyError
          ? `was refused by policy (${check.error.message})`
          : check.reason === "rejected"
            ? "is refused"
            : check.reason === "unreachable"
              ? "could not reach the database"
              : "failed its check";
      throw new TestSecretFailedError(
        `testSecret: the AWSPENDING credential of ${context.secretArn} (user "${pending.username}") ${outcome}; AWSCURRENT is untouched and keeps working`,
        { cause: check.error },
      );
    },
  };
}
