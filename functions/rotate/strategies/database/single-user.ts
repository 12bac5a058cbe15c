import {
  ConnectionPolicyError,
  DeadlineExceededError,
  NoWorkingCredentialError,
  TestSecretFailedError,
} from "../../errors.ts";
import { getPendingJson } from "../../secrets.ts";
import type { RotationStrategy, RotationStrategyName, StepContext } from "../../strategy.ts";
import type { DatabaseDriver } from "./driver.ts";
import { type DatabaseSecret, describeTarget } from "./secret.ts";
import {
  checkCredential,
  connectOptions,
  currentDatabaseSecret,
  DEFAULT_TEST_RETRY,
  generatePassword,
  pendingDatabaseSecret,
  previousDatabaseSecret,
  refuseUncheckedPasswords,
  storePendingOnce,
  type TestRetryPolicy,
  tryLogin,
  withSession,
} from "./steps.ts";

/**
 * Single-user rotation: the user changes its own password. Between setSecret and finishSecret the
 * database accepts only the pending password while AWSCURRENT still holds the old one (the documented
 * window, see docs/rotation.md); if testSecret fails for good, the database is put back on AWSCURRENT.
 */
export function singleUserStrategy(
  name: RotationStrategyName,
  driver: DatabaseDriver,
  retry: TestRetryPolicy = DEFAULT_TEST_RETRY,
): RotationStrategy {
  const ids = (context: StepContext) => ({ secretArn: context.secretArn, versionId: context.token });
  // What else the engine's refusal may mean, said before advising a password reset.
  const caveat = (secret: DatabaseSecret) => {
    const text = driver.refusalCaveat?.(secret);
    return text ? `${text.charAt(0).toUpperCase()}${text.slice(1)}. ` : "";
  };

  return {
    name,

    async createSecret(context) {
      currentDatabaseSecret(context, driver.family);
      if (await getPendingJson(context.secretsManager, context.secretArn, context.token)) {
        context.logger.info("pending version already stored", ids(context));
        return;
      }
      const password = await generatePassword(context);
      await storePendingOnce(context, { ...context.current, password });
    },

    async setSecret(context) {
      const current = currentDatabaseSecret(context, driver.family);
      const pending = await pendingDatabaseSecret(context, current, current.username);
      const already = await tryLogin(driver, pending, context, "AWSPENDING");
      if (already) {
        await already.close();
        // Behind trust authentication any password "logs in": never promote one the database did not receive.
        await refuseUncheckedPasswords(driver, pending, connectOptions(context, "AWSPENDING"));
        context.logger.info("the database already accepts the pending password", ids(context));
        return;
      }
      // MySQL 8 with password_require_current needs the password the session logged in with.
      let login = current;
      let session = await tryLogin(driver, current, context, "AWSCURRENT");
      if (!session) {
        const previous = await previousDatabaseSecret(context, current);
        if (previous) {
          login = { ...current, password: previous.password };
          session = await tryLogin(driver, login, context, "AWSPREVIOUS");
        }
      }
      if (!session) {
        throw new NoWorkingCredentialError(
          `${describeTarget(current)} refuses the AWSPENDING, AWSCURRENT and AWSPREVIOUS passwords of ${context.secretArn}; nothing was changed. ${caveat(current)}Reset the password by hand and store it as AWSCURRENT`,
        );
      }
      await withSession(session, (s) => driver.changeOwnPassword(s, login, pending.password));
      context.logger.info("changed the user's password to the pending one", ids(context));
    },

    async testSecret(context) {
      const current = currentDatabaseSecret(context, driver.family);
      const pending = await pendingDatabaseSecret(context, current, current.username);
      const check = await checkCredential(driver, pending, context, "AWSPENDING", retry);
      if (check.ok) return;
      if (check.reason === "unreachable") {
        const reason =
          check.error instanceof ConnectionPolicyError
            ? check.error.message
            : `testSecret could not reach ${describeTarget(pending)} after ${retry.attempts} attempts`;
        throw new TestSecretFailedError(
          `${reason}; if setSecret changed the password, AWSCURRENT does not log in until the rotation is retried or cancelled (see docs/rotation.md#when-a-rotation-fails)`,
          { cause: check.error },
        );
      }
      if (check.reason === "rejected") {
        const fallback = await tryLogin(driver, current, context, "AWSCURRENT");
        if (!fallback) {
          throw new NoWorkingCredentialError(
            `${describeTarget(current)} refuses both the AWSPENDING and the AWSCURRENT password of ${context.secretArn}. ${caveat(current)}`.trim(),
          );
        }
        await fallback.close();
        throw new TestSecretFailedError(
          `${describeTarget(pending)} refuses the AWSPENDING password but still accepts AWSCURRENT: nothing to roll back; retrying the rotation applies it again`,
        );
      }
      await rollBack(context, pending, current);
      throw new TestSecretFailedError(
        `testSecret failed for good with the AWSPENDING credential of ${context.secretArn}; the database was put back on the AWSCURRENT password (rollback), so consumers keep working`,
        { cause: check.error },
      );
    },
  };

  /** Puts the database back on the AWSCURRENT password, logged in with the pending one. */
  async function rollBack(context: StepContext, pending: DatabaseSecret, current: DatabaseSecret) {
    // No pending login: already back on AWSCURRENT (an earlier rollback), which the check below confirms.
    const session = await tryLogin(driver, pending, context, "AWSPENDING");
    if (session) {
      try {
        await withSession(session, (s) => driver.changeOwnPassword(s, pending, current.password));
      } catch (error) {
        if (error instanceof DeadlineExceededError) throw error;
        // e.g. MySQL's password history refusing the old password: say where the database stands.
        throw new TestSecretFailedError(
          `testSecret failed for good with the AWSPENDING credential of ${context.secretArn} and the rollback to the AWSCURRENT password failed too: the database accepts only AWSPENDING until the rotation is retried or AWSPENDING is promoted by hand (see docs/rotation.md#when-a-rotation-fails)`,
          { cause: error },
        );
      }
    }
    const check = await tryLogin(driver, current, context, "AWSCURRENT");
    if (!check) {
      throw new NoWorkingCredentialError(
        `${describeTarget(current)}: rolling back ${context.secretArn} left no stored password that logs in (neither AWSPENDING nor AWSCURRENT). ${caveat(current)}`.trim(),
      );
    }
    await check.close();
    context.logger.warn("rolled the database back to the AWSCURRENT password", {
      secretArn: context.secretArn,
      versionId: context.token,
    });
  }
}
