// infra/parameters.cjs: what serverless.yml derives from its parameters when packaging, and the one-line
// error a malformed parameter stops packaging with.
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

type Derive = (context: {
  resolveVariable: (name: string) => Promise<unknown>;
}) => Promise<Record<string, unknown>>;
const derive = createRequire(import.meta.url)("../../infra/parameters.cjs") as Derive;

const DEFAULTS: Record<string, string> = {
  trailBucket: "",
  scanRegions: "",
  ibkrSecrets: "",
  ibkrStagingKmsKeyId: "",
  rotateSubnetIds: "",
  rotateSecurityGroupIds: "",
  findingsSenders: "",
  runbookBaseUrl: "",
  scannerLagAlarmSeconds: "1800",
};

/** Runs the derivation the way osls does, with these parameters over the defaults, for stage "prod". */
function derived(params: Record<string, string> = {}) {
  const values: Record<string, string> = { ...DEFAULTS, ...params, "sls:stage": "prod" };
  return derive({
    resolveVariable: async (name) => values[name.replace(/^param:/, "")],
  });
}

describe("infra/parameters.cjs", () => {
  it("leaves the VPC, IBKR staging and trail bucket parts out by default", async () => {
    // Arrange
    const params = {};

    // Act
    const result = await derived(params);

    // Assert
    expect(result).toMatchObject({ rotateInVpc: "false", hasIbkrSecrets: "false", hasTrailBucket: "false" });
    expect(result.rotateVpc).toBeUndefined();
  });

  it("turns comma lists into the VPC configuration and one staging secret ARN per IBKR secret", async () => {
    // Arrange
    const params = {
      rotateSubnetIds: "subnet-0a1b, subnet-0c2d",
      rotateSecurityGroupIds: "sg-0e3f",
      ibkrSecrets: "algo-trade/prod/ibkr",
    };

    // Act
    const result = await derived(params);

    // Assert
    expect(result.rotateVpc).toEqual({
      subnetIds: ["subnet-0a1b", "subnet-0c2d"],
      securityGroupIds: ["sg-0e3f"],
    });
    expect(JSON.stringify(result.ibkrStagingSecretArns)).toContain(
      ":secret:algo-trade/prod/ibkr/vigil-staging-??????",
    );
    expect(result.hasIbkrSecrets).toBe("true");
  });

  it.each([
    [{ rotateSubnetIds: "subnet-0a1b" }, "set both to attach the rotate function to a VPC, or neither"],
    [
      { rotateSubnetIds: "subnet-0a1b", rotateSecurityGroupIds: "default" },
      'param rotateSecurityGroupIds: expected sg-..., got "default"',
    ],
    [{ ibkrSecrets: "algo trade/ibkr" }, "param ibkrSecrets: expected secret names"],
    [{ trailBucket: "My_Bucket" }, 'param trailBucket: expected an S3 bucket name, got "My_Bucket"'],
    [
      { findingsSenders: "arn:aws:iam::111122223333:user/alice" },
      "param findingsSenders: expected IAM role ARNs",
    ],
    [{ scannerLagAlarmSeconds: "30m" }, 'param scannerLagAlarmSeconds: expected seconds, got "30m"'],
  ])("refuses %j, naming the parameter", async (params, message) => {
    // Arrange
    const attempt = derived(params);

    // Act
    const refusal = attempt.then(
      () => "accepted",
      (error: Error) => error.message,
    );

    // Assert
    expect(await refusal).toContain(message);
  });
});
