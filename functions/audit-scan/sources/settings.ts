import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { envReader } from "../../../lib/config.ts";
import { ConfigError } from "../../../lib/errors.ts";
import { defaultPolicy, type Policy } from "../policy.ts";

/** The audit-scan function's configuration, read once at cold start. */
export interface AuditScanSettings {
  stateTableName: string;
  findingsQueueUrl: string;
  /** Regions the LookupEvents sweep reads (default: the function's own). */
  regions: string[];
  overlapMs: number;
  requestsPerSecond: number;
  policy: Policy;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * Parses the environment (asynchronous only because a policy file's parser is loaded when there is one):
 * STATE_TABLE_NAME and FINDINGS_QUEUE_URL (required), SCAN_REGIONS,
 * LOOKUP_OVERLAP_MINUTES (default 15, at least 15), LOOKUP_REQUESTS_PER_SECOND (default 2), POLICY_PATH
 * (default: policy.yaml beside the bundle when present, else the built-in defaults). Throws ConfigError
 * naming the variable.
 */
export async function loadAuditScanSettings(
  env: Readonly<Record<string, string | undefined>> = process.env,
  bundleDirectory: URL = new URL(".", import.meta.url),
): Promise<AuditScanSettings> {
  const read = envReader(env);
  const ownRegion = read.optionalString("AWS_REGION") ?? read.optionalString("AWS_DEFAULT_REGION");
  const regions = read.list("SCAN_REGIONS", ownRegion ? [ownRegion] : []);
  if (regions.length === 0) throw new ConfigError("SCAN_REGIONS", "is empty and AWS_REGION is not set");
  for (const region of regions) {
    if (!REGION.test(region))
      throw new ConfigError("SCAN_REGIONS", `expected AWS regions like us-east-1, got "${region}"`);
  }
  return {
    stateTableName: read.string("STATE_TABLE_NAME"),
    findingsQueueUrl: read.url("FINDINGS_QUEUE_URL"),
    regions,
    // CloudTrail delivers most events within 15 minutes; a shorter overlap would lose late ones.
    overlapMs: read.integer("LOOKUP_OVERLAP_MINUTES", { fallback: 15, min: 15, max: 24 * 60 }) * 60_000,
    requestsPerSecond: read.integer("LOOKUP_REQUESTS_PER_SECOND", { fallback: 2, min: 1, max: 100 }),
    policy: await policyFrom(read.optionalString("POLICY_PATH"), bundleDirectory),
  };
}

async function policyFrom(configured: string | undefined, bundleDirectory: URL): Promise<Policy> {
  const path = configured ?? fileURLToPath(new URL("policy.yaml", bundleDirectory));
  if (configured === undefined && !existsSync(path)) return defaultPolicy();
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError("POLICY_PATH", `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // Imported here, not at the top: the YAML parser and the policy schemas (zod) are a chunk of the bundle
  // of their own, which a function running on the built-in defaults never loads (nor pays for at cold start).
  const { loadPolicy } = await import("../policy-file.ts");
  return loadPolicy(text, path);
}
