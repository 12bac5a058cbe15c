import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScanner } from "../../../functions/audit-scan/engine.ts";
import { loadPolicy } from "../../../functions/audit-scan/policy-file.ts";
import { MemoryScanState } from "../../../functions/audit-scan/state.ts";
import type { Finding } from "../../../lib/finding.ts";
import type { Json } from "./records.ts";
import { ATTACKS, BENIGN, baseline, POLICY } from "./stories.ts";

const policy = loadPolicy(POLICY, "scenario policy");
const now = () => new Date("2026-11-25T00:00:00Z");

/**
 * The unit of shuffling: one record, or — for a rotation — its records in the order CloudTrail writes
 * them (the rotation's own calls are recognised only when its RotationStarted is scanned no later than
 * they are; docs/detections.md, "Order").
 */
const units: Json[][] = [...ATTACKS, ...BENIGN].flatMap((story) =>
  story.records.some((record) => record.eventName === "RotationStarted")
    ? [story.records]
    : story.records.map((r) => [r]),
);

/** What must not depend on order: which findings, of which rule, severity, group, secret and principal. */
function projection(findings: Finding[]): string[] {
  return findings
    .map(({ id, rule, severity, groupKey, secretArn, principal, status }) =>
      JSON.stringify({ id, rule, severity, groupKey, secretArn, principal, status }),
    )
    .sort();
}

async function reference(): Promise<string[]> {
  const state = new MemoryScanState();
  await createScanner({ policy, state, now }).scan(baseline());
  const result = await createScanner({ policy, state, now }).scan(units.flat());
  return projection(result.findings);
}

describe("the scanner's findings", () => {
  it("do not depend on order, duplicates, or how records are split across files, batches and invocations", async () => {
    const expected = await reference();
    expect(expected.length).toBeGreaterThan(25);
    const n = units.length;

    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        fc.array(fc.nat(n - 1), { maxLength: n }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 8, max: 200 }),
        async (order, duplicates, fileSizes, filesPerInvocation, batchSize) => {
          const stream = [...order, ...duplicates].map((index) => units[index] as Json[]);
          // Re-split the stream into files (a rotation's records stay in one file) and files into invocations.
          const files: Json[][] = [];
          for (let at = 0, f = 0; at < stream.length; f++) {
            const size = fileSizes[f % fileSizes.length] as number;
            files.push(stream.slice(at, at + size).flat());
            at += size;
          }
          const state = new MemoryScanState();
          await createScanner({ policy, state, now }).scan(baseline());
          const findings: Finding[] = [];
          for (let at = 0, i = 0; at < files.length; i++) {
            const count = filesPerInvocation[i % filesPerInvocation.length] as number;
            // One invocation: a new scanner (a new Lambda container) over the shared state, file by file.
            const scanner = createScanner({ policy, state, now, batchSize });
            for (const file of files.slice(at, at + count))
              findings.push(...(await scanner.scan(file)).findings);
            at += count;
          }
          expect(projection(findings)).toEqual(expected);
        },
      ),
      { numRuns: 40 },
    );
  }, 300_000);
});
