// Windowed rules under Lambda's scale-out: the files of one bulk-retrieval burst scanned by concurrent
// containers (each its own scanner and DynamoScanState, so nothing shared but the state table) give one
// finding, whatever the split. The benchmark (bench/windowed-concurrency.ts) does the same with the built
// bundle in separate processes.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { defaultPolicy } from "../../functions/audit-scan/policy.ts";
import { DynamoScanState } from "../../functions/audit-scan/state-dynamodb.ts";
import type { Finding } from "../../lib/finding.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { bulkRetrievalBurstFiles } from "../unit/scenarios/trail-generator.ts";

let sandbox: Sandbox;
let client: DynamoDBClient;

beforeAll(async () => {
  sandbox = await startSandbox();
  client = new DynamoDBClient(sandbox.clientConfig());
});

afterAll(async () => {
  client.destroy();
  await sandbox.stop();
});

/** Scans each file in its own container, all at once; returns every finding they emitted. */
async function scanConcurrently(files: readonly unknown[][]): Promise<Finding[]> {
  const results = await Promise.all(
    files.map((records) => {
      const state = new DynamoScanState({ client, tableName: sandbox.env.STATE_TABLE_NAME! });
      return createScanner({ policy: defaultPolicy(), state }).scan(records);
    }),
  );
  return results.flatMap((result) => result.findings);
}

describe("a bulk-retrieval burst scanned by concurrent containers", () => {
  // Each case is a burst on its own day: its windows and finding ids are its own in the shared table.
  it.each([
    { containers: 2, day: "2026-11-02" },
    { containers: 8, day: "2026-11-03" },
    { containers: 20, day: "2026-11-04" },
  ])("gives exactly one finding when $containers containers share it", async ({ containers, day }) => {
    const files = bulkRetrievalBurstFiles({
      files: containers,
      secrets: 40,
      filler: 50,
      startMs: Date.parse(`${day}T12:00:00Z`),
    });

    const findings = await scanConcurrently(files);

    const bulk = findings.filter((finding) => finding.rule === "bulk-retrieval");
    expect(bulk).toHaveLength(1);
    expect(bulk[0]?.principal).toBe("arn:aws:iam::111122223333:role/report-exporter");
    expect(findings.filter((finding) => finding.rule !== "bulk-retrieval")).toEqual([]);
  });

  it("gives no second finding when the same files are delivered again", async () => {
    const files = bulkRetrievalBurstFiles({
      files: 8,
      secrets: 40,
      filler: 50,
      startMs: Date.parse("2026-11-05T12:00:00Z"),
    });

    const first = await scanConcurrently(files);
    const again = await scanConcurrently([...files].reverse());

    expect(first.filter((finding) => finding.rule === "bulk-retrieval")).toHaveLength(1);
    expect(again).toEqual([]);
  });
});
