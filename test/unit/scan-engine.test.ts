import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { defaultPolicy, loadPolicy } from "../../functions/audit-scan/policy.ts";
import { MemoryScanState } from "../../functions/audit-scan/state.ts";
import { findingSchema } from "../../lib/finding.ts";
import { canonicalArn, iamUser, record } from "./scenarios/records.ts";

const SAMPLE = JSON.parse(
  readFileSync(new URL("./scenarios/fixtures/cloudtrail-secretsmanager.json", import.meta.url), "utf8"),
) as { Records: unknown[] };
const CANARY_POLICY = loadPolicy("version: 1\nsecrets:\n  - match: decoy/*\n    canary: true\n", "p.yaml");

function canaryRead(seq: number) {
  return record({
    time: "2026-11-26T14:00:00Z",
    name: "GetSecretValue",
    identity: iamUser("intruder"),
    request: { secretId: "decoy/db" },
    sourceIp: "198.51.100.7",
    seq,
  });
}

describe("createScanner.scan", () => {
  it("counts every record and skips malformed ones with their reason", async () => {
    const scanner = createScanner({ policy: defaultPolicy(), state: new MemoryScanState() });

    const result = await scanner.scan([
      ...SAMPLE.Records,
      null,
      "not json",
      { eventSource: "secretsmanager.amazonaws.com", eventName: "GetSecretValue" },
      { eventSource: "s3.amazonaws.com" },
    ]);

    expect(result.processed).toBe(SAMPLE.Records.length + 4);
    expect(result.skipped).toEqual({ "not an object (null)": 1, "not JSON": 1, "eventID missing": 1 });
    expect(result.newestEventMs).toBe(Date.parse("2026-11-26T14:01:00Z"));
  });

  it("emits one finding for a burst of one problem, with its event ids and count", async () => {
    const scanner = createScanner({ policy: CANARY_POLICY, state: new MemoryScanState() });

    const result = await scanner.scan([canaryRead(1), canaryRead(2), canaryRead(3)]);

    expect(result.findings).toHaveLength(1);
    const finding = result.findings[0];
    expect(findingSchema.parse(finding)).toEqual(finding);
    expect(finding).toMatchObject({
      rule: "canary-touched",
      severity: "critical",
      secretArn: canonicalArn("decoy/db"),
      principal: "arn:aws:iam::111122223333:user/intruder",
      count: 3,
      runbook: "docs/detections.md#canary-touched",
    });
    expect(finding?.eventIds).toHaveLength(3);
  });

  it("never emits the same finding twice across invocations sharing a state", async () => {
    const state = new MemoryScanState();
    const first = createScanner({ policy: CANARY_POLICY, state });
    const second = createScanner({ policy: CANARY_POLICY, state });

    const a = await first.scan([canaryRead(1)]);
    const b = await second.scan([canaryRead(1), canaryRead(2)]);

    expect(a.findings).toHaveLength(1);
    expect(b.findings).toHaveLength(0);
  });

  it("accepts EventBridge envelopes and LookupEvents strings", async () => {
    const scanner = createScanner({ policy: CANARY_POLICY, state: new MemoryScanState() });
    const detail = canaryRead(1);

    const result = await scanner.scan([
      { version: "0", "detail-type": "AWS API Call via CloudTrail", source: "aws.secretsmanager", detail },
      JSON.stringify(canaryRead(2)),
    ]);

    expect(result.findings[0]?.count).toBe(2);
  });
});
