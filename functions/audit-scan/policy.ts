import { readFile } from "node:fs/promises";
import { BlockList, isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import * as z from "zod/mini";
import { secretNameOf } from "../../lib/secret-arn.ts";
import { PolicyError } from "./errors.ts";

export const SENSITIVITIES = ["critical", "high", "normal"] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof DAYS)[number];

/** The quarterly rotation rule: overdue after this many days unless a secret's policy says otherwise. */
export const DEFAULT_MAX_ROTATION_DAYS = 90;
export const DEFAULT_LEARNING_DAYS = 14;

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

/** The validated policy with its defaults applied. */
export interface Policy {
  version: 1;
  learningDays: number;
  rotationRoles: string[];
  businessHours?: { timezone: string; days: Weekday[]; from: string; to: string };
  secrets: SecretRule[];
  suppressions: Suppression[];
  /** Where the policy came from (a file path, or "built-in defaults"). */
  source: string;
}

/** What the policy says about one secret (the first `secrets[]` entry that matches it, else defaults). */
export interface SecretPolicy {
  /** The `match` of the entry that applies; undefined when no entry matches (the secret is not managed). */
  match?: string;
  sensitivity: Sensitivity;
  /** Expected readers besides rotationRoles; undefined when the policy does not say (no allow-list). */
  readers?: string[];
  writers: string[];
  /** Expected network origins; undefined when the policy does not say. */
  origins?: { vpcEndpoints: string[]; cidrs: string[] };
  maxRotationDays: number;
  canary: boolean;
}

/** The policy used when no file is given: every policy-independent rule with its defaults. */
export function defaultPolicy(): Policy {
  return {
    version: 1,
    learningDays: DEFAULT_LEARNING_DAYS,
    rotationRoles: [],
    secrets: [],
    suppressions: [],
    source: "built-in defaults",
  };
}

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

/** What the policy says about the secret with this canonical ARN (first matching entry wins). */
export function secretPolicyFor(policy: Policy, secretArn: string): SecretPolicy {
  const name = secretNameOf(secretArn);
  const entry = policy.secrets.find((rule) =>
    rule.match.startsWith("arn:")
      ? globMatches(stripArnSuffix(rule.match), secretArn) || globMatches(rule.match, secretArn)
      : globMatches(rule.match, name),
  );
  if (!entry)
    return { sensitivity: "normal", writers: [], maxRotationDays: DEFAULT_MAX_ROTATION_DAYS, canary: false };
  return {
    match: entry.match,
    sensitivity: entry.sensitivity ?? (entry.canary ? "critical" : "normal"),
    ...(entry.readers ? { readers: entry.readers } : {}),
    writers: entry.writers ?? [],
    ...(entry.origins
      ? { origins: { vpcEndpoints: entry.origins.vpcEndpoints ?? [], cidrs: entry.origins.cidrs ?? [] } }
      : {}),
    maxRotationDays: entry.maxRotationDays ?? DEFAULT_MAX_ROTATION_DAYS,
    canary: entry.canary ?? false,
  };
}

/** True when principalArn matches one of the ARN patterns (globs allowed). */
export function principalMatches(patterns: readonly string[], principalArn: string | undefined): boolean {
  if (principalArn === undefined) return false;
  return patterns.some((pattern) => globMatches(pattern, principalArn));
}

/** True when a suppression covers this rule, principal and secret at atMs. */
export function isSuppressed(
  policy: Policy,
  finding: { rule: string; principal?: string; secretArn?: string; atMs: number },
): boolean {
  return policy.suppressions.some(
    (entry) =>
      (entry.rule === finding.rule || entry.rule === "*") &&
      (entry.principal === undefined || principalMatches([entry.principal], finding.principal)) &&
      (entry.secret === undefined ||
        (finding.secretArn !== undefined &&
          (globMatches(entry.secret, secretNameOf(finding.secretArn)) ||
            globMatches(stripArnSuffix(entry.secret), finding.secretArn)))) &&
      (entry.until === undefined || finding.atMs < endOfDay(entry.until)),
  );
}

const blockLists = new WeakMap<readonly string[], BlockList>();

/** True when ip lies in one of the CIDRs. */
export function ipInCidrs(ip: string | undefined, cidrs: readonly string[]): boolean {
  if (!ip || cidrs.length === 0) return false;
  const family = isIP(ip);
  if (family === 0) return false;
  // One BlockList per list of CIDRs (the policy's lists live as long as the policy).
  let list = blockLists.get(cidrs);
  if (!list) {
    list = new BlockList();
    for (const range of cidrs) {
      const [network = "", prefix = ""] = range.split("/");
      const networkFamily = isIP(network);
      if (networkFamily !== 0) list.addSubnet(network, Number(prefix), networkFamily === 4 ? "ipv4" : "ipv6");
    }
    blockLists.set(cidrs, list);
  }
  return list.check(ip, family === 4 ? "ipv4" : "ipv6");
}

/** True when atMs falls inside the policy's business hours (always false when it defines none). */
export function inBusinessHours(policy: Policy, atMs: number): boolean {
  const hours = policy.businessHours;
  if (!hours) return false;
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: hours.timezone,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(atMs));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  const day = part("weekday").toLowerCase() as Weekday;
  const time = `${part("hour")}:${part("minute")}`;
  return hours.days.includes(day) && time >= hours.from && time < hours.to;
}

export { secretNameOf };

/** Removes the random `-XXXXXX` suffix Secrets Manager appends to a secret's full ARN. */
export function stripArnSuffix(arn: string): string {
  return /^arn:[^:]+:secretsmanager:/.test(arn) ? arn.replace(/-[A-Za-z0-9]{6}$/, "") : arn;
}

const globCache = new Map<string, RegExp>();

/** `*` matches any run of characters (slashes included), `?` one character; the rest literally. */
export function globMatches(pattern: string, text: string): boolean {
  let regex = globCache.get(pattern);
  if (!regex) {
    const body = pattern
      .split("")
      .map((char) => (char === "*" ? ".*" : char === "?" ? "." : char.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("");
    regex = new RegExp(`^${body}$`);
    globCache.set(pattern, regex);
  }
  return regex.test(text);
}

function endOfDay(date: string): number {
  const at = Date.parse(date);
  // A bare date suppresses through the whole of that day (UTC).
  return /^\d{4}-\d{2}-\d{2}$/.test(date) ? at + 86_400_000 : at;
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
