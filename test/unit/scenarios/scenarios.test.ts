import { describe, expect, it } from "vitest";
import { createScanner } from "../../../functions/audit-scan/engine.ts";
import { loadPolicy } from "../../../functions/audit-scan/policy-file.ts";
import { atLeast } from "../../../functions/audit-scan/rule.ts";
import { MemoryScanState } from "../../../functions/audit-scan/state.ts";
import { type Finding, findingSchema } from "../../../lib/finding.ts";
import type { Json } from "./records.ts";
import { ATTACKS, BENIGN, baseline, POLICY, type Story } from "./stories.ts";

const policy = loadPolicy(POLICY, "scenario policy");

/** Scans the learning-period baseline, then the story, as two invocations sharing one state. */
async function findingsOf(records: Json[]): Promise<Finding[]> {
  const state = new MemoryScanState();
  const now = () => new Date("2026-11-25T00:00:00Z");
  await createScanner({ policy, state, now }).scan(baseline());
  const result = await createScanner({ policy, state, now }).scan(records);
  expect(result.skipped).toEqual({});
  return result.findings;
}

function described(findings: Finding[]): string {
  return findings.map((f) => `${f.severity} ${f.rule}: ${f.title}`).join("\n");
}

describe("the scenario suite", () => {
  it("has at least twenty attack stories and ten benign ones", () => {
    expect(ATTACKS.length).toBeGreaterThanOrEqual(20);
    expect(BENIGN.length).toBeGreaterThanOrEqual(10);
  });

  it("raises nothing for the learning-period baseline itself", async () => {
    expect(await findingsOf([])).toEqual([]);
  });
});

describe.each(ATTACKS.map((story): [string, Story] => [story.name, story]))("attack: %s", (_name, story) => {
  it("raises the expected rule at the expected severity, as valid findings", async () => {
    const findings = await findingsOf(story.records);

    for (const expected of story.expect ?? []) {
      expect(
        findings.some(
          (f) => f.rule === expected.rule && f.severity === expected.severity && f.status === "firing",
        ),
        `${expected.severity} ${expected.rule} among:\n${described(findings)}`,
      ).toBe(true);
    }
    for (const finding of findings) expect(findingSchema.parse(finding)).toEqual(finding);
  });
});

describe.each(BENIGN.map((story): [string, Story] => [story.name, story]))("benign: %s", (_name, story) => {
  it("raises nothing of medium or above", async () => {
    const findings = await findingsOf(story.records);

    const loud = findings.filter((f) => f.status !== "resolved" && atLeast(f.severity, "medium"));
    expect(loud, described(loud)).toEqual([]);
  });
});
