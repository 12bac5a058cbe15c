import { DescribeServicesCommand, type ECSClient } from "@aws-sdk/client-ecs";
import { type EcsService, restartConsumers } from "../functions/rotate/consumers.ts";
import { IncidentError } from "./errors.ts";
import type { FollowOptions } from "./rotation.ts";

/** When one consuming service rolled, and who asked for it. */
export interface ServiceRestart {
  cluster: string;
  service: string;
  deploymentId: string;
  startedAt: string;
  rolloutState: string | undefined;
  /** "rotation": the rotation function's restart; "incident": this command's, because none came. */
  by: "rotation" | "incident";
}

// A deployment created this long before the rotation started still counts as its restart (clock skew).
const CLOCK_SKEW_MS = 5_000;

/**
 * Waits for each consuming service to roll after the rotation (the rotation function restarts them after
 * finishSecret), then restarts those that did not with UpdateService --force-new-deployment, once
 * `allowRestart` agrees. Returns when each one rolled; throws IncidentError naming the services that did not.
 */
export async function awaitConsumerRestarts(
  input: { services: readonly EcsService[]; rotationStartedMs: number; waitMs: number },
  deps: { ecs: ECSClient; allowRestart: (services: readonly EcsService[]) => Promise<boolean> },
  options: Omit<FollowOptions, "timeoutMs">,
): Promise<ServiceRestart[]> {
  const restarts = new Map<string, ServiceRestart>();
  const key = (service: EcsService) => `${service.cluster}/${service.service}`;
  const missing = () => input.services.filter((service) => !restarts.has(key(service)));
  const check = async (by: ServiceRestart["by"]) => {
    for (const service of missing()) {
      const found = await latestDeployment(deps.ecs, service, input.rotationStartedMs - CLOCK_SKEW_MS);
      if (found) {
        restarts.set(key(service), { ...service, ...found, by });
        options.say(`  ✔ ${key(service)} rolled: deployment ${found.deploymentId} at ${found.startedAt}`);
      }
    }
  };
  const deadline = options.now() + input.waitMs;
  for (;;) {
    await check("rotation");
    if (missing().length === 0 || options.now() >= deadline) break;
    await options.sleep(options.pollMs);
  }
  const left = missing();
  if (left.length > 0) {
    options.say(`  no restart after the rotation for ${left.map(key).join(", ")}`);
    if (!(await deps.allowRestart(left))) {
      throw new IncidentError(
        `${left.map(key).join(", ")} did not restart and the restart was declined: they run with the old credential until they restart`,
      );
    }
    const failures = await restartConsumers(deps.ecs, left);
    await check("incident");
    if (failures.length > 0 || missing().length > 0) {
      const reasons = failures.map(
        ({ service, error }) => `${key(service)}: ${error.name}: ${error.message}`,
      );
      throw new IncidentError(
        `could not restart ${missing().map(key).join(", ")}${reasons.length > 0 ? ` (${reasons.join("; ")})` : ""}: they run with the old credential until they restart`,
      );
    }
  }
  return input.services.map((service) => restarts.get(key(service))!);
}

async function latestDeployment(
  ecs: ECSClient,
  service: EcsService,
  sinceMs: number,
): Promise<Omit<ServiceRestart, "cluster" | "service" | "by"> | undefined> {
  const described = await ecs.send(
    new DescribeServicesCommand({ cluster: service.cluster, services: [service.service] }),
  );
  const deployments = described.services?.[0]?.deployments ?? [];
  const latest = deployments
    .filter((deployment) => (deployment.createdAt?.getTime() ?? 0) >= sinceMs)
    .sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0))[0];
  if (!latest?.id || !latest.createdAt) return undefined;
  return {
    deploymentId: latest.id,
    startedAt: latest.createdAt.toISOString(),
    rolloutState: latest.rolloutState,
  };
}
