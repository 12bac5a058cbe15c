import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { loadPolicy } from "../../functions/audit-scan/policy.ts";
import { runScanEvent, type ScanRunDependencies } from "../../functions/audit-scan/sources/run.ts";
import type { Finding } from "../../lib/finding.ts";
import { createLogger } from "../../lib/logger.ts";
import { VigilMetrics } from "../../lib/metrics.ts";
import { MemoryAuditState } from "../helpers/audit-state.ts";
import { databaseRotation, POLICY } from "./scenarios/stories.ts";

const NOW = new Date("2026-12-01T12:00:00Z");

function nearRealTime(): ScanRunDependencies & { published: Finding[] } {
  const state = new MemoryAuditState();
  const published: Finding[] = [];
  // The scenario policy lists no rotationRoles: only the RotationStarted service event marks the rotation.
  const policy = { ...loadPolicy(POLICY, "scenario policy"), learningDays: 0 };
  return {
    regions: ["us-east-1"],
    overlapMs: 15 * 60_000,
    requestsPerSecond: 2,
    policy,
    scanner: createScanner({ policy, state, now: () => NOW }),
    state,
    cloudTrail: () => new CloudTrailClient({ region: "us-east-1" }),
    s3: new S3Client({ region: "us-east-1" }),
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    publish: async (findings) => {
      published.push(...findings);
      return findings.length;
    },
    metrics: new VigilMetrics("audit-scan", {}),
    logger: createLogger("vigil-audit-scan-test"),
    remainingMs: () => 600_000,
    holder: "req-1",
    now: () => NOW,
    published,
  };
}

/** How EventBridge delivers a CloudTrail record: API calls and service events under their own detail types. */
function envelope(record: Record<string, unknown>) {
  const service = record.eventType === "AwsServiceEvent";
  return {
    version: "0",
    "detail-type": service ? "AWS Service Event via CloudTrail" : "AWS API Call via CloudTrail",
    source: "aws.secretsmanager",
    detail: record,
  };
}

describe("runScanEvent near-real-time rotation", () => {
  it("recognises the rotate function's writes after a RotationStarted service event, one event per invocation", async () => {
    // Arrange
    const run = nearRealTime();
    const rotation = databaseRotation("algo-trade/production/db", "2026-12-01T10:00:00Z", {
      token: "70e00000-0000-4000-8000-000000000002",
      previous: "cur00000-0000-4000-8000-000000000000",
    });
    // The near-real-time rule sends write-side calls and service events.
    const delivered = rotation.filter((record) => record.readOnly === false);

    // Act
    const kinds = [];
    for (const record of delivered) kinds.push((await runScanEvent(envelope(record), run)).kind);

    // Assert
    expect(kinds.every((kind) => kind === "eventbridge")).toBe(true);
    expect(delivered.some((record) => record.eventName === "RotationStarted")).toBe(true);
    expect(run.published.filter((finding) => finding.status !== "resolved")).toEqual([]);
  });
});
