import { randomBytes } from "node:crypto";
import { awsJson } from "./aws-json.ts";
import { AwsServiceError } from "./errors.ts";
import { awsFaults, type ServiceContext, type ServiceFactory, withApi } from "./service.ts";

/**
 * Just enough Amazon ECS (JSON 1.1, `AmazonEC2ContainerServiceV20141113.<Op>`) for the rotate function's
 * "roll the consuming services" step: UpdateService starts a deployment, DescribeServices shows it.
 */

type Json = Record<string, unknown>;

/** One UpdateService the sandbox accepted. */
export interface EcsDeploymentRecord {
  cluster: string;
  service: string;
  forceNewDeployment: boolean;
  deploymentId: string;
  at: string;
}

interface Service {
  cluster: string;
  name: string;
  deployments: { id: string; createdAt: number; status: "PRIMARY" | "ACTIVE" }[];
}

export class Ecs {
  private readonly services = new Map<string, Service>();
  private readonly deployments: EcsDeploymentRecord[] = [];

  /**
   * `knownServices` ("cluster/service") makes unknown services a ServiceNotFoundException, as in AWS;
   * without it any service exists, which suits a quick local run.
   */
  constructor(
    private readonly region: string,
    private readonly accountId: string,
    private readonly knownServices?: string[],
  ) {
    for (const entry of knownServices ?? []) {
      const [cluster, name] = splitService(entry);
      this.services.set(`${cluster}/${name}`, { cluster, name, deployments: [] });
    }
  }

  recorded(): EcsDeploymentRecord[] {
    return [...this.deployments];
  }

  handle(operation: string, input: Json): Json {
    switch (operation) {
      case "UpdateService": {
        const service = this.service(String(input.cluster ?? "default"), String(input.service ?? ""));
        const now = Date.now();
        const id = `ecs-svc/${BigInt(`0x${randomBytes(8).toString("hex")}`)
          .toString()
          .slice(0, 19)}`;
        for (const deployment of service.deployments) deployment.status = "ACTIVE";
        service.deployments.unshift({ id, createdAt: now, status: "PRIMARY" });
        this.deployments.push({
          cluster: service.cluster,
          service: service.name,
          forceNewDeployment: input.forceNewDeployment === true,
          deploymentId: id,
          at: new Date(now).toISOString(),
        });
        return { service: this.describe(service) };
      }
      case "DescribeServices": {
        const cluster = String(input.cluster ?? "default");
        const names = Array.isArray(input.services) ? (input.services as string[]) : [];
        const found: Json[] = [];
        const failures: Json[] = [];
        for (const name of names) {
          try {
            found.push(this.describe(this.service(cluster, name)));
          } catch {
            failures.push({ arn: this.serviceArn(cluster, nameOf(name)), reason: "MISSING" });
          }
        }
        return { services: found, failures };
      }
      default:
        throw new AwsServiceError(
          "UnknownOperationException",
          `The sandbox does not implement ${operation}.`,
        );
    }
  }

  private service(clusterInput: string, serviceInput: string): Service {
    const cluster = nameOf(clusterInput);
    const name = nameOf(serviceInput);
    const key = `${cluster}/${name}`;
    let service = this.services.get(key);
    if (!service) {
      if (this.knownServices) throw new AwsServiceError("ServiceNotFoundException", "Service not found.");
      service = { cluster, name, deployments: [] };
      this.services.set(key, service);
    }
    return service;
  }

  private serviceArn(cluster: string, name: string): string {
    return `arn:aws:ecs:${this.region}:${this.accountId}:service/${cluster}/${name}`;
  }

  private describe(service: Service): Json {
    return {
      serviceArn: this.serviceArn(service.cluster, service.name),
      serviceName: service.name,
      clusterArn: `arn:aws:ecs:${this.region}:${this.accountId}:cluster/${service.cluster}`,
      status: "ACTIVE",
      desiredCount: 1,
      runningCount: 1,
      deployments: service.deployments.map((deployment) => ({
        id: deployment.id,
        status: deployment.status,
        rolloutState: deployment.status === "PRIMARY" ? "IN_PROGRESS" : "COMPLETED",
        createdAt: deployment.createdAt / 1000,
        updatedAt: deployment.createdAt / 1000,
      })),
    };
  }
}

/** A cluster or service given as a name or an ARN. */
function nameOf(value: string): string {
  return value.split("/").pop() ?? value;
}

function splitService(entry: string): [string, string] {
  const slash = entry.indexOf("/");
  return slash < 0 ? ["default", entry] : [entry.slice(0, slash), entry.slice(slash + 1)];
}

/** The sandbox's ECS: AWS JSON 1.1, `AmazonEC2ContainerServiceV20141113.<Operation>`. */
export const ecsService = ((context: ServiceContext) => {
  const ecs = new Ecs(context.region, context.accountId, context.options.ecsServices);
  return withApi(
    {
      name: "ecs",
      protocol: awsJson({ version: "1.1", target: "AmazonEC2ContainerServiceV20141113." }),
      operations: ["UpdateService", "DescribeServices"],
      handle: (call) => ecs.handle(call.operation, call.input),
      cloudTrail: {
        eventSource: "ecs.amazonaws.com",
        readOnly: (operation) => operation.startsWith("Describe"),
        requestParameters: (call) => call.input,
      },
      faults: awsFaults("ServerException"),
      views: { ecs: () => ecs.recorded() },
    },
    {
      recorded: () => ecs.recorded(),
    },
  );
}) satisfies ServiceFactory;
