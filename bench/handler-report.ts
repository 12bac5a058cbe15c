import { type ColdStartRow, measureColdStarts } from "./cold-start.ts";
import { type HandlerMemoryRow, measureHandlerMemory, measureHandlerThroughput } from "./handler-s3.ts";
import { type SandboxProcess, startSandboxProcess } from "./sandbox-process.ts";
import { measureWindowedConcurrency } from "./windowed-concurrency.ts";

/** One line of the summary table: a figure beside its limit and target, and whether it is met. */
export interface SummaryRow {
  figure: string;
  value: string;
  limit: string;
  target: string;
  verdict: string;
}

/** The sizes each bench mode uses for the functions' sections. */
const SIZES = {
  quick: {
    records: 10_000,
    runs: 3,
    fileMegabytes: [10, 40],
    folderFiles: [10, 20],
    coldRuns: 3,
    invocations: 8,
    rounds: 1,
  },
  default: {
    records: 100_000,
    runs: 5,
    fileMegabytes: [10, 100, 300],
    folderFiles: [10, 100, 300],
    coldRuns: 15,
    invocations: 8,
    rounds: 3,
  },
  full: {
    records: 100_000,
    runs: 5,
    fileMegabytes: [10, 100, 300, 1024],
    folderFiles: [10, 100, 300, 1000],
    coldRuns: 15,
    invocations: 8,
    rounds: 3,
  },
} as const;

export type BenchMode = keyof typeof SIZES;

const rate = (value: number) => Math.round(value).toLocaleString("en");
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const ms = (value: number) => `${value.toFixed(0)} ms`;
const ratio = (value: number) => `${value.toFixed(2)}×`;

/** Runs one measurement, saying on stderr how long it took (the bench has a time budget). */
async function timed<T>(name: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await run();
  process.stderr.write(`bench:   ${name} took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return result;
}

/** "met" or "missed by …" for a ratio that must be at least `target`. */
function atLeast(value: number, target: number): string {
  return value >= target
    ? "met"
    : `missed by ${(target - value).toFixed(2)}× (${((1 - value / target) * 100).toFixed(0)} % short)`;
}

/** "met" or "missed by …" for a ratio that must be at most `target`. */
function atMost(value: number, target: number): string {
  return value <= target
    ? "met"
    : `missed by ${(value - target).toFixed(2)}× (${((value / target - 1) * 100).toFixed(0)} % over)`;
}

/** The audit-scan and cold-start sections of docs/BENCHMARKS.md, and their lines of the summary table. */
export async function functionSections(mode: BenchMode): Promise<{ lines: string[]; summary: SummaryRow[] }> {
  // One sandbox process for every section: starting one costs seconds of the run's budget.
  const sandbox = await startSandboxProcess();
  try {
    return await measureFunctions(mode, sandbox);
  } finally {
    await sandbox.stop();
  }
}

async function measureFunctions(
  mode: BenchMode,
  sandbox: SandboxProcess,
): Promise<{ lines: string[]; summary: SummaryRow[] }> {
  const size = SIZES[mode];
  const lines: string[] = [];
  const summary: SummaryRow[] = [];

  const cold = await timed("cold start", () => measureColdStarts(size.coldRuns, sandbox));
  lines.push(
    "",
    "## Function bundles and cold start",
    "",
    `Cold start: a fresh Node process runs \`await import(bundle)\` and one first invocation against the sandbox (which runs in a process of its own), median of ${size.coldRuns} processes. Every process runs with the functions' deployed NODE_OPTIONS (${cold[0]?.nodeOptions || "none"}, from serverless.yml). SDK-only: a bundle built the same way (esbuild, minified ESM, the SDK's clients from their ES modules, source maps) holding only the AWS SDK clients the function uses, which constructs them and makes the same AWS calls as the function, in the same order and concurrency (for audit-scan its 17 state updates on a first file), in a fresh process alternated with the function's. The last column is audit-scan against an SDK-only bundle making one call per client (S3, DynamoDB, SQS), the comparison used before 2026-12-03, measured alongside. Target: ≤ 1.2× the SDK-only cold start (wall time). The CPU column is the same comparison in CPU time (user + system of the process), which a machine shared with other work disturbs less; the AWS calls column lists the calls each made (the sandbox's CloudTrail, by the process's own access key; PagerDuty is not an AWS call).`,
    "",
    "| Function | First invocation | Size | Gzipped | Import | Cold start | SDK-only size | SDK-only import | SDK-only cold start | Ratio (target ≤ 1.2×) | CPU: function / SDK-only | AWS calls: function / SDK-only | One call per client: SDK-only cold start, ratio (CPU) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const row of cold) lines.push(coldStartLine(row));
  for (const row of cold) {
    const value = row.coldStartMs / row.sdkOnlyColdStartMs;
    summary.push({
      figure: `${row.name} cold start (import + first invocation)`,
      value: ms(row.coldStartMs),
      limit: `SDK-only ${ms(row.sdkOnlyColdStartMs)}`,
      target: "≤ 1.2×",
      verdict: `${ratio(value)}: ${atMost(value, 1.2)} (CPU time ${ratio(row.coldStartCpuMs / row.sdkOnlyColdStartCpuMs)})`,
    });
  }

  const throughput = await timed("S3 path", () => measureHandlerThroughput(size.records, size.runs, sandbox));
  lines.push(
    "",
    "## Audit-scan handler: S3 path",
    "",
    `The built \`dist/audit-scan/index.mjs\` in a fresh Node process (one Lambda container), handed the SQS events the deployed trail-objects queue delivers (its event source mapping: 10 S3 ObjectCreated notifications per event), reading generated trail files (CloudTrail's S3 layout and record shape, 1,000 records per \`.json.gz\`) from the sandbox's S3 over HTTP, its state in the sandbox's DynamoDB (a fresh table per run), findings to the sandbox's SQS; the sandbox runs in a process of its own. Each container first handles as many other files (of the day before, same mix and principals), then the measured ones: a container on Lambda lives through many batches, and the bare loop it is compared with runs warm too. New container: records/s over those first files, with V8 compiling the scanner's hot code and the state table learning the day's principals; warm container: over the measured ones, with both done, as in a container's steady state; the figure held to the target. Handler time: its invocations, not the import (that is the cold start). Invocations: the measured files' (as many again before them); findings: both days'. Bare loop: read, gunzip and \`JSON.parse\` the same files from disk in the bench process. Bare loop over S3: the same objects from the same sandbox S3, one after another, in the bench process through an S3 client with the handler's options (\`s3ClientOptions\` in \`lib/aws.ts\`): GetObject, read the body, gunzip, \`JSON.parse\` — what reading through the SDK costs, which the handler cannot avoid; the handler's ratio to it is what its own work costs. The three alternated, median of ${size.runs} runs each. Target: ≥ 0.8× the bare loop (from disk).`,
    "",
    "| Mix | Files | Records | Uncompressed | Invocations | Findings (both days) | New container records/s | Warm container records/s | Bare loop records/s | Ratio, warm (target ≥ 0.8×) | Ratio, new container | Bare loop over S3 records/s | Ratio to it, warm |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const row of throughput) {
    const value = row.handlerRecordsPerSecond / row.bareRecordsPerSecond;
    const fresh = row.newContainerRecordsPerSecond / row.bareRecordsPerSecond;
    lines.push(
      `| ${row.mix} | ${row.files} | ${row.records.toLocaleString("en")} | ${row.megabytes.toFixed(0)} MiB | ${row.invocations} | ${row.findings} | ${rate(row.newContainerRecordsPerSecond)} | ${rate(row.handlerRecordsPerSecond)} | ${rate(row.bareRecordsPerSecond)} | ${ratio(value)} | ${ratio(fresh)} | ${rate(row.bareS3RecordsPerSecond)} | ${ratio(row.handlerRecordsPerSecond / row.bareS3RecordsPerSecond)} |`,
    );
    summary.push({
      figure: `audit-scan S3 path, ${row.mix.split(" (")[0]} mix (warm container)`,
      value: `${rate(row.handlerRecordsPerSecond)} records/s`,
      limit: `bare loop ${rate(row.bareRecordsPerSecond)} records/s`,
      target: "≥ 0.8×",
      verdict: `${ratio(value)}: ${atLeast(value, 0.8)} (new container ${ratio(fresh)}; ${ratio(row.handlerRecordsPerSecond / row.bareS3RecordsPerSecond)} the bare loop over S3)`,
    });
  }

  const memory = await timed("memory", () =>
    measureHandlerMemory(size.fileMegabytes, size.folderFiles, sandbox, mode !== "quick"),
  );
  lines.push(
    "",
    "## Audit-scan handler: memory",
    "",
    `Peak RSS (the process's own high-water mark, VmHWM in /proc/self/status; not getrusage's maximum, into which Linux carries the bench process's size at fork) of the fresh process running the built handler: one SQS event naming one \`.json.gz\` trail file of growing uncompressed size (realistic mix), then folders of growing numbers of 1,000-record files, their notifications in batches of 10, all in one process (one container over many invocations).${memory.some((row) => row.input.includes("capped")) ? " The capped rows run the largest file and the largest folder again with V8's old space capped: their completing with the same records is what shows that the live heap stays under that cap whatever the input's size, and that a container keeps nothing that grows from one invocation to the next." : ""} Target: flat (here: within 16 MiB of the smallest input's peak), not growing with the input; the deployed function has 512 MB.`,
    "",
    "| Input | Files | Records | Uncompressed | Peak RSS | Wall time |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  for (const row of memory) lines.push(memoryLine(row));
  const peak = Math.max(...memory.map((row) => row.peakRssMiB));
  const largest = Math.max(...memory.map((row) => row.megabytes));
  const capped = memory.find((row) => row.input.includes("capped"));
  lines.push(
    "",
    `Bound: peak RSS at most ${Math.ceil(peak)} MiB over inputs up to ${largest.toFixed(0)} MiB uncompressed${capped ? `; ${capped.input.slice(capped.input.indexOf(",") + 2)}, the largest file and folder still scan, so the handler's live heap stays under that cap whatever the input, and what RSS adds above it is V8 sizing its heap to the allocation rate, not data held` : ""}.`,
  );
  summary.push(...memorySummary(memory));

  const windowed = await timed("windowed state", () =>
    measureWindowedConcurrency(size.invocations, size.rounds, 40, sandbox),
  );
  const exact = windowed.bulkFindingsPerRound.every((count) => count === 1) && windowed.otherFindings === 0;
  lines.push(
    "",
    "## Windowed-rule state under concurrency",
    "",
    `One bulk-retrieval burst — one assumed role reading ${windowed.secrets} distinct secrets within two minutes (one BatchGetSecretValue of four, GetSecretValue for the rest; the rule fires at 10 distinct secrets within 10 minutes) — dealt round-robin into ${windowed.invocations} trail files padded with other records; each file's notification handed to its own fresh process of the built bundle (${windowed.invocations} containers), all invoking at the same moment against one state table in the sandbox's DynamoDB. One finding means one message of the rule on the findings queue: one firing finding id, so one group key and one page. ${windowed.rounds} rounds, a fresh table and queue each.`,
    "",
    "| Concurrent invocations | Rounds | bulk-retrieval findings per round | Other findings | Target |",
    "| --- | --- | --- | --- | --- |",
    `| ${windowed.invocations} | ${windowed.rounds} | ${windowed.bulkFindingsPerRound.join(", ")} | ${windowed.otherFindings} | exactly 1 per round, none other |`,
  );
  summary.push({
    figure: `bulk-retrieval burst over ${windowed.invocations} concurrent invocations`,
    value: `${windowed.bulkFindingsPerRound.join(", ")} finding(s) per round`,
    limit: "—",
    target: "exactly 1",
    verdict: exact ? "met" : "missed",
  });
  return { lines, summary };
}

function coldStartLine(row: ColdStartRow): string {
  return `| ${row.name} | ${row.invocation} | ${kib(row.bytes)} | ${kib(row.gzipBytes)} | ${ms(row.importMs)} | ${ms(row.coldStartMs)} | ${kib(row.sdkOnlyBytes)} | ${ms(row.sdkOnlyImportMs)} | ${ms(row.sdkOnlyColdStartMs)} | ${ratio(row.coldStartMs / row.sdkOnlyColdStartMs)} | ${ms(row.coldStartCpuMs)} / ${ms(row.sdkOnlyColdStartCpuMs)} = ${ratio(row.coldStartCpuMs / row.sdkOnlyColdStartCpuMs)} | ${row.awsCalls.join(", ")} / ${row.sdkOnlyAwsCalls.join(", ")} | ${oneCallPerClient(row)} |`;
}

function oneCallPerClient(row: ColdStartRow): string {
  const minimal = row.sdkOnlyMinimal;
  if (!minimal) return "—";
  return `${ms(minimal.coldStartMs)}, ${ratio(row.coldStartMs / minimal.coldStartMs)} (${ratio(row.coldStartCpuMs / minimal.coldStartCpuMs)}): ${minimal.awsCalls.join(", ")}`;
}

function memoryLine(row: HandlerMemoryRow): string {
  return `| ${row.input} | ${row.files} | ${row.records.toLocaleString("en")} | ${row.megabytes.toFixed(0)} MiB | ${row.peakRssMiB.toFixed(0)} MiB | ${row.seconds.toFixed(1)} s |`;
}

function memorySummary(rows: readonly HandlerMemoryRow[]): SummaryRow[] {
  const summary: SummaryRow[] = [];
  for (const input of ["one file", "folder"]) {
    const series = rows.filter((row) => row.input === input);
    const first = series[0];
    const last = series.at(-1);
    if (!first || !last) continue;
    const growth = last.peakRssMiB - first.peakRssMiB;
    const change = `${growth < 0 ? "-" : "+"}${Math.abs(growth).toFixed(0)} MiB`;
    summary.push({
      figure: `audit-scan handler peak RSS, ${input === "folder" ? "folders" : "single files"} of ${first.megabytes.toFixed(0)}-${last.megabytes.toFixed(0)} MiB`,
      value: `${first.peakRssMiB.toFixed(0)}-${Math.max(...series.map((row) => row.peakRssMiB)).toFixed(0)} MiB`,
      limit: "512 MB (deployed memory)",
      target: "flat",
      verdict:
        growth <= 16
          ? `met (${change} for ${(last.megabytes / first.megabytes).toFixed(0)}× the input)`
          : `missed: ${change} for ${(last.megabytes / first.megabytes).toFixed(0)}× the input`,
    });
  }
  for (const capped of rows.filter((row) => row.input.includes(", old space"))) {
    const [input, cap] = capped.input.split(", ");
    summary.push({
      figure: `audit-scan handler, ${capped.megabytes.toFixed(0)} MiB ${input === "folder" ? `folder of ${capped.files} files` : "file"}, ${cap}`,
      value: `${capped.peakRssMiB.toFixed(0)} MiB`,
      limit: "512 MB (deployed memory)",
      target: "completes",
      verdict: "met (the live heap stays under the cap)",
    });
  }
  return summary;
}
