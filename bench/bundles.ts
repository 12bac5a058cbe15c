import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export interface BundleMeasurement {
  name: string;
  bytes: number;
  gzipBytes: number;
  /** Median over `runs` fresh Node processes of the time to import() the bundle. */
  coldImportMs: number;
}

// fileURLToPath, not .pathname: a checkout path with a space would stay percent-encoded.
const root = fileURLToPath(new URL("..", import.meta.url));

/** Measures every built function bundle in dist/: size, gzip size and cold import time. */
export function measureBundles(runs = 5): BundleMeasurement[] {
  const dist = join(root, "dist");
  if (!existsSync(dist)) throw new Error("dist/ is missing: run `npm run build` first");
  return readdirSync(dist)
    .filter((name) => name !== "cli" && existsSync(join(dist, name, "index.mjs")))
    .map((name) => {
      const file = join(dist, name, "index.mjs");
      const code = readFileSync(file);
      const samples: number[] = [];
      for (let run = 0; run < runs; run++) {
        const script = `const t = performance.now(); const m = await import(${JSON.stringify(file)}); if (typeof m.handler !== "function") throw new Error("no handler"); console.log(performance.now() - t);`;
        const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
          // The configuration each function requires at cold start (values are never used: no invocation).
          env: {
            ...process.env,
            AWS_REGION: "us-east-1",
            LOG_LEVEL: "SILENT",
            ALERTS_TOPIC_ARN: "arn:aws:sns:us-east-1:111122223333:vigil-bench-alerts",
            PAGERDUTY_ROUTING_KEY_SECRET_ID: "vigil/bench/pagerduty",
          },
          stdio: ["ignore", "pipe", "pipe"],
          encoding: "utf8",
        });
        samples.push(Number(output.trim()));
      }
      samples.sort((a, b) => a - b);
      return {
        name,
        bytes: statSync(file).size,
        gzipBytes: gzipSync(code).length,
        coldImportMs: samples[Math.floor(samples.length / 2)]!,
      };
    });
}
