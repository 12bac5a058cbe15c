import type { DescribeSecretCommandOutput, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Logger } from "../../lib/logger.ts";
import type { Deadline } from "./deadline.ts";
import type { SecretJson } from "./secrets.ts";
import type { RotationSettings } from "./settings.ts";

/**
 * A strategy's name (a `vigil:rotation` tag value). The names this build knows are the keys of the registry
 * (registry.ts), so adding a strategy is its file plus one line there.
 */
export type RotationStrategyName = string;

export const ROTATION_STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** What Secrets Manager sends the rotation function. */
export interface RotationEvent {
  SecretId: string;
  ClientRequestToken: string;
  Step: RotationStep;
}

/** Everything a strategy step needs; built by the protocol once the guards have passed. */
export interface StepContext {
  readonly step: RotationStep;
  readonly secretsManager: SecretsManagerClient;
  readonly secretArn: string;
  /** The version id of the pending version (the event's ClientRequestToken). */
  readonly token: string;
  readonly metadata: DescribeSecretCommandOutput;
  /** The AWSCURRENT value, parsed; its secret fields are registered for redaction. */
  readonly current: SecretJson;
  readonly deadline: Deadline;
  readonly logger: Logger;
  readonly settings: RotationSettings;
}

/**
 * One kind of credential. Every step must be idempotent and safe to re-run after a crash at any point:
 * createSecret stores the pending value only if absent, setSecret first checks whether the pending
 * credential already works, testSecret has no lasting effect. The protocol promotes the pending version
 * in finishSecret; `beforePromote` / `afterPromote` add strategy work around it.
 */
export interface RotationStrategy {
  readonly name: RotationStrategyName;
  createSecret(context: StepContext): Promise<void>;
  setSecret(context: StepContext): Promise<void>;
  testSecret(context: StepContext): Promise<void>;
  /** Runs in finishSecret before AWSCURRENT moves; must be idempotent. */
  beforePromote?(context: StepContext): Promise<void>;
  /** Runs in finishSecret after AWSCURRENT moved, again if a replay completes an interrupted finishSecret. */
  afterPromote?(context: StepContext): Promise<void>;
}

/**
 * A strategy whose code is loaded when one of its steps first runs: the bundle keeps it in a chunk of its
 * own, so a cold start that rotates another kind of secret never reads or compiles it. Each step (the
 * promotion hooks included) runs the loaded strategy's own, or nothing where it has none.
 */
export function loadedOnFirstUse(
  name: RotationStrategyName,
  load: () => Promise<RotationStrategy>,
): RotationStrategy {
  let loaded: Promise<RotationStrategy> | undefined;
  const strategy = () => {
    // A failed load (a missing chunk) is tried again by the next step rather than remembered.
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
  return {
    name,
    createSecret: async (context) => (await strategy()).createSecret(context),
    setSecret: async (context) => (await strategy()).setSecret(context),
    testSecret: async (context) => (await strategy()).testSecret(context),
    beforePromote: async (context) => (await strategy()).beforePromote?.(context),
    afterPromote: async (context) => (await strategy()).afterPromote?.(context),
  };
}
