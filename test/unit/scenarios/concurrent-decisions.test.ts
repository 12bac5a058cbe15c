import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScanner } from "../../../functions/audit-scan/engine.ts";
import { loadPolicy } from "../../../functions/audit-scan/policy-file.ts";
import { MemoryScanState, type ScanState, type ScanStateJson } from "../../../functions/audit-scan/state.ts";
import type { Finding } from "../../../lib/finding.ts";
import { assumedRole, at, type Json, record } from "./records.ts";
import { ATTACKS, BENIGN, baseline, DAY, POLICY, REPORTING } from "./stories.ts";
import { bulkRetrievalBurstFiles } from "./trail-generator.ts";

const policy = loadPolicy(POLICY, "scenario policy");
const now = () => new Date("2026-11-25T00:00:00Z");
const stories: Json[][] = [...ATTACKS, ...BENIGN].map((story) => story.records);

/**
 * A MemoryScanState whose answers come back after a pseudo-random number of microtask turns, so calls made
 * concurrently finish in an order of their own (no timers: the order depends only on the seed).
 */
class ShuffledState implements ScanState {
  readonly inner = new MemoryScanState();
  #seed: number;

  constructor(seed: number) {
    this.#seed = seed;
  }

  async #turns(): Promise<void> {
    this.#seed = (this.#seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    for (let turn = this.#seed % 24; turn > 0; turn--) await Promise.resolve();
  }
  async addDistinct(key: string, member: string, expiresAtMs: number): Promise<number> {
    await this.#turns();
    return this.inner.addDistinct(key, member, expiresAtMs);
  }
  async recordSeen(key: string, atMs: number): Promise<number | undefined> {
    await this.#turns();
    return this.inner.recordSeen(key, atMs);
  }
  async claimOnce(id: string, expiresAtMs: number): Promise<boolean> {
    await this.#turns();
    return this.inner.claimOnce(id, expiresAtMs);
  }
  async noteEarliest(atMs: number): Promise<number> {
    await this.#turns();
    return this.inner.noteEarliest(atMs);
  }
  async firstSeen(key: string): Promise<number | undefined> {
    await this.#turns();
    return this.inner.firstSeen(key);
  }
  async countDistinct(key: string): Promise<number> {
    await this.#turns();
    return this.inner.countDistinct(key);
  }
}

/** The saved state, independent of the order its keys were first written in. */
function sorted(json: ScanStateJson): unknown {
  const entries = <T>(object: Record<string, T>): [string, T][] =>
    Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    earliest: json.earliest,
    seen: entries(json.seen),
    distinct: entries(json.distinct).map(([key, { expiresAt, members }]) => [
      key,
      expiresAt,
      [...members].sort(),
    ]),
    claims: entries(json.claims),
  };
}

/** Scans the baseline, then each file as one invocation, all with one state; the findings in order. */
async function scanFiles(
  files: readonly Json[][],
  state: ScanState,
  options: { stateConcurrency?: number; batchSize?: number },
): Promise<Finding[]> {
  await createScanner({ policy, state, now, ...options }).scan(baseline());
  const findings: Finding[] = [];
  for (const file of files)
    findings.push(...(await createScanner({ policy, state, now, ...options }).scan(file)).findings);
  return findings;
}

describe("the scanner deciding a batch's pending findings concurrently", () => {
  it("gives the findings, in the same order, and the state that deciding them one at a time gives", async () => {
    const burst = bulkRetrievalBurstFiles({ files: 3, secrets: 30, filler: 20 });
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray([...stories.keys()], { minLength: stories.length, maxLength: stories.length }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 20, max: 400 }),
        fc.integer({ min: 2, max: 16 }),
        fc.integer({ min: 1, max: 2 ** 30 }),
        async (order, storiesPerFile, batchSize, stateConcurrency, seed) => {
          // Stories in any order, several to a file, the bulk-retrieval burst's files among them.
          const files: Json[][] = [];
          for (let at = 0; at < order.length; at += storiesPerFile)
            files.push(order.slice(at, at + storiesPerFile).flatMap((index) => stories[index] as Json[]));
          files.splice(1, 0, ...burst);
          const oneAtATime = new MemoryScanState();
          const concurrent = new ShuffledState(seed);

          const expected = await scanFiles(files, oneAtATime, { batchSize });
          const actual = await scanFiles(files, concurrent, { batchSize, stateConcurrency });

          expect(actual).toEqual(expected);
          const at = now().getTime();
          expect(sorted(concurrent.inner.toJSON(at))).toEqual(sorted(oneAtATime.toJSON(at)));
        },
      ),
      { numRuns: 30 },
    );
    expect(stories.length).toBeGreaterThan(30);
  }, 300_000);

  /** The findings and saved state of one batch decided one at a time, then concurrently under many seeds. */
  async function expectSameAsOneAtATime(records: Json[]): Promise<Finding[]> {
    const oneAtATime = new MemoryScanState();
    const expected = await scanFiles([records], oneAtATime, {});
    for (let seed = 1; seed <= 40; seed++) {
      const concurrent = new ShuffledState(seed);
      const actual = await scanFiles([records], concurrent, { stateConcurrency: 8 });
      expect(actual, `seed ${seed}`).toEqual(expected);
      expect(sorted(concurrent.inner.toJSON(0)), `seed ${seed}`).toEqual(sorted(oneAtATime.toJSON(0)));
    }
    return expected;
  }

  it("decides one principal's refused calls on both sides of midnight in batch order (they share a window bucket)", async () => {
    // Three refused calls before midnight and three after: each day's own buckets stay under the threshold
    // of five, the half-window bucket across midnight holds all six. Only the later day may see it full.
    const prober = assumedRole("build-agent", "guessing");
    const refused = (time: string, seq: number) =>
      record({
        time,
        name: "GetSecretValue",
        identity: prober,
        request: { secretId: `guessed/name-${seq}` },
        errorCode: "ResourceNotFoundException",
        errorMessage: "Secrets Manager can't find the specified secret.",
        seq,
      });
    const records = [56, 57, 58, 61, 62, 63].map((minute, seq) =>
      refused(at("2026-11-23T23:00:00Z", minute), seq),
    );

    const findings = await expectSameAsOneAtATime(records);

    expect(findings.filter((finding) => finding.rule === "access-probing").map((f) => f.lastSeen)).toEqual([
      "2026-11-24T00:03:00.000Z",
    ]);
  });

  it("decides a principal's first reads of one secret, through a service and directly, in batch order", async () => {
    // Two pending first sightings of one baseline key (their severities differ): the one decided first
    // records the sighting, and the other is old news only if it is not earlier. In batch order the later
    // direct read comes first, so the earlier read through a service is news as well.
    const direct = record({
      time: at(DAY, 5),
      name: "GetSecretValue",
      identity: REPORTING("reporting-new"),
      request: { secretId: "trading/market-data-key" },
      seq: 1,
    });
    const throughService = record({
      time: at(DAY, 1),
      name: "GetSecretValue",
      identity: { ...REPORTING("reporting-new"), invokedBy: "cloudformation.amazonaws.com" },
      request: { secretId: "trading/market-data-key" },
      seq: 2,
    });

    const findings = await expectSameAsOneAtATime([direct, throughService]);

    expect(
      findings.filter((finding) => finding.rule === "first-seen-reader").map((finding) => finding.severity),
    ).toEqual(["medium", "low"]);
  });
});
