import {
  ListSecretsCommand,
  type SecretListEntry,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type ComplianceOptions,
  complianceGroupKey,
  listSecrets,
  type OpenComplianceGroup,
  ROTATION_TAG,
  runComplianceSweep,
} from "../../functions/audit-scan/compliance.ts";
import { STRATEGY_TAG } from "../../functions/rotate/registry.ts";

const NOW = new Date("2026-12-01T12:00:00Z");
const DAY = 86_400_000;
const ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:algo-trade/production/orders-db-AbCdEf";
const secretsManager = mockClient(SecretsManagerClient);

function secret(overrides: Partial<SecretListEntry> = {}): SecretListEntry {
  return {
    ARN,
    Name: "algo-trade/production/orders-db",
    RotationEnabled: true,
    LastRotatedDate: new Date(NOW.getTime() - 10 * DAY),
    CreatedDate: new Date(NOW.getTime() - 400 * DAY),
    Tags: [{ Key: "vigil:rotation", Value: "postgres-alternating" }],
    SecretVersionsToStages: { v1: ["AWSCURRENT"] },
    ...overrides,
  };
}

function options(overrides: Partial<ComplianceOptions> = {}): ComplianceOptions {
  return {
    now: NOW,
    expectationFor: () => ({ matched: false }),
    pendingSince: async () => undefined,
    ...overrides,
  };
}

const noGroups = new Map<string, OpenComplianceGroup>();

describe("ROTATION_TAG", () => {
  it("is the rotate function's strategy tag", () => {
    expect(ROTATION_TAG).toBe(STRATEGY_TAG);
  });
});

describe("listSecrets", () => {
  beforeEach(() => secretsManager.reset());

  it("follows NextToken through every page", async () => {
    secretsManager
      .on(ListSecretsCommand)
      .resolvesOnce({ SecretList: [secret()], NextToken: "t" })
      .resolves({ SecretList: [secret({ ARN: "arn:b" })] });

    const secrets = await listSecrets(new SecretsManagerClient({ region: "us-east-1" }));

    expect(secrets.map((entry) => entry.ARN)).toEqual([ARN, "arn:b"]);
    expect(secretsManager).toHaveReceivedNthCommandWith(ListSecretsCommand, 2, { NextToken: "t" });
  });
});

describe("runComplianceSweep", () => {
  it("raises nothing for a tagged secret rotated within 90 days", async () => {
    const result = await runComplianceSweep([secret()], noGroups, options());

    expect(result.findings).toEqual([]);
  });

  it("raises rotation-disabled on a managed secret whose rotation is off", async () => {
    const result = await runComplianceSweep([secret({ RotationEnabled: false })], noGroups, options());

    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]).toMatchObject({
      rule: "rotation-disabled",
      severity: "medium",
      status: "firing",
      secretArn: ARN,
      account: "111122223333",
      region: "us-east-1",
      groupKey: complianceGroupKey("rotation-disabled", ARN),
      title: "Rotation is disabled on algo-trade/production/orders-db",
    });
    expect(result.opened.map((group) => group.rule)).toEqual(["rotation-disabled"]);
  });

  it("leaves alone a secret neither tagged nor named by the policy", async () => {
    const result = await runComplianceSweep(
      [secret({ RotationEnabled: false, Tags: [] })],
      noGroups,
      options(),
    );

    expect(result.findings).toEqual([]);
  });

  it("raises rotation-overdue against the policy's maxRotationDays, high for a critical secret", async () => {
    const result = await runComplianceSweep(
      [secret({ Tags: [], LastRotatedDate: new Date(NOW.getTime() - 40 * DAY) })],
      noGroups,
      options({ expectationFor: () => ({ matched: true, maxRotationDays: 30, sensitivity: "critical" }) }),
    );

    expect(result.findings.map((finding) => [finding.rule, finding.severity, finding.title])).toEqual([
      ["rotation-overdue", "high", "algo-trade/production/orders-db: rotation overdue by 10 days"],
    ]);
  });

  it("counts a never-rotated secret's age from its creation, against 90 days by default", async () => {
    const result = await runComplianceSweep([secret({ LastRotatedDate: undefined })], noGroups, options());

    expect(result.findings[0]?.details).toMatchObject({ overdueDays: 310, lastRotated: null });
  });

  it("never raises on a canary secret's rotation", async () => {
    const result = await runComplianceSweep(
      [secret({ RotationEnabled: false, LastRotatedDate: undefined })],
      noGroups,
      options({ expectationFor: () => ({ matched: true, canary: true }) }),
    );

    expect(result.findings).toEqual([]);
  });

  it("raises rotation-stale-pending for an AWSPENDING known for longer than 24 hours", async () => {
    const entry = secret({ SecretVersionsToStages: { v1: ["AWSCURRENT"], v2: ["AWSPENDING"] } });

    const fresh = await runComplianceSweep(
      [entry],
      noGroups,
      options({ pendingSince: async () => new Date(NOW.getTime() - 3_600_000) }),
    );
    const stale = await runComplianceSweep(
      [entry],
      noGroups,
      options({ pendingSince: async () => new Date(NOW.getTime() - 2 * DAY) }),
    );

    expect(fresh.findings).toEqual([]);
    expect(stale.findings.map((finding) => [finding.rule, finding.details.pendingVersionId])).toEqual([
      ["rotation-stale-pending", "v2"],
    ]);
  });

  it("does not raise again a group that is already open", async () => {
    const first = await runComplianceSweep([secret({ RotationEnabled: false })], noGroups, options());
    const open = new Map(first.opened.map((group) => [group.groupKey, group]));

    const second = await runComplianceSweep([secret({ RotationEnabled: false })], open, options());

    expect(second.findings).toEqual([]);
    expect(second.opened).toEqual([]);
  });

  it("resolves an open group whose condition cleared, with the same groupKey", async () => {
    const first = await runComplianceSweep([secret({ RotationEnabled: false })], noGroups, options());
    const open = new Map(first.opened.map((group) => [group.groupKey, group]));

    const second = await runComplianceSweep([secret()], open, options());

    expect(second.findings).toHaveLength(1);
    expect(second.findings[0]).toMatchObject({
      status: "resolved",
      rule: "rotation-disabled",
      groupKey: complianceGroupKey("rotation-disabled", ARN),
      summary: "algo-trade/production/orders-db: rotation is enabled again.",
    });
    expect(second.closed).toEqual([complianceGroupKey("rotation-disabled", ARN)]);
  });

  it("resolves the open groups of a secret that was deleted", async () => {
    const first = await runComplianceSweep([secret({ RotationEnabled: false })], noGroups, options());
    const open = new Map(first.opened.map((group) => [group.groupKey, group]));

    const second = await runComplianceSweep([], open, options());

    expect(second.findings[0]?.summary).toBe("algo-trade/production/orders-db: the secret was deleted.");
  });

  it("gives the same finding id to the same condition on every sweep", async () => {
    const first = await runComplianceSweep([secret({ RotationEnabled: false })], noGroups, options());
    const again = await runComplianceSweep(
      [secret({ RotationEnabled: false })],
      noGroups,
      options({ now: new Date(NOW.getTime() + DAY) }),
    );

    expect(again.findings[0]?.id).toBe(first.findings[0]?.id);
  });
});
