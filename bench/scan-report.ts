import {
  measureScanFolderMemory,
  measureScanMemory,
  measureScanThroughput,
  measureScanWorkers,
} from "./scan.ts";

/** The sizes each bench mode uses: `--quick` stays under two minutes, `--full` adds a 1 GiB input. */
const SIZES = {
  quick: {
    records: 40_000,
    runs: 3,
    memory: [10, 100],
    folders: [20_000, 60_000],
    workerRecords: 40_000,
    workerRuns: 1,
  },
  default: {
    records: 300_000,
    runs: 5,
    memory: [10, 100, 300],
    folders: [30_000, 100_000, 300_000],
    workerRecords: 300_000,
    workerRuns: 3,
  },
  full: {
    records: 300_000,
    runs: 5,
    memory: [10, 100, 300, 1024],
    folders: [30_000, 100_000, 300_000, 800_000],
    workerRecords: 300_000,
    workerRuns: 3,
  },
} as const;

const rate = (value: number) => Math.round(value).toLocaleString("en");
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

/** Runs the trail-file benchmarks and returns their section of docs/BENCHMARKS.md. */
export async function scanSections(mode: keyof typeof SIZES): Promise<string[]> {
  const size = SIZES[mode];
  const lines: string[] = [];
  const throughput = await measureScanThroughput(size.records, size.runs);
  lines.push(
    "",
    "## Trail-file throughput",
    "",
    `Generated trail files in CloudTrail's S3 layout and record shape (${size.records.toLocaleString("en")} records per mix, 1,000 per \`.json.gz\` file), scanned in-process by \`vigil scan\`'s module (\`scanTrailFiles\`, default policy, in-memory state, no worker threads) against a bare loop that only reads, gunzips and \`JSON.parse\`s the same files; alternated, median of ${size.runs} runs each. Target: ≥ 0.8× the bare loop. By CPU: the same ratio from each loop's CPU time (user + system, every thread of the process), less sensitive to other work on the machine. Reader only: the scanner's reader alone (read, gunzip, split, skip other services' records unparsed, \`JSON.parse\` the rest), against the bare loop; what normalisation and rules may cost on top is the difference. Load: the 1-minute load average when the mix's runs started (2 cores).`,
    "",
    "| Mix | Files | Records | Uncompressed | Scanner records/s | Bare loop records/s | Ratio (target ≥ 0.8×) | By CPU | Reader only | Load |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const row of throughput) {
    lines.push(
      `| ${row.mix} | ${row.files} | ${row.records.toLocaleString("en")} | ${row.megabytes.toFixed(0)} MiB | ${rate(row.scannerRecordsPerSecond)} | ${rate(row.bareRecordsPerSecond)} | ${ratio(row.scannerRecordsPerSecond, row.bareRecordsPerSecond)} | ${ratio(row.scannerRecordsPerCpuSecond, row.bareRecordsPerCpuSecond)} | ${ratio(row.readerRecordsPerSecond, row.bareRecordsPerSecond)} | ${row.load.toFixed(2)} |`,
    );
  }
  const memory = await measureScanMemory([...size.memory]);
  const folders = await measureScanFolderMemory([...size.folders]);
  lines.push(
    "",
    "## Trail-file memory",
    "",
    "Peak RSS (GNU time's maximum resident set size, the process `vigil.mjs` starts the scan in and its worker threads included) of the built `vigil scan` in a child process: over one `.json.gz` trail file of growing uncompressed size (realistic mix, `--workers 0`), and over folders of growing size (1,000 records per file, worker threads as `vigil scan` chooses them: none below 32 MiB of input, else one per core). Target: flat, not growing with the input. For scale: `node dist/cli/vigil.mjs --help` peaks near 107 MiB on this machine (Node and every command of the CLI, which the help loads).",
    "",
    "| Input | Uncompressed | Records | Peak RSS | Wall time |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const row of memory) {
    lines.push(
      `| one file | ${row.megabytes} MiB | ${row.records.toLocaleString("en")} | ${row.peakRssMiB.toFixed(0)} MiB | ${row.seconds.toFixed(1)} s |`,
    );
  }
  for (const row of folders) {
    lines.push(
      `| folder of ${row.files ?? 0} files | ${row.megabytes.toFixed(0)} MiB | ${row.records.toLocaleString("en")} | ${row.peakRssMiB.toFixed(0)} MiB | ${row.seconds.toFixed(1)} s |`,
    );
  }
  const workers = await measureScanWorkers(size.workerRecords, [0, 1, 2], size.workerRuns);
  const base = workers[0]?.seconds ?? 1;
  lines.push(
    "",
    "## Trail-file worker threads",
    "",
    `The built \`vigil scan --workers N\` in a child process over ${size.workerRecords.toLocaleString("en")} records (realistic mix, 1,000 per file), median of ${size.workerRuns} run(s) by wall time; the process's start (Node, loading the CLI's scan command, and \`vigil.mjs\` starting the scan in a second process with a small young generation: about a quarter of a second here) is included. In-process: \`scanTrailFiles\` bundled as the CLI runs it, with the same worker count, in the bench's own process (worker start-up included, CLI start-up not), median of the same runs. Both against the one-thread bare loop over the same files in the bench's process. Target: more than 1.6× the one-thread bare loop on two cores. Load: the 1-minute load average when the runs started (2 cores, shared).`,
    "",
    "| Workers | Wall time | CPU time | Speed-up over 0 | Records/s | Of the bare loop | In-process records/s | Of the bare loop | Load |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const row of workers) {
    const perSecond = (row.records ?? 0) / row.seconds;
    lines.push(
      `| ${row.workers} | ${row.seconds.toFixed(2)} s | ${(row.cpuSeconds ?? 0).toFixed(2)} s | ${(base / row.seconds).toFixed(2)}× | ${rate(perSecond)} | ${ratio(perSecond, row.bareRecordsPerSecond ?? 1)} | ${rate(row.inProcessRecordsPerSecond ?? 0)} | ${ratio(row.inProcessRecordsPerSecond ?? 0, row.bareRecordsPerSecond ?? 1)} | ${(row.load ?? 0).toFixed(2)} |`,
    );
  }
  return lines;
}
