import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { registerSecret } from "../../lib/redaction.ts";
import { RoutingKeyError } from "./errors.ts";

/** Reads a PagerDuty integration key, cached; the key is registered with redaction before it is returned. */
export interface RoutingKeySource {
  /** `abortSignal` bounds a Secrets Manager read (the invocation's deadline); a cached key needs none. */
  get(abortSignal?: AbortSignal): Promise<string>;
}

export interface RoutingKeySourceOptions {
  readonly secretId: string;
  readonly cacheMs: number;
  readonly now?: () => number;
  /** Told when a refresh failed and the previous key is used instead. */
  readonly onStaleKey?: (error: unknown) => void;
}

/** Accepts the integration key as plain text or as JSON `{"routing_key": "..."}`. */
export function parseRoutingKey(secretId: string, secretString: string | undefined): string {
  const text = secretString?.trim();
  if (!text) throw new RoutingKeyError(secretId, "has no SecretString");
  if (!text.startsWith("{")) {
    if (/\s/.test(text)) throw new RoutingKeyError(secretId, "plain-text value contains whitespace");
    return text;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RoutingKeyError(secretId, "looks like JSON but does not parse");
  }
  const key = (json as { routing_key?: unknown }).routing_key;
  if (typeof key !== "string" || key.trim() === "") {
    throw new RoutingKeyError(secretId, 'JSON has no non-empty string "routing_key"');
  }
  return key.trim();
}

/**
 * A cached reader of one routing-key secret. Concurrent callers share one GetSecretValue; after the cache
 * expires a failed refresh falls back to the last good key, because paging with a key that worked minutes
 * ago beats not paging at all.
 */
export function createRoutingKeySource(
  client: SecretsManagerClient,
  { secretId, cacheMs, now = Date.now, onStaleKey }: RoutingKeySourceOptions,
): RoutingKeySource {
  let cached: { key: string; expiresAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  const refresh = async (abortSignal: AbortSignal | undefined): Promise<string> => {
    let secretString: string | undefined;
    try {
      const output = await client.send(
        new GetSecretValueCommand({ SecretId: secretId }),
        abortSignal ? { abortSignal } : {},
      );
      secretString = output.SecretString;
    } catch (error) {
      throw new RoutingKeyError(secretId, "could not be read", { cause: error });
    }
    registerSecret(secretString);
    const key = parseRoutingKey(secretId, secretString);
    registerSecret(key);
    cached = { key, expiresAt: now() + cacheMs };
    return key;
  };

  return {
    async get(abortSignal) {
      if (cached && now() < cached.expiresAt) return cached.key;
      inFlight ??= refresh(abortSignal).finally(() => {
        inFlight = undefined;
      });
      try {
        return await inFlight;
      } catch (error) {
        if (cached) {
          // Try Secrets Manager again in a minute rather than on every call.
          cached.expiresAt = now() + Math.min(cacheMs, 60_000);
          onStaleKey?.(error);
          return cached.key;
        }
        throw error;
      }
    },
  };
}
