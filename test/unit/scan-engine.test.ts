import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { defaultPolicy } from "../../functions/audit-scan/policy.ts";
import { loadPolicy } from "../../functions/audit-scan/policy-file.ts";
import type { Rule } from "../../functions/audit-scan/rule.ts";
import { MemoryScanState } from "../../functions/audit-scan/state.ts";
import { findingSchema } from "../../lib/finding.ts";
import { ACCOUNT, at, canonicalArn, iamUser, record, secretArn } from "./scenarios/records.ts";
import {
  DAY,
  databaseRotation,
  imitation,
  OPS,
  POLICY,
  ROTATOR,
  START,
  serviceEvent,
} from "./scenarios/stories.ts";

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

describe("createScanner dispatch", () => {
  it("gives a rule only the events it subscribes to", async () => {
    const seen: string[] = [];
    const deletions: Rule = {
      id: "deletions",
      severity: "low",
      description: "records what it is given",
      runbook: "-",
      falsePositives: "-",
      events: { secretsmanager: ["DeleteSecret"], kms: ["ScheduleKeyDeletion"] },
      evaluate(event) {
        seen.push(`${event.service}:${event.eventName}`);
        return [];
      },
    };
    const scanner = createScanner({
      policy: defaultPolicy(),
      state: new MemoryScanState(),
      rules: [deletions],
    });
    const call = (name: string, source: "secretsmanager" | "kms", seq: number) =>
      record({ time: DAY, name, source, identity: iamUser("ops"), request: { secretId: "db" }, seq });

    const result = await scanner.scan([
      call("GetSecretValue", "secretsmanager", 1),
      call("DeleteSecret", "secretsmanager", 2),
      call("Decrypt", "kms", 3),
      call("ScheduleKeyDeletion", "kms", 4),
      call("DescribeSecret", "secretsmanager", 5),
    ]);

    expect(seen).toEqual(["secretsmanager:DeleteSecret", "kms:ScheduleKeyDeletion"]);
    expect(result.judged).toBe(5);
  });
});

describe("createScanner rotation recognition", () => {
  const policy = loadPolicy(POLICY, "scenario policy");
  const rotation = databaseRotation("algo-trade/production/db", DAY, {
    token: "70e00000-0000-4000-8000-000000000001",
    previous: "cur00000-0000-4000-8000-000000000000",
  });
  const loud = <T extends { severity: string; status?: string }>(findings: T[]) =>
    findings.filter((f) => f.status !== "resolved" && ["critical", "high", "medium"].includes(f.severity));

  it("takes the rotation function's calls for what they are without rotationRoles, in any order inside a batch", async () => {
    const scanner = createScanner({ policy, state: new MemoryScanState() });

    const result = await scanner.scan([...rotation].reverse());

    expect(loud(result.findings)).toEqual([]);
  });

  it("reports the same calls when no RotationStarted precedes them", async () => {
    const scanner = createScanner({ policy, state: new MemoryScanState() });

    const result = await scanner.scan(rotation.filter((r) => r.eventName !== "RotationStarted"));

    expect(loud(result.findings).map((f) => f.rule)).toContain("version-stage-moved");
  });

  it("still reports an intruder imitating a rotation inside a real one, whichever is scanned first", async () => {
    for (const order of [
      [rotation, imitation(at(DAY, 0.2))],
      [imitation(at(DAY, 0.2)), rotation],
    ]) {
      const state = new MemoryScanState();
      const findings = [];
      for (const part of order)
        findings.push(...(await createScanner({ policy, state }).scan(part)).findings);

      const intruder = findings.filter((f) => f.principal === "arn:aws:iam::111122223333:user/ci-deploy");
      expect(intruder.map((f) => f.rule).sort()).toEqual(["secret-value-written", "version-stage-moved"]);
    }
  });

  it("remembers a rotation function, so its next rotation is recognised even when split out of order", async () => {
    const state = new MemoryScanState();
    const earlier = databaseRotation("trading/reporting-db", at(DAY, -600), {
      token: "70e00000-0000-4000-8000-0000000000bb",
      previous: "cur00000-0000-4000-8000-0000000000bb",
    });
    await createScanner({ policy, state }).scan(earlier);
    // RotationStarted and the AWSCURRENT read in one invocation, the pending-version calls in the next.
    const [started, describe, current, ...rest] = rotation;

    const first = await createScanner({ policy, state }).scan([started, describe, current]);
    const second = await createScanner({ policy, state }).scan(rest);

    expect(loud([...first.findings, ...second.findings])).toEqual([]);
  });

  it("does not excuse calls the rotation never makes, even by the rotating principal", async () => {
    const scanner = createScanner({ policy, state: new MemoryScanState() });
    const replicate = record({
      time: at(DAY, 0.3),
      name: "ReplicateSecretToRegions",
      identity: ROTATOR,
      request: { secretId: "algo-trade/production/db", addReplicaRegions: [{ region: "eu-west-1" }] },
    });

    const result = await scanner.scan([...rotation, replicate]);

    expect(result.findings.map((f) => f.rule)).toContain("secret-replicated");
  });
});

describe("createScanner rotation failures and attachments", () => {
  const IBKR = "algo-trade/production/ibkr";
  const withRoles = loadPolicy(
    POLICY.replace(
      "version: 1\n",
      `version: 1\nrotationRoles: ["arn:aws:iam::${ACCOUNT}:role/vigil-prod-rotate"]\n`,
    ),
    "scenario policy with rotationRoles",
  );
  // Vigil's IBKR "rotation due" stop: the function reads the secret and its staging secret, then fails createSecret.
  const dueStop = [
    serviceEvent("RotationStarted", IBKR, DAY),
    record({
      time: at(DAY, 1 / 60),
      name: "DescribeSecret",
      identity: ROTATOR,
      request: { secretId: secretArn(IBKR) },
    }),
    serviceEvent(
      "RotationFailed",
      IBKR,
      at(DAY, 2 / 60),
      "Error when executing lambda during createSecret step",
    ),
  ];
  const attach = (time: string, lambda: string, seq = 0) =>
    record({
      time,
      name: "RotateSecret",
      identity: OPS,
      request: { secretId: "algo-trade/production/db", rotationLambdaARN: lambda },
      seq,
    });
  const FN = `arn:aws:lambda:us-east-1:${ACCOUNT}:function:vigil-prod-rotate`;
  const OTHER_FN = `arn:aws:lambda:us-east-1:${ACCOUNT}:function:other-rotate`;
  const rotationFindings = <T extends { rule: string }>(findings: T[], rule: string) =>
    findings.filter((f) => f.rule === rule);

  it("keeps RotationFailed below paging severity when a rotation role ran the rotation (it reports itself)", async () => {
    const scanner = createScanner({ policy: withRoles, state: new MemoryScanState() });

    const result = await scanner.scan(dueStop);

    expect(rotationFindings(result.findings, "rotation-failed")).toMatchObject([
      { severity: "medium", groupKey: `rotation:${secretArn(IBKR)}` },
    ]);
  });

  it("pages RotationFailed when no rotation role's call is seen in the rotation", async () => {
    const scanner = createScanner({ policy: withRoles, state: new MemoryScanState() });

    const result = await scanner.scan([dueStop[0], dueStop[2]]);

    expect(rotationFindings(result.findings, "rotation-failed")).toMatchObject([{ severity: "high" }]);
  });

  it("rates a first attachment after learning medium and a change of function high", async () => {
    const scanner = createScanner({ policy: withRoles, state: new MemoryScanState() });
    await scanner.scan([record({ time: START, name: "ListSecrets", identity: OPS, request: {} })]);

    const first = await scanner.scan([attach(DAY, FN)]);
    const change = await scanner.scan([attach(at(DAY, 60), OTHER_FN)]);

    expect(rotationFindings(first.findings, "rotation-changed")).toMatchObject([{ severity: "medium" }]);
    expect(rotationFindings(change.findings, "rotation-changed")).toMatchObject([{ severity: "critical" }]);
  });

  it("judges a redelivered first attachment the same way (one finding)", async () => {
    const scanner = createScanner({ policy: withRoles, state: new MemoryScanState() });
    await scanner.scan([record({ time: START, name: "ListSecrets", identity: OPS, request: {} })]);

    const first = await scanner.scan([attach(DAY, FN)]);
    const again = await scanner.scan([attach(DAY, FN)]);

    expect(rotationFindings(first.findings, "rotation-changed")).toHaveLength(1);
    expect(again.findings).toEqual([]);
  });

  it("keeps an attachment high when the secret rotated before, or during learning", async () => {
    const scanner = createScanner({ policy: withRoles, state: new MemoryScanState() });
    await scanner.scan([record({ time: START, name: "ListSecrets", identity: OPS, request: {} })]);

    const learning = await scanner.scan([attach(at(START, 60), FN)]);
    await scanner.scan([serviceEvent("RotationSucceeded", "algo-trade/production/db", at(DAY, -60))]);
    const later = await scanner.scan([attach(DAY, FN)]);

    expect(rotationFindings(learning.findings, "rotation-changed")).toMatchObject([{ severity: "critical" }]);
    expect(rotationFindings(later.findings, "rotation-changed")).toMatchObject([{ severity: "critical" }]);
  });
});
