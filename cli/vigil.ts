import { Command, CommanderError } from "commander";
import packageJson from "../package.json" with { type: "json" };
import { type CommandRegistration, describeFailure, describeStack } from "./command.ts";

// dist/cli/vigil.mjs, which loads this program, enables source maps when --verbose asks for stack traces
// (see scripts/build.mjs).
// Vigil supports Node 20.19+ (Lambda runs nodejs22.x); the SDK's notice that its future releases will
// need Node 22 is for Vigil's maintainers, not for whoever runs a command. Every other warning shows.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

// One line per command; each command lives in cli/commands/<name>.ts and is loaded only when it runs (or
// for the help that lists them all): `vigil scan` need not load the sandbox, the database drivers and
// every AWS SDK client the other commands use (about 0.4 s of a start-up).
const commands: Record<string, () => Promise<CommandRegistration>> = {
  demo: async () => (await import("./commands/demo.ts")).registerDemo,
  ibkr: async () => (await import("./commands/ibkr-stage.ts")).registerIbkrStage,
  sandbox: async () => (await import("./commands/sandbox.ts")).registerSandbox,
  scan: async () => (await import("./commands/scan.ts")).registerScan,
  who: async () => (await import("./commands/who.ts")).registerWho,
  status: async () => (await import("./commands/status.ts")).registerStatus,
  report: async () => (await import("./commands/report.ts")).registerReport,
  incident: async () => (await import("./commands/incident.ts")).registerIncident,
};

const program = new Command("vigil")
  .description("Vigil: secrets rotation and access alerting for AWS Secrets Manager")
  .version(packageJson.version)
  .option("--verbose", "more detail: the functions' logs (demo, sandbox) and a failure's stack trace", false)
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError("(run with --help for usage)")
  // Usage errors come back here (commander would exit 1, which `vigil scan` uses for "findings").
  .exitOverride();

// The command is the first argument that is not an option (the program's own options take no value).
// `vigil --version` needs no command at all; anything else without one shows the help, which lists them.
const args = process.argv.slice(2);
const named = args.find((arg) => !arg.startsWith("-"));
const versionOnly = named === undefined && (args.includes("--version") || args.includes("-V"));
const load = versionOnly
  ? []
  : named !== undefined && Object.hasOwn(commands, named)
    ? [commands[named]]
    : Object.values(commands);
for (const register of await Promise.all(load.map((loader) => loader?.()))) register?.(program);

/** Shows a failure: one line a person can act on; the stack only on request, redacted like everything else. */
function report(error: unknown): void {
  const failure = describeFailure(error);
  process.stderr.write(`vigil: ${failure.line}\n`);
  if (program.opts<{ verbose?: boolean }>().verbose) process.stderr.write(`${describeStack(error)}\n`);
  else if (failure.bug) process.stderr.write("vigil: run it again with --verbose for the stack trace\n");
}

// A failure outside a command's own promise (a server callback, a stray rejection) is shown the same way.
const reportAndExit = (error: unknown) => {
  report(error);
  process.exit(2);
};
process.on("uncaughtException", reportAndExit);
process.on("unhandledRejection", reportAndExit);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has printed the help, the version or the usage error already.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    report(error);
    process.exitCode = 2;
  }
}
