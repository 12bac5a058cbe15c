import {
  DescribeServicesCommand,
  ECSClient,
  ServiceNotFoundException,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox();
});

afterAll(async () => {
  await sandbox.stop();
});

describe("ECS", () => {
  it("records a forced deployment and shows it as the primary one", async () => {
    const ecs = new ECSClient({ ...sandbox.clientConfig(), maxAttempts: 1 });

    const { service } = await ecs.send(
      new UpdateServiceCommand({ cluster: "trading", service: "order-router", forceNewDeployment: true }),
    );
    const described = await ecs.send(
      new DescribeServicesCommand({ cluster: "trading", services: ["order-router"] }),
    );

    expect(service?.serviceArn).toBe("arn:aws:ecs:us-east-1:111122223333:service/trading/order-router");
    expect(described.services?.[0]?.deployments?.[0]).toMatchObject({
      id: service?.deployments?.[0]?.id,
      status: "PRIMARY",
    });
    expect(sandbox.ecsDeployments()).toMatchObject([
      { cluster: "trading", service: "order-router", forceNewDeployment: true },
    ]);
    ecs.destroy();
  });

  it("refuses services it was not told about when ecsServices is set", async () => {
    const strict = await startSandbox({ ecsServices: ["trading/order-router"] });
    const ecs = new ECSClient({ ...strict.clientConfig(), maxAttempts: 1 });
    try {
      await expect(
        ecs.send(
          new UpdateServiceCommand({ cluster: "trading", service: "risk-engine", forceNewDeployment: true }),
        ),
      ).rejects.toBeInstanceOf(ServiceNotFoundException);
      await expect(
        ecs.send(
          new UpdateServiceCommand({ cluster: "trading", service: "order-router", forceNewDeployment: true }),
        ),
      ).resolves.toMatchObject({ service: { serviceName: "order-router", deployments: expect.any(Array) } });
    } finally {
      ecs.destroy();
      await strict.stop();
    }
  });
});
