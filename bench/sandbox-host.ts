// A sandbox in its own process, for benchmarks that must not share a core or a heap with it: prints one
// JSON line (endpoint, environment) when it listens, and stops when its stdin closes (the parent exited).
import { type SandboxOptions, startSandbox } from "../local/sandbox.ts";

const options = JSON.parse(process.argv[2] ?? "{}") as SandboxOptions;
const sandbox = await startSandbox(options);
process.stdout.write(
  `${JSON.stringify({ endpoint: sandbox.endpoint, region: sandbox.region, accountId: sandbox.accountId, env: sandbox.env })}\n`,
);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void sandbox.stop().then(() => process.exit(0));
};
process.stdin.on("end", stop).on("close", stop).resume();
process.on("SIGTERM", stop);
