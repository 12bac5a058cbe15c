// The IBKR strategy's public surface: what the registry, the CLI, the demo and the tests use.
export {
  IbkrRotationDueError,
  IbkrStageError,
  IbkrStagingInvalidError,
  IbkrStagingUntrustedError,
} from "./errors.ts";
export { IBKR_PASSWORD_MAX, IBKR_PASSWORD_MIN, ibkrPasswordProblems, parseIbkrSecret } from "./secret.ts";
export {
  type IbkrStageDependencies,
  type IbkrStageOptions,
  type IbkrStageResult,
  SCRIPTED_STAGE_OPTIONS,
  stageIbkrCredentials,
} from "./stage.ts";
export { STAGING_SUFFIX, stagingSecretName } from "./staging.ts";
export { createIbkrStrategy, ibkrStrategy, rotationDueMessage } from "./strategy.ts";
