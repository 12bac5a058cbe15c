/** Time as the pacer sees it, injectable so tests use fake timers and never sleep. */
export interface PacerClock {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/** The real clock. */
export const systemPacerClock: PacerClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Spaces requests evenly at `perSecond` (no bursts), first come first served. One bucket is shared by
 * every caller of one quota (LookupEvents: 2 requests/s per account and region, whatever the event
 * source), so together they use the whole rate and never more. A throttling answer pauses everyone.
 */
export class RequestPacer {
  readonly #intervalMs: number;
  readonly #clock: PacerClock;
  #nextAt = Number.NEGATIVE_INFINITY;
  #blockedUntil = Number.NEGATIVE_INFINITY;
  #granted = 0;

  constructor(perSecond: number, clock: PacerClock = systemPacerClock) {
    if (!(perSecond > 0)) throw new RangeError(`requests per second must be positive, got ${perSecond}`);
    this.#intervalMs = 1000 / perSecond;
    this.#clock = clock;
  }

  /** Requests let through so far. */
  get granted(): number {
    return this.#granted;
  }

  /** Resolves when the caller may send one request. */
  async take(): Promise<void> {
    for (;;) {
      const now = this.#clock.now();
      const at = Math.max(now, this.#nextAt, this.#blockedUntil);
      // The slot is reserved before waiting, so concurrent callers queue in order.
      this.#nextAt = at + this.#intervalMs;
      if (at > now) await this.#clock.sleep(at - now);
      // A throttle seen while this caller waited moved the earliest time: queue again behind it.
      if (this.#clock.now() >= this.#blockedUntil) {
        this.#granted += 1;
        return;
      }
    }
  }

  /** No request leaves before `ms` from now (after a throttling answer). */
  pause(ms: number): void {
    this.#blockedUntil = Math.max(this.#blockedUntil, this.#clock.now() + ms);
  }
}

// One pacer per quota for the life of the container: a sweep that follows another in a warm container
// (the next schedule, or a resume after a deadline stop) keeps the spacing instead of starting afresh.
const sharedPacers = new Map<string, RequestPacer>();

/** The container's pacer for one quota (e.g. `lookup#us-east-1`) at `perSecond`, on the real clock. */
export function sharedPacer(quota: string, perSecond: number): RequestPacer {
  const key = `${quota}@${perSecond}`;
  let pacer = sharedPacers.get(key);
  if (!pacer) {
    pacer = new RequestPacer(perSecond);
    sharedPacers.set(key, pacer);
  }
  return pacer;
}

const THROTTLING_CODES = new Set([
  "ThrottlingException",
  "Throttling",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ProvisionedThroughputExceededException",
]);

/** True when an AWS SDK error says the caller went too fast. */
export function isThrottling(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const candidate = error as { name?: unknown; $retryable?: { throttling?: boolean }; $metadata?: unknown };
  const status = (candidate.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode;
  return (
    (typeof candidate.name === "string" && THROTTLING_CODES.has(candidate.name)) ||
    candidate.$retryable?.throttling === true ||
    status === 429
  );
}

/** True for errors worth another attempt: throttling, 5xx, timeouts and dropped connections. */
export function isTransient(error: unknown): boolean {
  if (isThrottling(error)) return true;
  if (typeof error !== "object" || error === null) return false;
  const candidate = error as { name?: unknown; code?: unknown; $fault?: unknown; $metadata?: unknown };
  const status = (candidate.$metadata as { httpStatusCode?: number } | undefined)?.httpStatusCode;
  if (candidate.$fault === "server" || (status !== undefined && status >= 500)) return true;
  const name = String(candidate.name ?? "");
  const code = String(candidate.code ?? "");
  return (
    name === "TimeoutError" ||
    name === "RequestTimeout" ||
    ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"].includes(code)
  );
}

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1)));
}
