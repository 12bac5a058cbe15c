// `npm run package`: builds the bundles, then `osls package` writes the CloudFormation template and
// function zips to .serverless/ without touching AWS. Dummy credentials are used when none are set,
// because packaging never calls AWS. Other arguments go to osls (`--stage prod`, `--param="name=value"`,
// `--package DIR`); `--skip-build` packages the bundles already in dist/.
import { spawnSync } from "node:child_process";

const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "AKIAVIGILPACKAGEONLY",
  AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "packaging-never-calls-aws",
  AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
  SLS_TELEMETRY_DISABLED: "1",
  SLS_NOTIFICATIONS_MODE: "off",
};

const args = process.argv.slice(2);
const skipBuild = args.includes("--skip-build");
const oslsArgs = args.filter((arg) => arg !== "--skip-build");

for (const [command, commandArgs] of [
  ...(skipBuild ? [] : [["node", ["scripts/build.mjs"]]]),
  ["npx", ["--no-install", "osls", "package", ...oslsArgs]],
]) {
  const result = spawnSync(command, commandArgs, { stdio: "inherit", env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
const packageDir =
  oslsArgs.find((arg) => arg.startsWith("--package="))?.slice("--package=".length) ??
  (oslsArgs.includes("--package") ? oslsArgs[oslsArgs.indexOf("--package") + 1] : ".serverless");
console.log(`CloudFormation template: ${packageDir}/cloudformation-template-update-stack.json`);
