/**
 * The one place that removes secret material from anything Vigil writes out: log lines, error
 * messages, findings and notifications. Values are registered as soon as they are read or generated;
 * keys that always carry secrets are blanked whatever their value.
 */

export const REDACTED = "[REDACTED]";

// Bounds on what redact() walks: it recurses, and a hostile input (a finding nesting thousands of levels,
// a huge array) must cost a marker in the output, never a stack overflow or minutes of CPU.
export const MAX_REDACT_DEPTH = 64;
export const MAX_REDACT_NODES = 100_000;
export const TOO_DEEP = `[TRUNCATED: nested deeper than ${MAX_REDACT_DEPTH} levels]`;
export const TOO_LARGE = `[TRUNCATED: more than ${MAX_REDACT_NODES} values]`;

// Shorter values would blank ordinary words; IBKR's minimum password length is 6.
const MIN_SECRET_LENGTH = 6;

// Compared after normaliseKey (lower case, letters only): "api_key", "x-api-key" and "ApiKey" all match.
const SECRET_KEYS = new Set([
  "password",
  "passwd",
  "pwd",
  "passphrase",
  // Secrets Manager: GetSecretValue / PutSecretValue / CreateSecret / UpdateSecret / BatchGetSecretValue
  // (RandomPassword of GetRandomPassword ends with "password").
  "secretstring",
  "secretbinary",
  "secretvalue",
  // KMS Decrypt / GenerateDataKey.
  "plaintext",
  // STS and IAM credentials.
  "secretaccesskey",
  "sessiontoken",
  "securitytoken",
  "xamzsecuritytoken",
  // The raw body the SDK attaches to a response it could not parse (a GetSecretValue answer included).
  "responsebodytext",
  "routingkey",
  "integrationkey",
  "apikey",
  "xapikey",
  "accesstoken",
  "refreshtoken",
  "idtoken",
  "authtoken",
  "bearertoken",
  "cookie",
  "setcookie",
  "connectionstring",
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
  return (
    SECRET_KEYS.has(normalised) || normalised.endsWith("password") || normalised.endsWith("authorization")
  );
}

/** Registers a secret value so that it is removed from every later output, in raw and JSON-escaped form. */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== "string" || value.length < MIN_SECRET_LENGTH) return;
  // Raw, as inside JSON text, as inside JSON text that is itself a JSON string (a SecretString in a
  // logged request body), and URL-encoded.
  const escaped = JSON.stringify(value).slice(1, -1);
  const forms = [value, escaped, JSON.stringify(escaped).slice(1, -1)];
  try {
    forms.push(encodeURIComponent(value));
  } catch {
    // A lone surrogate has no URL-encoded form (encodeURIComponent throws), so none can leak.
  }
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

// The password of a URL or connection string (scheme://user:password@host), registered or not. The scheme's
// letters are spelled in both cases rather than with the i flag: the same matches (without the u flag, i
// maps no other character onto A-Z or a-z), but compiling an i regex makes V8 load ICU's case-folding
// data, about 2M instructions on the first log line of a cold start.
const URL_PASSWORD = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s/@]+@/g;

/** Removes every registered secret value, and any password in a URL, from a string. */
export function redactText(text: string): string {
  const regex = secretPattern();
  const withoutSecrets = regex ? text.replace(regex, REDACTED) : text;
  return withoutSecrets.replace(URL_PASSWORD, `$1${REDACTED}@`);
}

/**
 * Returns a deep copy of `value` made only of plain data, as JSON.stringify would see it, with registered
 * secrets removed from every string (keys included), secret-bearing keys blanked, binary data replaced,
 * and errors turned into plain objects (name, message, stack, cause, own fields) that are redacted too.
 * Objects nested deeper than MAX_REDACT_DEPTH, and values past the first MAX_REDACT_NODES, become markers.
 */
export function redact<T>(value: T): T {
  return redactValue(value, { seen: new WeakMap(), nodes: 0 }, 0) as T;
}

/** One redact() call's walk: the copies made so far (for cycles) and how many values it has visited. */
interface Walk {
  readonly seen: WeakMap<object, unknown>;
  nodes: number;
}

function redactValue(value: unknown, walk: Walk, depth: number): unknown {
  if (++walk.nodes > MAX_REDACT_NODES) return TOO_LARGE;
  if (typeof value === "string") return redactText(value);
  // A function (an own toJSON, say) could hand JSON.stringify anything later: drop it, as JSON does.
  if (typeof value === "function" || typeof value === "symbol") return undefined;
  if (value === null || typeof value !== "object") return value;
  const { seen } = walk;
  if (seen.has(value)) return seen.get(value);
  if (value instanceof Date) return value;
  if (depth >= MAX_REDACT_DEPTH) return TOO_DEEP;
  const inner = depth + 1;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return REDACTED;
  if (value instanceof Error) return redactError(value, walk, inner);
  if (value instanceof URL) return redactText(value.href);
  if (Array.isArray(value) || value instanceof Set) {
    const copy: unknown[] = [];
    seen.set(value, copy);
    for (const item of value) {
      if (walk.nodes >= MAX_REDACT_NODES) {
        copy.push(TOO_LARGE);
        break;
      }
      copy.push(redactValue(item, walk, inner));
    }
    return copy;
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") {
    // JSON.stringify prints what toJSON returns, not the object's own fields.
    seen.set(value, REDACTED);
    try {
      return redactValue(toJSON.call(value), walk, inner);
    } catch {
      return REDACTED;
    }
  }
  const copy: Record<string, unknown> = {};
  seen.set(value, copy);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  for (const [key, field] of entries) {
    if (walk.nodes >= MAX_REDACT_NODES) {
      copy["[TRUNCATED]"] = TOO_LARGE;
      break;
    }
    copyField(copy, String(key), field, walk, inner);
  }
  return copy;
}

function redactError(error: Error, walk: Walk, depth: number): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  walk.seen.set(error, plain);
  plain.name = redactText(String(error.name));
  plain.message = redactText(String(error.message));
  if (error.stack) plain.stack = redactText(error.stack);
  for (const [key, field] of Object.entries(error)) copyField(plain, key, field, walk, depth);
  if (error.cause !== undefined) plain.cause = redactValue(error.cause, walk, depth);
  if (error instanceof AggregateError) plain.errors = redactValue(error.errors, walk, depth);
  return plain;
}

/** Copies one field into `target`: its key redacted too, its value blanked when the key names a secret. */
function copyField(target: Record<string, unknown>, key: string, value: unknown, walk: Walk, depth: number) {
  target[redactText(key)] =
    isSecretKey(key) && value !== null && value !== undefined ? REDACTED : redactValue(value, walk, depth);
}
