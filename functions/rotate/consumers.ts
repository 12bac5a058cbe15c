import { type ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import type { Tag } from "@aws-sdk/client-secrets-manager";

/**
 * Tag listing the ECS services that read the secret at start-up, as space-separated `cluster/service`
 * pairs (tag values cannot contain commas).
 */
export const CONSUMERS_TAG = "vigil:ecs-services";

export interface EcsService {
  cluster: string;
  service: string;
}

/** Parses the consumers tag; malformed entries are returned separately so they can be reported. */
export function consumingServices(tags: readonly Tag[] | undefined): {
  services: EcsService[];
  invalid: string[];
} {
  const value = tags?.find((tag) => tag.Key === CONSUMERS_TAG)?.Value ?? "";
  const services: EcsService[] = [];
  const invalid: string[] = [];
  for (const entry of value.split(/\s+/).filter(Boolean)) {
    const slash = entry.lastIndexOf("/");
    if (slash <= 0 || slash === entry.length - 1) invalid.push(entry);
    else services.push({ cluster: entry.slice(0, slash), service: entry.slice(slash + 1) });
  }
  return { services, invalid };
}

/** Asks ECS to roll each service so its tasks start with the new credential. Returns the failures. */
export async function restartConsumers(
  ecs: ECSClient,
  services: readonly EcsService[],
): Promise<{ service: EcsService; error: Error }[]> {
  const results = await Promise.allSettled(
    services.map(({ cluster, service }) =>
      ecs.send(new UpdateServiceCommand({ cluster, service, forceNewDeployment: true })),
    ),
  );
  return results.flatMap((result, index) =>
    result.status === "rejected"
      ? [
          {
            service: services[index]!,
            error: result.reason instanceof Error ? result.reason : new Error(String(result.reason)),
          },
        ]
      : [],
  );
}
