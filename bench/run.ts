// `npm run bench`: runs every benchmark, prints the results and rewrites docs/BENCHMARKS.md.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { measureBundles } from "./bundles.ts";

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

const lines: string[] = [
  "# Benchmarks",
  "",
  `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}.`,
  "",
  "## Function bundles",
  "",
  "Cold import: median of 5 fresh Node processes each running `await import(bundle)`.",
  "",
  "| Function | Size | Gzipped | Cold import |",
  "| --- | --- | --- | --- |",
];
for (const bundle of measureBundles()) {
  lines.push(
    `| ${bundle.name} | ${kib(bundle.bytes)} | ${kib(bundle.gzipBytes)} | ${bundle.coldImportMs.toFixed(1)} ms |`,
  );
}

const report = `${lines.join("\n")}\n`;
process.stdout.write(report);
writeFileSync(new URL("../docs/BENCHMARKS.md", import.meta.url), report);
