// `npm run package`: builds the bundles, then `osls package` writes the CloudFormation template and
// function zips to .serverless/ without touching AWS. Dummy credentials are used when none are set,
// because packaging never calls AWS.
import { spawnSync } from "node:child_process";

const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "AKIAVIGILPACKAGEONLY",
  AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "packaging-never-calls-aws",
  AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
  SLS_TELEMETRY_DISABLED: "1",
  SLS_NOTIFICATIONS_MODE: "off",
};

for (const [command, args] of [
  ["node", ["scripts/build.mjs"]],
  ["npx", ["--no-install", "osls", "package", ...process.argv.slice(2)]],
]) {
  const result = spawnSync(command, args, { stdio: "inherit", env });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
console.log("CloudFormation template: .serverless/cloudformation-template-update-stack.json");
