import type { DescribeSecretCommandOutput } from "@aws-sdk/client-secrets-manager";
import { CONSUMERS_TAG, consumingServices, type EcsService } from "../functions/rotate/consumers.ts";

const ROTATION_TAG = "vigil:rotation";

/** What the response needs to know of the secret, from DescribeSecret and GetResourcePolicy (never its value). */
export interface SecretFacts {
  arn: string;
  name: string;
  region: string;
  account: string;
  rotationEnabled: boolean;
  rotationLambdaArn: string | undefined;
  /** The `vigil:rotation` tag. */
  strategy: string | undefined;
  /** IBKR credentials: rotated by Trading Ops through `vigil ibkr stage`, never by RotateSecret alone. */
  ibkr: boolean;
  currentVersionId: string | undefined;
  /** A version labelled AWSPENDING that is not AWSCURRENT: a rotation in progress or left unfinished. */
  pendingVersionId: string | undefined;
  consumers: EcsService[];
  /** Entries of the consumers tag that are not `cluster/service`. */
  invalidConsumers: string[];
  resourcePolicy: string | undefined;
}

/**
 * The facts of a described secret. An IBKR secret is known by its `vigil:rotation` tag, or, untagged, by the
 * documented name `<app>/<env>/ibkr`: the value (which would tell) is never read.
 */
export function secretFacts(
  described: DescribeSecretCommandOutput,
  resourcePolicy: string | undefined,
): SecretFacts {
  const arn = described.ARN ?? "";
  const [, , , region = "", account = ""] = arn.split(":");
  const name = described.Name ?? arn;
  const stages = Object.entries(described.VersionIdsToStages ?? {});
  const strategy = described.Tags?.find((tag) => tag.Key === ROTATION_TAG)?.Value;
  const { services, invalid } = consumingServices(described.Tags);
  return {
    arn,
    name,
    region,
    account,
    rotationEnabled: described.RotationEnabled === true,
    rotationLambdaArn: described.RotationLambdaARN,
    strategy,
    ibkr: strategy === "ibkr" || (strategy === undefined && /(^|\/)ibkr$/i.test(name)),
    currentVersionId: stages.find(([, labels]) => labels.includes("AWSCURRENT"))?.[0],
    pendingVersionId: stages.find(
      ([, labels]) => labels.includes("AWSPENDING") && !labels.includes("AWSCURRENT"),
    )?.[0],
    consumers: services,
    invalidConsumers: invalid,
    resourcePolicy,
  };
}

export { CONSUMERS_TAG };
