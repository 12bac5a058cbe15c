import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { loadPolicy } from "../../functions/audit-scan/policy-file.ts";
import { DynamoScanState } from "../../functions/audit-scan/state-dynamodb.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { at, iamUser, record, secretArn } from "../unit/scenarios/records.ts";
import { DAY, databaseRotation, POLICY } from "../unit/scenarios/stories.ts";

let sandbox: Sandbox;
let client: DynamoDBClient;
const NOW = Date.parse("2026-12-01T12:00:00Z");

/** A fresh DynamoScanState: a separate container, with its own (empty) caches. */
const container = () =>
  new DynamoScanState({ client, tableName: sandbox.env.STATE_TABLE_NAME!, now: () => NOW });

beforeAll(async () => {
  sandbox = await startSandbox();
  client = new DynamoDBClient(sandbox.clientConfig());
});

afterAll(async () => {
  client.destroy();
  await sandbox.stop();
});

describe("DynamoScanState on the sandbox's DynamoDB", () => {
  it("counts every distinct member once when 20 containers add at the same time", async () => {
    const sizes = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        container().addDistinct("bulk#role/x", `secret-${index}`, NOW + 60_000),
      ),
    );
    const again = await container().addDistinct("bulk#role/x", "secret-3", NOW + 60_000);

    expect(Math.max(...sizes)).toBe(20);
    expect(new Set(sizes).size).toBe(20);
    expect(again).toBe(20);
  });

  it("grants a claim to exactly one of 10 concurrent containers", async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => container().claimOnce("finding-abc", NOW + 86_400_000)),
    );

    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  it("lets an expired claim be taken again", async () => {
    await container().claimOnce("finding-old", NOW - 1000);

    expect(await container().claimOnce("finding-old", NOW + 1000)).toBe(true);
  });

  it("keeps the earliest first-seen time whatever order the records come in", async () => {
    const first = await container().recordSeen("reader#a#b", NOW);
    const earlier = await container().recordSeen("reader#a#b", NOW - 5000);
    const later = await container().recordSeen("reader#a#b", NOW + 5000);

    expect([first, earlier, later]).toEqual([undefined, NOW, NOW - 5000]);
  });

  it("keeps the account's earliest record time across containers", async () => {
    const answers = [
      await container().noteEarliest(NOW),
      await container().noteEarliest(NOW - 10_000),
      await container().noteEarliest(NOW + 10_000),
    ];

    expect(answers).toEqual([NOW, NOW - 10_000, NOW - 10_000]);
  });

  it("keeps the earliest of times noted by many containers at once", async () => {
    const times = Array.from({ length: 12 }, (_, index) => NOW - ((index * 7) % 12) * 1000);

    await Promise.all(times.map((time) => container().noteEarliest(time)));

    expect(await container().noteEarliest(NOW + 1)).toBe(Math.min(...times));
  });

  it("moves a checkpoint forwards only", async () => {
    const state = container();
    await state.writeCheckpoint("us-east-1", "kms.amazonaws.com", {
      processedUntilMs: 2000,
      chunkMs: 60_000,
    });
    await state.writeCheckpoint("us-east-1", "kms.amazonaws.com", { processedUntilMs: 1000 });

    expect(await state.readCheckpoint("us-east-1", "kms.amazonaws.com")).toEqual({
      processedUntilMs: 2000,
      chunkMs: 60_000,
    });
    expect(await state.readCheckpoint("us-east-1", "cloudtrail.amazonaws.com")).toBeUndefined();
  });

  it("holds a region's lease for one invocation until it is released", async () => {
    const state = container();

    const first = await state.acquireLease("lookup#eu-west-1", "a", NOW + 60_000);
    const second = await state.acquireLease("lookup#eu-west-1", "b", NOW + 60_000);
    await state.releaseLease("lookup#eu-west-1", "b");
    const stillHeld = await state.acquireLease("lookup#eu-west-1", "b", NOW + 60_000);
    await state.releaseLease("lookup#eu-west-1", "a");
    const afterRelease = await state.acquireLease("lookup#eu-west-1", "b", NOW + 60_000);

    expect([first, second, stillHeld, afterRelease]).toEqual([true, false, false, true]);
  });

  it("remembers processed event ids in batches beyond DynamoDB's per-call limits", async () => {
    const ids = Array.from({ length: 130 }, (_, index) => `event-${index}`);
    await container().markEvents(ids.slice(0, 70), NOW + 86_400_000);

    const seen = await container().seenEvents(ids);

    expect(seen).toEqual(new Set(ids.slice(0, 70)));
  });

  it("lists, opens and closes compliance groups", async () => {
    const state = container();
    const group = (key: string) => ({
      groupKey: key,
      rule: "rotation-overdue",
      severity: "medium" as const,
      secretArn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf",
      title: "db: rotation overdue by 3 days",
    });
    await state.updateComplianceGroups([group("g1"), group("g2")], []);
    await state.updateComplianceGroups([], ["g1"]);

    const open = await state.openComplianceGroups();

    expect([...open.values()]).toEqual([group("g2")]);
  });

  it("sees what another container recorded since its own lookup found nothing", async () => {
    const a = container();
    const b = container();
    expect(await a.firstSeen("rotation#x#start#1")).toBeUndefined();
    expect(await a.countDistinct("rotation#x#pendingby#1")).toBe(0);

    await b.recordSeen("rotation#x#start#1", NOW);
    await b.addDistinct("rotation#x#pendingby#1", "(probe)", NOW + 60_000);
    await b.addDistinct("rotation#x#pendingby#1", "role/rotator", NOW + 60_000);

    expect(await a.firstSeen("rotation#x#start#1")).toBe(NOW);
    expect(await a.countDistinct("rotation#x#pendingby#1")).toBe(2);
  });

  it("recognises a rotation's calls once another container has scanned its RotationStarted", async () => {
    const policy = loadPolicy(POLICY, "scenario policy");
    const calls = databaseRotation("algo-trade/staging/db", DAY, {
      token: "70e00000-0000-4000-8000-000000000071",
      previous: "cur00000-0000-4000-8000-000000000070",
    });
    const started = calls[0];
    const stageMove = calls.find((call) => call.eventName === "UpdateSecretVersionStage");
    const others = calls.filter((call) => call !== started && call !== stageMove);
    const a = container();
    const b = container();
    const rules = (findings: { rule: string }[]) => findings.map((finding) => finding.rule);

    // Container A scans the rotation's first calls before any container has scanned its RotationStarted
    // (they are reported, as they must be: nothing shows a rotation yet). Container B then scans the
    // RotationStarted; A, scanning the stage move after it, must see it.
    const early = await createScanner({ policy, state: a }).scan(others);
    await createScanner({ policy, state: b }).scan([started]);
    const late = await createScanner({ policy, state: a }).scan([stageMove]);

    expect(rules(early.findings)).toContain("secret-value-written");
    expect(rules(late.findings)).not.toContain("version-stage-moved");
  });

  it("reports a stage move once another container saw a second principal touch the pending version", async () => {
    const policy = loadPolicy(POLICY, "scenario policy");
    const token = "70e00000-0000-4000-8000-000000000081";
    const calls = databaseRotation("algo-trade/qa/db", DAY, {
      token,
      previous: "cur00000-0000-4000-8000-000000000080",
    });
    const stageMove = calls.find((call) => call.eventName === "UpdateSecretVersionStage");
    const lastRead = calls.filter((call) => call.eventName === "GetSecretValue").at(-1);
    const intruderRead = record({
      time: at(DAY, 0.2),
      name: "GetSecretValue",
      identity: iamUser("ci-deploy"),
      request: { secretId: secretArn("algo-trade/qa/db"), versionId: token, versionStage: "AWSPENDING" },
    });
    const a = container();
    const rules = (findings: { rule: string }[]) => findings.map((finding) => finding.rule);

    // Container A scans the rotation's first calls; container B, an intruder reading the pending version
    // in the same hour; A, still warm, the rotation's last pending read and its stage move.
    await createScanner({ policy, state: a }).scan(
      calls.filter((call) => call !== stageMove && call !== lastRead),
    );
    await createScanner({ policy, state: container() }).scan([intruderRead]);
    const late = await createScanner({ policy, state: a }).scan([lastRead, stageMove]);

    // Two principals touched pending versions within the hour: nobody's calls pass for the rotation's.
    expect(rules(late.findings)).toContain("version-stage-moved");
  });
});
