import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { normaliseRecord } from "../../functions/audit-scan/normalise.ts";
import { defaultPolicy, loadPolicy } from "../../functions/audit-scan/policy.ts";
import { MemoryScanState } from "../../functions/audit-scan/state.ts";
import { findingSchema } from "../../lib/finding.ts";
import { ATTACKS, BENIGN, POLICY } from "./scenarios/stories.ts";

const valid = [...ATTACKS, ...BENIGN].flatMap((story) => story.records);

/** A valid record with one field (at any depth) replaced by an arbitrary JSON value or removed. */
const mutated = fc
  .tuple(
    fc.constantFrom(...valid),
    fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    fc.option(fc.jsonValue()),
  )
  .map(([record, path, value]) => {
    const copy = structuredClone(record) as Record<string, unknown>;
    let node: Record<string, unknown> = copy;
    for (let depth = 0; depth < path.length; depth++) {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const key = keys[(path[depth] as number) % keys.length] as string;
      const child = node[key];
      if (depth === path.length - 1 || typeof child !== "object" || child === null || Array.isArray(child)) {
        if (value === null) delete node[key];
        else node[key] = value;
        break;
      }
      node = child as Record<string, unknown>;
    }
    return copy;
  });

const anything = fc.oneof(fc.jsonValue(), fc.string(), mutated, mutated, mutated);

describe("normaliseRecord", () => {
  it("never throws: a record is an event, another service's, or malformed with a reason", () => {
    fc.assert(
      fc.property(anything, (raw) => {
        const result = normaliseRecord(raw);
        if (!result.ok && !result.ignored) expect(result.reason).toMatch(/\S/);
      }),
      { numRuns: 2_000 },
    );
  }, 120_000);
});

describe("createScanner.scan", () => {
  it("never throws on malformed records, counts each one, and emits only valid findings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(anything, { maxLength: 40 }), fc.boolean(), async (records, withPolicy) => {
        const policy = withPolicy ? loadPolicy(POLICY, "p") : defaultPolicy();
        const scanner = createScanner({ policy, state: new MemoryScanState(), batchSize: 7 });

        const result = await scanner.scan(records);

        expect(result.processed).toBe(records.length);
        const malformed = records.filter((raw) => {
          const normalised = normaliseRecord(raw);
          return !normalised.ok && !normalised.ignored;
        }).length;
        expect(Object.values(result.skipped).reduce((a, b) => a + b, 0)).toBe(malformed);
        for (const finding of result.findings) expect(findingSchema.parse(finding)).toEqual(finding);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
