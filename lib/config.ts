import { ConfigError } from "./errors.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** Typed readers of environment variables; each failure names the variable and what was wrong. */
export interface EnvReader {
  string(name: string): string;
  string(name: string, fallback: string): string;
  optionalString(name: string): string | undefined;
  integer(name: string, options?: { fallback?: number; min?: number; max?: number }): number;
  boolean(name: string, fallback: boolean): boolean;
  url(name: string, fallback?: string): string;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback?: T): T;
  arn(name: string, service?: string): string;
  optionalArn(name: string, service?: string): string | undefined;
  list(name: string, fallback?: readonly string[]): string[];
}

const ARN = /^arn:aws[a-z-]*:([a-z0-9-]+):[a-z0-9-]*:(\d{12})?:.+$/;

/** Builds an EnvReader over `env` (process.env by default). */
export function envReader(env: Env = process.env): EnvReader {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const required = (name: string, fallback?: string): string => {
    const value = raw(name) ?? fallback;
    if (value === undefined) throw new ConfigError(name, "is required but not set");
    return value;
  };
  const checkArn = (name: string, value: string, service?: string): string => {
    const match = ARN.exec(value);
    if (!match) throw new ConfigError(name, `expected an ARN (arn:aws:...), got "${value}"`);
    if (service && match[1] !== service) {
      throw new ConfigError(name, `expected an ARN of service "${service}", got one of "${match[1]}"`);
    }
    return value;
  };

  return {
    string: (name: string, fallback?: string) => required(name, fallback),
    optionalString: raw,
    integer(name, { fallback, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}) {
      const text = raw(name);
      if (text === undefined) {
        if (fallback === undefined) throw new ConfigError(name, "is required but not set");
        return fallback;
      }
      // Decimal digits only: Number() would also take "0x20", "1e3" and "32.0".
      const value = /^[-+]?\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(value)) throw new ConfigError(name, `expected an integer, got "${text}"`);
      if (value < min || value > max) {
        throw new ConfigError(name, `expected an integer from ${min} to ${max}, got ${value}`);
      }
      return value;
    },
    boolean(name, fallback) {
      const text = raw(name)?.toLowerCase();
      if (text === undefined) return fallback;
      if (["1", "true", "yes", "on"].includes(text)) return true;
      if (["0", "false", "no", "off"].includes(text)) return false;
      throw new ConfigError(name, `expected true or false, got "${text}"`);
    },
    url(name, fallback) {
      const value = required(name, fallback);
      try {
        const url = new URL(value);
        if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not http(s)");
      } catch {
        throw new ConfigError(name, `expected an http(s) URL, got "${value}"`);
      }
      return value;
    },
    oneOf(name, allowed, fallback) {
      const value = raw(name) ?? fallback;
      if (value === undefined) {
        throw new ConfigError(name, `is required but not set (one of: ${allowed.join(", ")})`);
      }
      if (!(allowed as readonly string[]).includes(value)) {
        throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got "${value}"`);
      }
      return value as (typeof allowed)[number];
    },
    arn: (name, service) => checkArn(name, required(name), service),
    optionalArn(name, service) {
      const value = raw(name);
      return value === undefined ? undefined : checkArn(name, value, service);
    },
    list(name, fallback = []) {
      const text = raw(name);
      if (text === undefined) return [...fallback];
      return text
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
    },
  };
}
