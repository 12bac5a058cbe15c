// Builds one minified ESM bundle per function (dist/<function>/index.mjs, exporting `handler`) and the
// `vigil` CLI (dist/cli/main.mjs and a chunk per command in dist/cli/chunks/, loaded by dist/cli/vigil.mjs;
// its scan worker threads load dist/cli/scan-worker.mjs). Functions that do not exist yet are skipped.
import { existsSync, readdirSync, statSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

// CommonJS dependencies (pg, mysql2) call require() for Node built-ins; an ESM bundle needs one.
const requireShim =
  "import { createRequire as __vigilCreateRequire } from 'node:module'; const require = __vigilCreateRequire(import.meta.url);";

// fileURLToPath, not .pathname: a checkout path with a space would stay percent-encoded.
const root = fileURLToPath(new URL("..", import.meta.url));
const functions = readdirSync(join(root, "functions"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(root, "functions", entry.name, "handler.ts")))
  .map((entry) => entry.name);

// Tests may import a bundle while another test rebuilds: outputs are never deleted first, and each file is
// written beside its place and renamed over it, so a reader sees the old file or the new one, never half.
async function writeAtomically(path, contents) {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, path);
}

/**
 * Removes chunks of earlier builds from dist/<function>/chunks, once they are old enough that no test
 * still running can have loaded the entry that names them.
 */
async function removeStaleChunks(name, result) {
  const folder = join(root, "dist", name, "chunks");
  const current = new Set(result.outputFiles.map((file) => file.path));
  const cutoff = Date.now() - 10 * 60_000;
  for (const entry of existsSync(folder) ? readdirSync(folder) : []) {
    const path = join(folder, entry);
    if (!current.has(path) && !current.has(path.replace(/\.map$/, "")) && statSync(path).mtimeMs < cutoff)
      await rm(path, { force: true });
  }
  return result;
}

/** Writes what esbuild built (write: false) with writeAtomically. */
async function writeOutputs(result) {
  await Promise.all(result.outputFiles.map((file) => writeAtomically(file.path, file.contents)));
  return result;
}

// Only bundles of functions that no longer exist are removed.
for (const entry of existsSync(join(root, "dist")) ? readdirSync(join(root, "dist")) : []) {
  if (entry !== "cli" && !functions.includes(entry))
    await rm(join(root, "dist", entry), { recursive: true, force: true });
}

// What every bundle shares: ESM for Node 20+, the require shim, source maps that point at the repository's
// files instead of carrying a copy of them, and the AWS SDK's clients from their ES modules (a package
// without an exports map is bundled from its ES modules, which esbuild can trim, not its CommonJS build:
// audit-scan's entry 843 → 375 KB, its cold start about 60 ms of CPU less).
const common = {
  bundle: true,
  banner: { js: requireShim },
  mainFields: ["module", "main"],
  legalComments: "none",
  sourcemap: true,
  sourcesContent: false,
  platform: "node",
  target: "node20",
  format: "esm",
  metafile: true,
  logLevel: "warning",
  write: false,
};

// The CLI and its scan worker bundle their dependencies too: Node resolving and loading a few hundred
// files of node_modules (CommonJS among them) cost every command about 50 ms before it started.
// dynalite stays external: the sandbox loads it only when it runs, and it opens a native LevelDB binding.
const nodeBundle = {
  ...common,
  external: ["dynalite", "pg-native", "cloudflare:sockets"],
  // Whitespace and syntax minified (Node compiles a little less before a command starts), names kept:
  // a stack trace (shown with --verbose) names the functions as written.
  minifyWhitespace: true,
  minifySyntax: true,
};

const started = Date.now();
const results = await Promise.all([
  ...functions.map((name) =>
    build({
      entryPoints: { index: join(root, "functions", name, "handler.ts") },
      outdir: join(root, "dist", name),
      // What a function imports only when it needs it (a database driver, the RDS CA bundle) becomes a
      // chunk of its own, loaded then: a cold start reads and compiles only what every invocation runs.
      splitting: true,
      chunkNames: "chunks/[name]-[hash]",
      outExtension: { ".js": ".mjs" },
      ...common,
      minify: true,
      // pg's optional native binding and cloudflare socket shim are never used on Lambda.
      external: ["pg-native", "cloudflare:sockets"],
    })
      .then(writeOutputs)
      .then((result) => removeStaleChunks(name, result))
      .then((result) => ({ name, result })),
  ),
  existsSync(join(root, "cli", "vigil.ts"))
    ? build({
        entryPoints: { main: join(root, "cli", "vigil.ts") },
        outdir: join(root, "dist", "cli"),
        // Each command is a chunk of its own, loaded when it runs (cli/vigil.ts).
        splitting: true,
        chunkNames: "chunks/[name]-[hash]",
        outExtension: { ".js": ".mjs" },
        ...nodeBundle,
      })
        .then(writeOutputs)
        .then((result) => removeStaleChunks("cli", result))
        .then((result) => ({ name: "cli", result }))
    : undefined,
  // `vigil scan`'s worker threads load this small entry instead of the whole CLI bundle.
  existsSync(join(root, "functions", "audit-scan", "scan-worker.ts"))
    ? build({
        entryPoints: [join(root, "functions", "audit-scan", "scan-worker.ts")],
        outfile: join(root, "dist", "cli", "scan-worker.mjs"),
        ...nodeBundle,
      })
        .then(writeOutputs)
        .then((result) => ({ name: "cli-scan-worker", result }))
    : undefined,
]);

// The `vigil` entry point: Node applies source maps only to modules loaded after they are enabled, so
// it enables them before loading the CLI bundle, and stack traces name the TypeScript sources. A stack
// is shown only with --verbose (cli/vigil.ts), so only then: Node reads and parses each module's map as
// it loads the module, about 30 ms of every command's start. It starts `vigil scan` in a process with a
// bounded young generation (see the comment it carries).
if (existsSync(join(root, "cli", "vigil.ts"))) {
  const entry = join(root, "dist", "cli", "vigil.mjs");
  await writeAtomically(
    entry,
    `#!/usr/bin/env node
// \`vigil scan\` runs with a small young generation: under a scan's allocation rate V8 grows it to about
// 48 MiB, and peak RSS with it (docs/BENCHMARKS.md, trail-file memory). V8 sizes it only when a process
// starts, so this entry starts the scan again with the flag, before loading anything else.
if (
  process.argv.slice(2).find((arg) => !arg.startsWith("-")) === "scan" &&
  !process.execArgv.some((flag) => flag.startsWith("--max-semi-space-size"))
) {
  const { spawnSync } = await import("node:child_process");
  const args = [...process.execArgv, "--max-semi-space-size=2", ...process.argv.slice(1)];
  const child = spawnSync(process.execPath, args, { stdio: "inherit" });
  process.exit(child.status ?? 2);
}
// Stack traces, which name the TypeScript sources through the maps, are shown only with --verbose.
if (process.argv.includes("--verbose")) process.setSourceMapsEnabled(true);
await import("./main.mjs");
`,
  );
  await chmod(entry, 0o755);
  await rm(`${entry}.map`, { force: true });
}

// The scanner's policy travels with its bundle: a policy.yaml at the repository root is copied beside
// dist/audit-scan/index.mjs (where the function looks by default), and a stale copy is removed.
const policy = join(root, "policy.yaml");
if (functions.includes("audit-scan")) {
  const shipped = join(root, "dist", "audit-scan", "policy.yaml");
  if (existsSync(policy)) {
    await writeAtomically(shipped, await readFile(policy));
    console.log("copied policy.yaml to dist/audit-scan/policy.yaml");
  } else await rm(shipped, { force: true });
}

for (const entry of results) {
  if (!entry) continue;
  const [output, meta] = Object.entries(entry.result.metafile.outputs).find(
    ([file, output]) => file.endsWith(".mjs") && output.entryPoint && !file.includes("/chunks/"),
  );
  console.log(`built ${output.padEnd(28)} ${(meta.bytes / 1024).toFixed(0).padStart(6)} KiB`);
}
console.log(`build finished in ${Date.now() - started} ms`);
