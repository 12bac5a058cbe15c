// `npm run bench`: runs every benchmark, prints the results and rewrites docs/BENCHMARKS.md.
// `-- --quick`: smaller inputs; `-- --full`: adds the 1 GB memory input; `-- --only scan`: only the
// trail-file sections, printed and not written to docs/BENCHMARKS.md.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { measureBundles } from "./bundles.ts";
import { measureLookupSweep } from "./lookup-sweep.ts";
import { measureNotifyBurst } from "./notify-burst.ts";
import { measureRotations } from "./rotation.ts";
import { scanSections } from "./scan-report.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

const args = process.argv.slice(2);
const mode = args.includes("--quick") ? "quick" : args.includes("--full") ? "full" : "default";
if (args.includes("--only")) {
  if (args[args.indexOf("--only") + 1] !== "scan") throw new Error("--only: expected scan");
  process.stdout.write(`${(await scanSections(mode)).join("\n")}\n`);
  process.exit(0);
}

const lines: string[] = [
  "# Benchmarks",
  "",
  `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}. Everything runs on loopback: the sandbox, throwaway PostgreSQL/MariaDB with TLS.`,
  "",
  "## Function bundles",
  "",
  "Cold import: median of 5 fresh Node processes each running `await import(bundle)` (module init, no invocation).",
  "",
  "| Function | Size | Gzipped | Cold import |",
  "| --- | --- | --- | --- |",
];
for (const bundle of measureBundles()) {
  lines.push(
    `| ${bundle.name} | ${kib(bundle.bytes)} | ${kib(bundle.gzipBytes)} | ${ms(bundle.coldImportMs)} |`,
  );
}

const rotations = await measureRotations(5);
lines.push(
  "",
  "## Rotation",
  "",
  "End to end: `RotateSecret` on the sandbox driving the built rotate bundle in-process through all four",
  "steps (Secrets Manager calls over HTTP, database calls over TLS), median of 5 rotations per strategy.",
  "Bare minimum: the same password change by hand — TLS login, change the password, TLS login with it.",
  "",
  "| Strategy | Rotation (median) | Bare minimum | Ratio |",
  "| --- | --- | --- | --- |",
);
for (const row of rotations) {
  lines.push(
    `| ${row.strategy} | ${ms(row.medianMs)} | ${ms(row.bareMinimumMs)} | ${(row.medianMs / row.bareMinimumMs).toFixed(1)}× |`,
  );
}

const burst = await measureNotifyBurst();
lines.push(
  "",
  "## Notifier burst",
  "",
  `${burst.findings.toLocaleString("en")} findings of ${burst.problems} problems, in ${burst.batches} SQS batches, through the built notify bundle against the sandbox's PagerDuty and SNS.`,
  "",
  "| PagerDuty events | Incidents | SNS messages | Total time |",
  "| --- | --- | --- | --- |",
  `| ${burst.pagerDutyEvents} | ${burst.incidents} | ${burst.snsMessages} | ${ms(burst.totalMs)} |`,
);

const lookup = await measureLookupSweep();
lines.push(
  "",
  "## LookupEvents sweep",
  "",
  `One sweep of the audit scanner over a backlog of ${lookup.backlog.toLocaleString("en")} events (the last hour, spread over the secretsmanager, kms and cloudtrail event sources) against the sandbox's LookupEvents, which answers ThrottlingException beyond 2 requests/s (a token bucket, as AWS does per account and region); checkpoints and seen event ids in the sandbox's DynamoDB. Target: at least 90 % of the 2 requests/s ceiling, no throttling surfacing, nothing lost or duplicated.`,
  "",
  "| Requests/s | Of the ceiling | Events/s (ceiling 100) | Throttled | Errors | Lost | Duplicated |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  `| ${lookup.requestsPerSecond.toFixed(2)} | ${((lookup.requestsPerSecond / 2) * 100).toFixed(0)} % | ${lookup.eventsPerSecond.toFixed(1)} | ${lookup.throttles} | ${lookup.errors} | ${lookup.lost} | ${lookup.duplicated} |`,
);

lines.push(...(await scanSections(mode)));

const report = `${lines.join("\n")}\n`;
process.stdout.write(report);
writeFileSync(new URL("../docs/BENCHMARKS.md", import.meta.url), report);
