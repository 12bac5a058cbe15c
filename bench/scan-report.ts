import { measureScanMemory, measureScanThroughput, measureScanWorkers } from "./scan.ts";

/** The sizes each bench mode uses: `--quick` stays under two minutes, `--full` adds a 1 GB input. */
const SIZES = {
  quick: { records: 40_000, runs: 3, memory: [10, 100], workerRecords: 40_000, workerRuns: 1 },
  default: { records: 300_000, runs: 5, memory: [10, 100, 300], workerRecords: 200_000, workerRuns: 3 },
  full: { records: 300_000, runs: 5, memory: [10, 100, 300, 1024], workerRecords: 200_000, workerRuns: 3 },
} as const;

const rate = (value: number) => Math.round(value).toLocaleString("en");

/** Runs the trail-file benchmarks and returns their section of docs/BENCHMARKS.md. */
export async function scanSections(mode: keyof typeof SIZES): Promise<string[]> {
  const size = SIZES[mode];
  const lines: string[] = [];
  const throughput = await measureScanThroughput(size.records, size.runs);
  lines.push(
    "",
    "## Trail-file throughput",
    "",
    `Generated trail files in CloudTrail's S3 layout and record shape (${size.records.toLocaleString("en")} records per mix, 1,000 per \`.json.gz\` file), scanned in-process by \`vigil scan\`'s module (\`scanTrailFiles\`, default policy, in-memory state, no worker threads) against a bare loop that only reads, gunzips and \`JSON.parse\`s the same files; alternated, median of ${size.runs} runs each. Target: ≥ 0.8× the bare loop.`,
    "",
    "| Mix | Files | Records | Uncompressed | Scanner records/s | Bare loop records/s | Ratio (target ≥ 0.8×) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const row of throughput) {
    lines.push(
      `| ${row.mix} | ${row.files} | ${row.records.toLocaleString("en")} | ${row.megabytes.toFixed(0)} MiB | ${rate(row.scannerRecordsPerSecond)} | ${rate(row.bareRecordsPerSecond)} | ${(row.scannerRecordsPerSecond / row.bareRecordsPerSecond).toFixed(2)}× |`,
    );
  }
  const memory = await measureScanMemory([...size.memory]);
  lines.push(
    "",
    "## Trail-file memory",
    "",
    "Peak RSS (GNU time's maximum resident set size) of the built `vigil scan --workers 0` in a child process over one `.json.gz` trail file of growing uncompressed size (realistic mix). Target: flat, not growing with the input.",
    "",
    "| Uncompressed | Records | Peak RSS | Wall time |",
    "| --- | --- | --- | --- |",
  );
  for (const row of memory) {
    lines.push(
      `| ${row.megabytes} MiB | ${row.records.toLocaleString("en")} | ${row.peakRssMiB.toFixed(0)} MiB | ${row.seconds.toFixed(1)} s |`,
    );
  }
  const workers = await measureScanWorkers(size.workerRecords, [0, 2], size.workerRuns);
  const base = workers[0]?.seconds ?? 1;
  lines.push(
    "",
    "## Trail-file worker threads",
    "",
    `Wall time of the built \`vigil scan --workers N\` in a child process over ${size.workerRecords.toLocaleString("en")} records (realistic mix, 1,000 per file), median of ${size.workerRuns} run(s). Target: more than 1.6× the one-thread bare loop on two cores, so well above 1.6× over 0 workers.`,
    "",
    "| Workers | Wall time | Speed-up over 0 |",
    "| --- | --- | --- |",
  );
  for (const row of workers) {
    lines.push(`| ${row.workers} | ${row.seconds.toFixed(2)} s | ${(base / row.seconds).toFixed(2)}× |`);
  }
  return lines;
}
