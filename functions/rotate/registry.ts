import type { Tag } from "@aws-sdk/client-secrets-manager";
import { UnknownStrategyError } from "./errors.ts";
import type { SecretJson } from "./secrets.ts";
import {
  DATABASE_ENGINES,
  type DatabaseEngine,
  mysqlAlternating,
  mysqlSingle,
  postgresAlternating,
  postgresSingle,
} from "./strategies/database/index.ts";
import { loadedOnFirstUse, type RotationStrategy, type RotationStrategyName } from "./strategy.ts";

/** The tag that names a secret's strategy explicitly. */
export const STRATEGY_TAG = "vigil:rotation";

// One line per strategy; each kind exports its strategies from strategies/<kind>/index.ts. IBKR's code
// (and its secrets' schemas) is loaded when an IBKR rotation first runs a step, not at every cold start.
const strategies: Readonly<Record<RotationStrategyName, RotationStrategy>> = {
  "postgres-single": postgresSingle,
  "postgres-alternating": postgresAlternating,
  "mysql-single": mysqlSingle,
  "mysql-alternating": mysqlAlternating,
  ibkr: loadedOnFirstUse("ibkr", async () => (await import("./strategies/ibkr/strategy.ts")).ibkrStrategy),
};

/** The strategies this build can name: the accepted values of the `vigil:rotation` tag. */
export const ROTATION_STRATEGIES: readonly RotationStrategyName[] = Object.keys(strategies);

const IBKR_FIELDS = ["username", "password", "account", "host", "port"];

function isStrategyName(value: string): value is RotationStrategyName {
  return Object.hasOwn(strategies, value);
}

/** Infers the strategy from the secret's JSON (docs/architecture.md, "Choosing a rotation strategy"), or explains why not. */
export function inferStrategyName(secret: SecretJson): RotationStrategyName | string {
  const engine = secret.engine;
  if (typeof engine === "string") {
    if (!Object.hasOwn(DATABASE_ENGINES, engine)) {
      return `its "engine" is "${engine}", not one of ${Object.keys(DATABASE_ENGINES).join(", ")}`;
    }
    const family = DATABASE_ENGINES[engine as DatabaseEngine];
    // A null masterarn means none, as the database secret's schema reads it.
    return `${family}-${secret.masterarn === undefined || secret.masterarn === null ? "single" : "alternating"}`;
  }
  if (engine !== undefined) return `its "engine" is not a string`;
  const missing = IBKR_FIELDS.filter((field) => secret[field] === undefined);
  if (missing.length === 0) return "ibkr";
  return `it has no "engine" (database) and lacks IBKR fields ${missing.join(", ")}`;
}

/** Picks the strategy by the `vigil:rotation` tag, else by the secret's JSON; names the accepted values. */
export function selectStrategy(
  secretArn: string,
  tags: readonly Tag[] | undefined,
  current: SecretJson,
): RotationStrategy {
  const accepted = ROTATION_STRATEGIES.join(", ");
  const tagged = tags?.find((tag) => tag.Key === STRATEGY_TAG)?.Value?.trim();
  let name: RotationStrategyName;
  if (tagged !== undefined) {
    if (!isStrategyName(tagged)) {
      throw new UnknownStrategyError(
        `Secret ${secretArn}: tag ${STRATEGY_TAG}="${tagged}" is not a known strategy; accepted values: ${accepted}`,
      );
    }
    name = tagged;
  } else {
    const inferred = inferStrategyName(current);
    if (!isStrategyName(inferred)) {
      throw new UnknownStrategyError(
        `Secret ${secretArn}: cannot infer a rotation strategy because ${inferred}; tag it ${STRATEGY_TAG} with one of: ${accepted}`,
      );
    }
    name = inferred;
  }
  // isStrategyName checked that the registry has it.
  return strategies[name] as RotationStrategy;
}
