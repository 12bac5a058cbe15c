import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import * as z from "zod/mini";
import { PolicyError } from "./errors.ts";
import { DAYS, DEFAULT_LEARNING_DAYS, defaultPolicy, type Policy, SENSITIVITIES } from "./policy.ts";

/**
 * Reading a policy file: its YAML parser and schemas. Kept out of policy.ts (what the rules ask of a
 * policy) so that the audit-scan function loads them only when a policy file exists: without one (the
 * built-in defaults) its cold start neither loads the YAML parser and zod nor builds the schemas.
 */

const nonEmpty = z.string().check(z.minLength(1, "expected a non-empty string"));
const clock = z.string().check(z.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a 24-hour time "HH:MM"'));
const timezone = nonEmpty.check(z.refine(isTimeZone, "expected an IANA time zone such as America/New_York"));
const cidr = nonEmpty.check(z.refine(isCidr, "expected a CIDR such as 10.0.0.0/8 or 2001:db8::/32"));
const vpcEndpoint = z.string().check(z.regex(/^vpce-[0-9a-f]+$/, "expected a VPC endpoint id (vpce-...)"));
const date = z
  .string()
  .check(z.refine((text) => !Number.isNaN(Date.parse(text)), "expected a date (YYYY-MM-DD)"));
const positiveInt = z.number().check(z.int("expected an integer"), z.positive("expected a positive number"));

const secretSchema = z.strictObject({
  match: nonEmpty,
  sensitivity: z.optional(z.enum(SENSITIVITIES)),
  readers: z.optional(z.array(nonEmpty)),
  writers: z.optional(z.array(nonEmpty)),
  origins: z.optional(
    z.strictObject({
      vpcEndpoints: z.optional(z.array(vpcEndpoint)),
      cidrs: z.optional(z.array(cidr)),
    }),
  ),
  maxRotationDays: z.optional(positiveInt),
  canary: z.optional(z.boolean()),
});

const suppressionSchema = z.strictObject({
  rule: nonEmpty,
  principal: z.optional(nonEmpty),
  secret: z.optional(nonEmpty),
  until: z.optional(date),
  reason: nonEmpty,
});

const policySchema = z.strictObject({
  version: z.literal(1, "expected 1"),
  learningDays: z.optional(
    z.number().check(z.int("expected an integer"), z.nonnegative("expected 0 or more")),
  ),
  rotationRoles: z.optional(z.array(nonEmpty)),
  businessHours: z.optional(
    z.strictObject({
      timezone,
      days: z.array(z.enum(DAYS)),
      from: clock,
      to: clock,
    }),
  ),
  secrets: z.optional(z.array(secretSchema)),
  suppressions: z.optional(z.array(suppressionSchema)),
});

export type PolicyDocument = z.infer<typeof policySchema>;
export type SecretRule = z.infer<typeof secretSchema>;
export type Suppression = z.infer<typeof suppressionSchema>;

/**
 * The policy file a command's `--policy` names, or the built-in defaults without one. A file that cannot
 * be read is a PolicyError naming it (a missing one says where to start from).
 */
export async function readPolicyFile(path: string | undefined): Promise<Policy> {
  if (path === undefined) return defaultPolicy();
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new PolicyError(
      error.code === "ENOENT"
        ? `--policy: no such file: ${path} (start from policy.example.yaml; docs/policy.md)`
        : `--policy: cannot read ${path}: ${error.message}`,
      { cause: error },
    );
  });
  return loadPolicy(text, path);
}

/** Parses and validates a policy file's YAML; the error names the source, each wrong path and why. */
export function loadPolicy(yamlText: string, source: string): Policy {
  let document: unknown;
  try {
    document = parseYaml(yamlText);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new PolicyError(`${source}: not valid YAML: ${reason}`, { cause: error });
  }
  if (document === null || document === undefined)
    throw new PolicyError(`${source}: the policy file is empty (expected at least "version: 1")`);
  const result = policySchema.safeParse(document, { reportInput: true });
  if (!result.success) {
    const issues = result.error.issues.flatMap((issue) => {
      if (issue.code === "unrecognized_keys") {
        return issue.keys.map((key) => `${pathText([...issue.path, key])}: unknown key`);
      }
      return [`${pathText(issue.path) || "(top level)"}: ${issueMessage(issue)}`];
    });
    throw new PolicyError(`${source}: ${issues.join("; ")}`);
  }
  const parsed = result.data;
  return {
    version: 1,
    learningDays: parsed.learningDays ?? DEFAULT_LEARNING_DAYS,
    rotationRoles: parsed.rotationRoles ?? [],
    ...(parsed.businessHours ? { businessHours: parsed.businessHours } : {}),
    secrets: parsed.secrets ?? [],
    suppressions: parsed.suppressions ?? [],
    source,
  };
}

function isTimeZone(text: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: text });
    return true;
  } catch {
    return false;
  }
}

function isCidr(text: string): boolean {
  const [network = "", prefix, extra] = text.split("/");
  const family = isIP(network);
  if (family === 0 || prefix === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

function pathText(path: readonly PropertyKey[]): string {
  return path
    .map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`))
    .join("")
    .replace(/^\./, "");
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type") {
    const expected =
      issue.expected === "object" ? "a mapping" : issue.expected === "array" ? "a list" : issue.expected;
    return issue.input === undefined
      ? `required (expected ${expected})`
      : `expected ${expected}, got ${describeValue(issue.input)}`;
  }
  if (issue.code === "invalid_value") return `expected one of ${issue.values.map(String).join(", ")}`;
  return issue.message;
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}
