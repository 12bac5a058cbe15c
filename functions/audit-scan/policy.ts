import { BlockList, isIP } from "node:net";
import { secretNameOf } from "../../lib/secret-arn.ts";
import type { SecretRule, Suppression } from "./policy-file.ts";

export const SENSITIVITIES = ["critical", "high", "normal"] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];
export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof DAYS)[number];

/** The quarterly rotation rule: overdue after this many days unless a secret's policy says otherwise. */
export const DEFAULT_MAX_ROTATION_DAYS = 90;
export const DEFAULT_LEARNING_DAYS = 14;

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
