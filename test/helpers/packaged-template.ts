import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;

/** A CloudFormation template as `osls package` writes it. */
export interface Template {
  Resources: Record<string, { Type: string; Condition?: string; Properties?: Record<string, unknown> }>;
  Conditions?: Record<string, unknown>;
  Outputs?: Record<string, { Condition?: string; Value: unknown }>;
}

/** The two ways the template is packaged: the defaults, and every optional part switched on. */
export const VARIANTS = {
  defaults: [],
  everything: [
    "--param=rotateSubnetIds=subnet-0a1b2c3d,subnet-0e4f5a6b",
    "--param=rotateSecurityGroupIds=sg-0123abcd",
    "--param=trailBucket=acme-cloudtrail-logs",
    "--param=ibkrSecrets=algo-trade/prod/ibkr,algo-trade/paper/ibkr",
    "--param=findingsSenders=arn:aws:iam::111122223333:role/vigil-smoke-test",
    "--param=runbookBaseUrl=https://git.example.com/vigil/blob/main/",
  ],
} as const;

export type Variant = keyof typeof VARIANTS;

/** Newest modification time of what the template is made from. */
function newestInput(): number {
  const files = [
    "serverless.yml",
    "scripts/package.mjs",
    "package-lock.json",
    ...readdirSync(join(root, "infra")).map((f) => `infra/${f}`),
  ];
  return Math.max(...files.map((file) => statSync(join(root, file)).mtimeMs));
}

const pending = new Map<Variant, Promise<Template>>();

/**
 * Packages the service offline (`npm run package`, without rebuilding bundles that exist) with the
 * variant's parameters and returns the parsed template. The result is kept in .serverless-test/<variant>
 * and reused while serverless.yml, infra/ and the lockfile are unchanged; concurrent test files each
 * package into their own directory and the last rename wins, so no one reads a half-written template.
 */
export function packagedTemplate(variant: Variant): Promise<Template> {
  let promise = pending.get(variant);
  if (!promise) {
    promise = packageOnce(variant);
    pending.set(variant, promise);
  }
  return promise;
}

async function packageOnce(variant: Variant): Promise<Template> {
  const cached = join(root, ".serverless-test", variant);
  const file = join(cached, "cloudformation-template-update-stack.json");
  if (!existsSync(file) || statSync(file).mtimeMs < newestInput()) {
    const bundles = ["rotate", "notify", "audit-scan"].map((fn) => join(root, "dist", fn, "index.mjs"));
    const skipBuild = bundles.every((bundle) => existsSync(bundle)) ? ["--skip-build"] : [];
    const target = await mkdtemp(join(root, ".serverless-test", `${variant}-`)).catch(async () => {
      await run("mkdir", ["-p", join(root, ".serverless-test")]);
      return mkdtemp(join(root, ".serverless-test", `${variant}-`));
    });
    await run(
      process.execPath,
      ["scripts/package.mjs", ...skipBuild, "--package", target, ...VARIANTS[variant]],
      { cwd: root, timeout: 180_000 },
    );
    await rm(cached, { recursive: true, force: true });
    await rename(target, cached).catch(() => rm(target, { recursive: true, force: true }));
  }
  return JSON.parse(readFileSync(file, "utf8")) as Template;
}
