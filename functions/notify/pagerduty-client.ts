import { describeError } from "../../lib/errors.ts";
import { redactText } from "../../lib/redaction.ts";
import type { RetryPolicy } from "./config.ts";
import { DeliveryUnavailableError, PagerDutyConfigurationError, PagerDutyRejectedError } from "./errors.ts";
import { truncate } from "./text.ts";

/** Time as the retry loop sees it; tests pass one whose `sleep` returns at once. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** A number in [0, 1) for jitter. */
  random(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

export interface PostOptions {
  readonly fetch: typeof fetch;
  readonly clock: Clock;
  readonly retry: RetryPolicy;
  /** Epoch milliseconds after which no new attempt or wait starts. */
  readonly deadline: number;
  /** Told before each wait, for the log. */
  readonly onRetry?: (retry: { attempt: number; delayMs: number; reason: string }) => void;
}

export interface PostResult {
  readonly status: number;
  readonly attempts: number;
  readonly body: string;
}

// Kept in logs and errors; PagerDuty's error bodies are short JSON ({"status","message","errors"}).
const MAX_LOGGED_BODY_CHARS = 4_096;

/** Full delay before retry number `attempt` (1-based): exponential, capped, with "equal jitter". */
export function backoffDelay(attempt: number, retry: RetryPolicy, random: number): number {
  const exponential = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + (random * exponential) / 2);
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * POSTs one JSON event to the Events API. Retries 408, 429, 5xx, network errors and timeouts with jittered
 * exponential backoff (honouring Retry-After) while the deadline allows, then throws
 * DeliveryUnavailableError. A 400/413/422 throws PagerDutyRejectedError at once, any other 4xx
 * PagerDutyConfigurationError: neither is retried.
 */
export async function postPagerDutyEvent(
  url: string,
  event: object,
  options: PostOptions,
): Promise<PostResult> {
  const { clock, retry, deadline } = options;
  const body = JSON.stringify(event);
  let lastReason = "no attempt started before the deadline";
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - clock.now();
    if (remaining <= 0) {
      throw new DeliveryUnavailableError(
        `PagerDuty not reached before the invocation's deadline after ${attempt - 1} attempt(s); last: ${lastReason}`,
        attempt - 1,
        { cause: lastError },
      );
    }
    let waitAtLeast = 0;
    try {
      const response = await options.fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body,
        signal: AbortSignal.timeout(Math.min(retry.requestTimeoutMs, remaining)),
      });
      const text = await response.text();
      if (response.ok) return { status: response.status, attempts: attempt, body: text };
      const status = response.status;
      // Redacted before it is cut: a cut through an echoed key would leave a prefix redaction misses.
      const kept = () => truncate(redactText(text), MAX_LOGGED_BODY_CHARS);
      if (status === 400 || status === 413 || status === 422) {
        throw new PagerDutyRejectedError(status, kept());
      }
      if (status !== 408 && status !== 429 && status < 500) {
        throw new PagerDutyConfigurationError(status, kept());
      }
      lastReason = `HTTP ${status}`;
      lastError = undefined;
      waitAtLeast = retryAfterMs(response.headers.get("retry-after")) ?? 0;
    } catch (error) {
      if (error instanceof PagerDutyRejectedError || error instanceof PagerDutyConfigurationError)
        throw error;
      lastReason = `network error: ${describeError(error)}${
        error instanceof Error && error.cause ? ` (${describeError(error.cause)})` : ""
      }`;
      lastError = error;
    }
    const delayMs = Math.max(waitAtLeast, backoffDelay(attempt, retry, clock.random()));
    if (clock.now() + delayMs >= deadline) {
      throw new DeliveryUnavailableError(
        `PagerDuty still failing after ${attempt} attempt(s) and no time left to retry; last: ${lastReason}`,
        attempt,
        { cause: lastError },
      );
    }
    options.onRetry?.({ attempt, delayMs, reason: lastReason });
    await clock.sleep(delayMs);
  }
}
