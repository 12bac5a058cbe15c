/**
 * The one place that removes secret material from anything Vigil writes out: log lines, error
 * messages, findings and notifications. Values are registered as soon as they are read or generated;
 * keys that always carry secrets are blanked whatever their value.
 */

export const REDACTED = "[REDACTED]";

// Shorter values would blank ordinary words; IBKR's minimum password length is 6.
const MIN_SECRET_LENGTH = 6;

const SECRET_KEYS = new Set([
  "password",
  "passwd",
  "pwd",
  "newpassword",
  "currentpassword",
  "masterpassword",
  "secretstring",
  "secretbinary",
  "secretvalue",
  "routingkey",
  "integrationkey",
  "apikey",
  "authorization",
  "secretaccesskey",
  "sessiontoken",
  "securitytoken",
  "xamzsecuritytoken",
  "privatekey",
  "clientsecret",
]);

const registered = new Set<string>();
let pattern: RegExp | undefined;

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z]/g, "");
}

/** True when a property of this name always carries a secret (password, SecretString, api_key, ...). */
export function isSecretKey(key: string): boolean {
  const normalised = normaliseKey(key);
  return SECRET_KEYS.has(normalised) || normalised.endsWith("password");
}

/** Registers a secret value so that it is removed from every later output, in raw and JSON-escaped form. */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
  const forms = [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)];
  let changed = false;
  for (const form of forms) {
    if (!registered.has(form)) {
      registered.add(form);
      changed = true;
    }
  }
  if (changed) pattern = undefined;
}

/** Registers every string under a secret-bearing key of a parsed secret (e.g. a SecretString's JSON). */
export function registerSecretFields(secret: unknown): void {
  if (secret === null || typeof secret !== "object") return;
  for (const [key, value] of Object.entries(secret)) {
    if (typeof value === "string" && isSecretKey(key)) registerSecret(value);
    else if (typeof value === "object") registerSecretFields(value);
  }
}

/** Forgets every registered value (tests only). */
export function clearRegisteredSecrets(): void {
  registered.clear();
  pattern = undefined;
}

function secretPattern(): RegExp | undefined {
  if (registered.size === 0) return undefined;
  if (!pattern) {
    // Longest first, so a secret that contains another is removed whole.
    const alternatives = [...registered]
      .sort((a, b) => b.length - a.length)
      .map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    pattern = new RegExp(alternatives.join("|"), "g");
  }
  return pattern;
}

/** Removes every registered secret value from a string. */
export function redactText(text: string): string {
  const regex = secretPattern();
  return regex ? text.replace(regex, REDACTED) : text;
}

/**
 * Returns a deep copy of `value` with registered secrets removed from every string, secret-bearing
 * keys blanked, and errors turned into plain objects (name, message, stack, cause) that are redacted too.
 */
export function redact<T>(value: T): T {
  return redactValue(value, new WeakMap()) as T;
}

function redactValue(value: unknown, seen: WeakMap<object, unknown>): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return seen.get(value);
  if (value instanceof Date) return value;
  if (value instanceof Error) {
    const plain: Record<string, unknown> = {};
    seen.set(value, plain);
    plain.name = value.name;
    plain.message = redactText(value.message);
    if (value.stack) plain.stack = redactText(value.stack);
    for (const [key, inner] of Object.entries(value)) {
      plain[key] = isSecretKey(key) ? REDACTED : redactValue(inner, seen);
    }
    if (value.cause !== undefined) plain.cause = redactValue(value.cause, seen);
    return plain;
  }
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    seen.set(value, copy);
    for (const item of value) copy.push(redactValue(item, seen));
    return copy;
  }
  if (value instanceof Map) {
    return redactValue(Object.fromEntries(value), seen);
  }
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return REDACTED;
  const copy: Record<string, unknown> = {};
  seen.set(value, copy);
  for (const [key, inner] of Object.entries(value)) {
    copy[key] =
      isSecretKey(key) && inner !== null && inner !== undefined ? REDACTED : redactValue(inner, seen);
  }
  return copy;
}
