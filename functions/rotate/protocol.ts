import type { ECSClient } from "@aws-sdk/client-ecs";
import { DescribeSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Logger } from "../../lib/logger.ts";
import { recordRotationStep, type VigilMetrics } from "../../lib/metrics.ts";
import { redactText } from "../../lib/redaction.ts";
import { consumingServices, restartConsumers } from "./consumers.ts";
import type { Deadline } from "./deadline.ts";
import {
  InvalidRotationEventError,
  RotationDisabledError,
  RotationError,
  TokenMismatchError,
} from "./errors.ts";
import { type PublishOutcome, rotationFailureFinding } from "./outcomes.ts";
import { selectStrategy } from "./registry.ts";
import {
  ANNOUNCED_LABEL,
  AWSCURRENT,
  AWSPENDING,
  getSecretJson,
  moveCurrentTo,
  moveLabel,
  removePendingLabel,
} from "./secrets.ts";
import type { RotationSettings } from "./settings.ts";
import {
  ROTATION_STEPS,
  type RotationEvent,
  type RotationStep,
  type RotationStrategyName,
  type StepContext,
} from "./strategy.ts";

export interface RotationDependencies {
  secretsManager: SecretsManagerClient;
  ecs: () => ECSClient;
  logger: Logger;
  settings: RotationSettings;
  /** Where failure findings and `secret.rotated` events go; undefined = log only. */
  publish: PublishOutcome | undefined;
  /** Where each step's outcome and duration are counted (flushed by the handler); undefined = not counted. */
  metrics?: VigilMetrics;
  now?: () => Date;
}

export type StepOutcome = "done" | "already-current";

/** The structured result logged for every step (identifiers only, never values). */
export interface StepResult {
  step: RotationStep;
  strategy: RotationStrategyName | undefined;
  secretArn: string;
  versionId: string;
  durationMs: number;
  outcome: StepOutcome | "failed";
}

/** Validates the raw Lambda event; names what is missing or wrong. */
export function parseRotationEvent(event: unknown): RotationEvent {
  const input = (event ?? {}) as Partial<Record<keyof RotationEvent, unknown>>;
  const problems: string[] = [];
  if (typeof input.SecretId !== "string" || input.SecretId === "")
    problems.push("SecretId must be a non-empty string");
  if (typeof input.ClientRequestToken !== "string" || input.ClientRequestToken === "") {
    problems.push("ClientRequestToken must be a non-empty string");
  }
  if (!ROTATION_STEPS.includes(input.Step as RotationStep)) {
    problems.push(`Step must be one of ${ROTATION_STEPS.join(", ")} (got ${JSON.stringify(input.Step)})`);
  }
  if (problems.length > 0)
    throw new InvalidRotationEventError(`Invalid rotation event: ${problems.join("; ")}`);
  return input as RotationEvent;
}

/**
 * Runs one step of the Secrets Manager rotation protocol: guards (rotation enabled, token known and
 * AWSPENDING, replay of a token already AWSCURRENT is a no-op), strategy selection, the step itself,
 * promotion in finishSecret, and the outcome events. Logs a StepResult either way; rethrows failures.
 */
export async function rotateSecretStep(
  event: RotationEvent,
  deadline: Deadline,
  deps: RotationDependencies,
): Promise<StepResult> {
  const started = Date.now();
  const { secretsManager, logger } = deps;
  let failure: unknown;
  const result: StepResult = {
    step: event.Step,
    strategy: undefined,
    secretArn: event.SecretId,
    versionId: event.ClientRequestToken,
    durationMs: 0,
    outcome: "failed",
  };
  try {
    deadline.check(event.Step);
    const metadata = await secretsManager.send(new DescribeSecretCommand({ SecretId: event.SecretId }));
    const secretArn = metadata.ARN ?? event.SecretId;
    result.secretArn = secretArn;
    if (!metadata.RotationEnabled) throw new RotationDisabledError(secretArn);

    const stages = metadata.VersionIdsToStages?.[event.ClientRequestToken];
    if (!stages) {
      throw new TokenMismatchError(
        `Secret ${secretArn} has no version ${event.ClientRequestToken}; the token must be the pending version's id`,
      );
    }
    // finishSecret moves AWSCURRENT first and removes AWSPENDING last: a version carrying both is a
    // finishSecret interrupted before its announcements, which a replay completes.
    const interruptedFinish =
      event.Step === "finishSecret" && stages.includes(AWSCURRENT) && stages.includes(AWSPENDING);
    if (stages.includes(AWSCURRENT) && !interruptedFinish) {
      result.outcome = "already-current";
      return result;
    }
    if (!stages.includes(AWSPENDING)) {
      throw new TokenMismatchError(
        `Secret ${secretArn} version ${event.ClientRequestToken} is neither AWSPENDING nor AWSCURRENT (stages: ${stages.join(", ") || "none"}); refusing to rotate`,
      );
    }

    const current = await getSecretJson(secretsManager, secretArn, AWSCURRENT);
    const strategy = selectStrategy(secretArn, metadata.Tags, current);
    result.strategy = strategy.name;
    const context: StepContext = {
      step: event.Step,
      secretsManager,
      secretArn,
      token: event.ClientRequestToken,
      metadata,
      current,
      deadline,
      logger,
      settings: deps.settings,
    };

    if (event.Step === "finishSecret") {
      if (!interruptedFinish) {
        await strategy.beforePromote?.(context);
        deadline.check(event.Step);
        await moveCurrentTo(secretsManager, metadata, event.ClientRequestToken);
      }
      // Announced before the cleanup, which may fail and be retried: the label keeps a retry from
      // announcing (and restarting the consumers) again.
      if (!stages.includes(ANNOUNCED_LABEL)) {
        await afterPromotion(context, strategy.name, deps);
        await markAnnounced(context);
      }
      await strategy.afterPromote?.(context);
      await removePendingLabel(secretsManager, secretArn, event.ClientRequestToken);
    } else {
      await strategy[event.Step](context);
    }
    result.outcome = "done";
    return result;
  } catch (error) {
    failure = error;
    await reportFailure(result, error, deps);
    throw error;
  } finally {
    result.durationMs = Date.now() - started;
    const operatorStop = failure instanceof RotationError && ["low", "info"].includes(failure.severity);
    if (deps.metrics) recordRotationStep(deps.metrics, { ...result, operatorStop });
    if (result.outcome !== "failed") logger.info("rotation step finished", { rotation: result });
    else if (operatorStop) {
      // An expected stop (e.g. an IBKR rotation waiting for its operator) must not look like an outage.
      logger.warn("rotation step stopped", { rotation: result, error: failure });
    } else logger.error("rotation step failed", { rotation: result, error: failure });
  }
}

/** Announces the new version and rolls the services that read it at start-up. Never fails the step. */
async function afterPromotion(
  context: StepContext,
  strategy: RotationStrategyName,
  deps: RotationDependencies,
) {
  const { secretArn, token, metadata, logger } = context;
  const now = deps.now?.() ?? new Date();
  try {
    await deps.publish?.({
      type: "secret.rotated",
      secretArn,
      versionId: token,
      strategy,
      at: now.toISOString(),
    });
  } catch (error) {
    logger.error("could not publish secret.rotated", { secretArn, versionId: token, error });
  }
  const { services, invalid } = consumingServices(metadata.Tags);
  if (invalid.length > 0)
    logger.warn("ignored malformed consumer entries (expected cluster/service)", { invalid });
  if (services.length === 0) return;
  const failures = await restartConsumers(deps.ecs(), services);
  for (const { service, error } of failures) {
    logger.error("could not restart a consuming ECS service", { secretArn, ...service, error });
  }
  logger.info("asked ECS to restart consuming services", {
    secretArn,
    restarted: services.length - failures.length,
    failed: failures.length,
  });
}

/**
 * Labels the version as announced. A failure here is logged, never thrown: the announcement happened, and
 * failing the step would make Secrets Manager's retry announce it a second time.
 */
async function markAnnounced(context: StepContext): Promise<void> {
  const { secretsManager, metadata, secretArn, token, logger } = context;
  try {
    await moveLabel(secretsManager, metadata, ANNOUNCED_LABEL, token);
  } catch (error) {
    logger.error("could not label the version as announced; a retried finishSecret would announce it again", {
      secretArn,
      versionId: token,
      error,
    });
  }
}

async function reportFailure(result: StepResult, error: unknown, deps: RotationDependencies): Promise<void> {
  if (!deps.publish || error instanceof InvalidRotationEventError) return;
  const failure = error instanceof Error ? error : new Error(redactText(String(error)));
  try {
    await deps.publish(
      rotationFailureFinding({
        secretArn: result.secretArn,
        token: result.versionId,
        step: result.step,
        strategy: result.strategy,
        error: failure,
        now: deps.now?.() ?? new Date(),
      }),
    );
  } catch (publishError) {
    deps.logger.error("could not publish the rotation failure finding", { error: publishError });
  }
}
