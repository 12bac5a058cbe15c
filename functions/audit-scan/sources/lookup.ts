import {
  type CloudTrailClient,
  type Event,
  type LookupAttributeKey,
  LookupEventsCommand,
} from "@aws-sdk/client-cloudtrail";
import { describeError } from "../../../lib/errors.ts";
import { LookupSweepError, ScanSourceError } from "./errors.ts";
import {
  backoffMs,
  isThrottling,
  isTransient,
  type PacerClock,
  RequestPacer,
  sharedPacer,
  systemPacerClock,
} from "./pacer.ts";

/** The event sources the sweep reads: the secrets themselves, the keys behind them, and the trail. */
export const LOOKUP_EVENT_SOURCES = [
  "secretsmanager.amazonaws.com",
  "kms.amazonaws.com",
  "cloudtrail.amazonaws.com",
] as const;

/** LookupEvents' largest page. */
export const LOOKUP_PAGE_SIZE = 50;
const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const DAY_MS = 24 * 60 * MINUTE_MS;

/** Where one region and event source has got to: every event with an earlier time was processed. */
export interface LookupCheckpoint {
  processedUntilMs: number;
  /** The window size that last gave a handful of pages (the sweep adapts it to the event rate). */
  chunkMs?: number | undefined;
}

/** What the sweep keeps between invocations (the DynamoDB state table, or memory in tests and the CLI). */
export interface SweepStore {
  readCheckpoint(region: string, eventSource: string): Promise<LookupCheckpoint | undefined>;
  /** Never moves a checkpoint backwards. */
  writeCheckpoint(region: string, eventSource: string, checkpoint: LookupCheckpoint): Promise<void>;
  /** One sweep per region at a time: two would share, and overrun, one rate limit. */
  acquireLease(name: string, holder: string, expiresAtMs: number): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
  /** The ids among eventIds that an earlier sweep processed. */
  seenEvents(eventIds: readonly string[]): Promise<Set<string>>;
  markEvents(eventIds: readonly string[], expiresAtMs: number): Promise<void>;
}

export interface LookupSweepOptions {
  regions: readonly string[];
  eventSources?: readonly string[];
  /** Each sweep re-reads this much before its checkpoint: CloudTrail delivers events late. */
  overlapMs: number;
  /** LookupEvents' quota per account and region (2). */
  requestsPerSecond: number;
  /** How far back the very first sweep of a region and source starts. */
  initialLookbackMs?: number;
  /** The sweep starts no request when less than this is left before the Lambda deadline. */
  reserveMs?: number;
  /** Attempts for an error that is neither throttling nor permanent (5xx, timeouts). */
  maxAttempts?: number;
}

/** The records of one page, ready for the engine, and where they came from. */
export interface LookupBatch {
  region: string;
  eventSource: string;
  records: unknown[];
}

export interface LookupSweepDependencies {
  cloudTrail: (region: string) => CloudTrailClient;
  store: SweepStore;
  /** Runs the engine over a page's new records and publishes what it finds; throws to stop the source. */
  process: (batch: LookupBatch) => Promise<void>;
  remainingMs: () => number;
  /** Identifies this invocation as the holder of the regions' leases. */
  holder: string;
  clock?: PacerClock;
  onThrottle?: (region: string) => void;
  onSkipped?: (reason: string, region: string) => void;
  random?: () => number;
}

/** What happened to one region and event source. */
export interface LookupSourceOutcome {
  region: string;
  eventSource: string;
  /** Where the checkpoint stands now (undefined: nothing finished yet). */
  processedUntilMs: number | undefined;
  /** True when the sweep reached the present; false when it stopped for the deadline or an error. */
  complete: boolean;
  events: number;
  duplicates: number;
  pages: number;
  error?: string;
}

export interface LookupSweepResult {
  sources: LookupSourceOutcome[];
  requests: number;
  throttles: number;
  /** Regions skipped because another invocation held their lease. */
  busyRegions: string[];
}

interface SourceRun {
  region: string;
  eventSource: string;
  client: CloudTrailClient;
  pacer: RequestPacer;
  outcome: LookupSourceOutcome;
  /** Event ids processed by this sweep (chunks share their boundary second). */
  seen: Set<string>;
}

/** One page of LookupEvents' answer. */
export interface LookupPage {
  events: Event[];
  nextToken: string | undefined;
}

/**
 * One LookupEvents sweep: per region (one shared pacer for its event sources, so they use the 2
 * requests/s together and never more), from the checkpoint minus the overlap up to now, in windows
 * processed oldest first, 50 events a page. A window's checkpoint is written only once every page of it
 * was processed, so a sweep that stops (deadline, error) resumes from there next time. Events are
 * deduplicated on eventID within the sweep and against earlier sweeps.
 */
export async function runLookupSweep(
  options: LookupSweepOptions,
  deps: LookupSweepDependencies,
): Promise<LookupSweepResult> {
  const clock = deps.clock ?? systemPacerClock;
  const eventSources = options.eventSources ?? LOOKUP_EVENT_SOURCES;
  const result: LookupSweepResult = { sources: [], requests: 0, throttles: 0, busyRegions: [] };

  await Promise.all(
    options.regions.map(async (region) => {
      const leaseName = `lookup#${region}`;
      const leaseUntil = clock.now() + deps.remainingMs();
      if (!(await deps.store.acquireLease(leaseName, deps.holder, leaseUntil))) {
        result.busyRegions.push(region);
        return;
      }
      // An injected clock (tests) gets a pacer of its own; the real clock shares the container's.
      const pacer = deps.clock
        ? new RequestPacer(options.requestsPerSecond, clock)
        : sharedPacer(`lookup#${region}`, options.requestsPerSecond);
      const client = deps.cloudTrail(region);
      try {
        const outcomes = await Promise.all(
          eventSources.map((eventSource) => {
            const run: SourceRun = {
              region,
              eventSource,
              client,
              pacer,
              seen: new Set(),
              outcome: {
                region,
                eventSource,
                processedUntilMs: undefined,
                complete: false,
                events: 0,
                duplicates: 0,
                pages: 0,
              },
            };
            return sweepSource(run, options, deps, clock, result).then(() => run.outcome);
          }),
        );
        result.sources.push(...outcomes);
      } finally {
        await deps.store.releaseLease(leaseName, deps.holder);
      }
    }),
  );
  return result;
}

async function sweepSource(
  run: SourceRun,
  options: LookupSweepOptions,
  deps: LookupSweepDependencies,
  clock: PacerClock,
  result: LookupSweepResult,
): Promise<void> {
  const { region, eventSource, outcome } = run;
  const checkpoint = await deps.store.readCheckpoint(region, eventSource);
  outcome.processedUntilMs = checkpoint?.processedUntilMs;
  // Whole seconds: CloudTrail's times have second precision and LookupEvents' bounds are inclusive.
  const endMs = Math.floor(clock.now() / SECOND_MS) * SECOND_MS;
  const startMs = floorSecond(
    checkpoint
      ? checkpoint.processedUntilMs - options.overlapMs
      : endMs - (options.initialLookbackMs ?? options.overlapMs),
  );
  let chunkMs = checkpoint?.chunkMs ?? 15 * MINUTE_MS;
  try {
    for (let cursor = startMs; cursor < endMs; ) {
      const chunkEnd = Math.min(cursor + chunkMs, endMs);
      const pages = await sweepWindow(run, cursor, chunkEnd, options, deps, clock, result);
      // A window of a handful of pages keeps the work lost to a deadline small and the requests few.
      if (pages > 20) chunkMs = Math.max(SECOND_MS, floorSecond(chunkMs / 2));
      else if (pages <= 2) chunkMs = Math.min(DAY_MS, chunkMs * 2);
      if (outcome.processedUntilMs === undefined || chunkEnd > outcome.processedUntilMs) {
        await deps.store.writeCheckpoint(region, eventSource, { processedUntilMs: chunkEnd, chunkMs });
        outcome.processedUntilMs = chunkEnd;
      }
      cursor = chunkEnd;
    }
    outcome.complete = true;
  } catch (error) {
    // Near the deadline the sweep stops quietly; the checkpoint stays where it was.
    if (error instanceof DeadlineReachedError) return;
    outcome.error = new LookupSweepError(region, eventSource, describeError(error), { cause: error }).message;
  }
}

/** Reads one window [startMs, endMs] newest first, one page ahead of the processing; returns the pages. */
async function sweepWindow(
  run: SourceRun,
  startMs: number,
  endMs: number,
  options: LookupSweepOptions,
  deps: LookupSweepDependencies,
  clock: PacerClock,
  result: LookupSweepResult,
): Promise<number> {
  const fetchPage = (nextToken: string | undefined) =>
    lookupPage(run, { startMs, endMs, nextToken }, options, deps, clock, result);
  let pages = 0;
  let next: Promise<LookupPage> | undefined = fetchPage(undefined);
  while (next) {
    const page: LookupPage = await next;
    pages += 1;
    run.outcome.pages += 1;
    // The next request overlaps with processing this page: together they fit the 500 ms a request costs.
    next = page.nextToken === undefined ? undefined : fetchPage(page.nextToken);
    // A failed prefetch is reported by the await above on the next turn, not as an unhandled rejection.
    next?.catch(() => undefined);
    await processPage(run, page.events, options, deps, clock);
  }
  return pages;
}

async function processPage(
  run: SourceRun,
  events: readonly Event[],
  options: LookupSweepOptions,
  deps: LookupSweepDependencies,
  clock: PacerClock,
): Promise<void> {
  const fresh = events.filter((event) => event.EventId !== undefined && !run.seen.has(event.EventId));
  run.outcome.duplicates += events.length - fresh.length;
  const earlier = await deps.store.seenEvents(fresh.map((event) => event.EventId!));
  const unseen = fresh.filter((event) => !earlier.has(event.EventId!));
  run.outcome.duplicates += fresh.length - unseen.length;
  for (const event of fresh) run.seen.add(event.EventId!);
  if (unseen.length === 0) return;

  const records: unknown[] = [];
  for (const event of unseen) {
    const record = parseCloudTrailEvent(event);
    if (typeof record === "string") deps.onSkipped?.(record, run.region);
    else records.push(record);
  }
  if (records.length > 0) await deps.process({ region: run.region, eventSource: run.eventSource, records });
  run.outcome.events += unseen.length;
  // Remembered for longer than any later sweep's overlap can reach back, even after a stalled week.
  const keepUntil = clock.now() + options.overlapMs + 7 * DAY_MS;
  await deps.store.markEvents(
    unseen.map((event) => event.EventId!),
    keepUntil,
  );
}

/** The CloudTrail record inside a LookupEvents event, or the reason it cannot be read. */
export function parseCloudTrailEvent(event: Event): unknown {
  if (typeof event.CloudTrailEvent !== "string") return `event ${event.EventId} has no CloudTrailEvent`;
  try {
    const record: unknown = JSON.parse(event.CloudTrailEvent);
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      return `event ${event.EventId}: CloudTrailEvent is not a JSON object`;
    }
    return record;
  } catch {
    return `event ${event.EventId}: CloudTrailEvent is not JSON`;
  }
}

/** One LookupEvents query: an attribute, an inclusive window, and the page to continue from. */
export interface LookupQuery {
  attribute: { key: LookupAttributeKey; value: string };
  startMs: number;
  endMs: number;
  nextToken?: string | undefined;
}

/** How one paced call behaves: when to give up, and whom to tell about throttling. */
export interface PacedLookupOptions {
  pacer: RequestPacer;
  requestsPerSecond: number;
  clock?: PacerClock;
  /** Checked before every attempt; true stops the call with DeadlineReachedError. */
  stop?: () => boolean;
  maxAttempts?: number;
  onRequest?: () => void;
  onThrottle?: () => void;
  random?: () => number;
}

/** Thrown by a paced call that was told to stop (the Lambda deadline is near). */
export class DeadlineReachedError extends ScanSourceError {
  constructor() {
    super("stopped before the deadline");
    this.name = "DeadlineReachedError";
  }
}

/**
 * One LookupEvents page through the shared pacer: throttling pauses the pacer and retries (never
 * surfaces); 5xx and timeouts retry a few times with backoff; anything else is thrown.
 */
export async function lookupEventsPage(
  client: CloudTrailClient,
  query: LookupQuery,
  options: PacedLookupOptions,
): Promise<LookupPage> {
  const clock = options.clock ?? systemPacerClock;
  const maxAttempts = options.maxAttempts ?? 5;
  let failures = 0;
  for (let throttles = 0; ; ) {
    if (options.stop?.()) throw new DeadlineReachedError();
    await options.pacer.take();
    options.onRequest?.();
    try {
      const output = await client.send(
        new LookupEventsCommand({
          LookupAttributes: [{ AttributeKey: query.attribute.key, AttributeValue: query.attribute.value }],
          StartTime: new Date(query.startMs),
          EndTime: new Date(query.endMs),
          MaxResults: LOOKUP_PAGE_SIZE,
          NextToken: query.nextToken,
        }),
      );
      return { events: output.Events ?? [], nextToken: output.NextToken || undefined };
    } catch (error) {
      if (isThrottling(error)) {
        throttles += 1;
        options.onThrottle?.();
        // Everyone sharing the region's quota waits, not only this caller.
        options.pacer.pause(
          1000 / options.requestsPerSecond + backoffMs(throttles, 250, 5_000, options.random),
        );
        continue;
      }
      failures += 1;
      if (!isTransient(error) || failures >= maxAttempts) {
        throw new LookupFailedError(failures, error);
      }
      await clock.sleep(backoffMs(failures, 200, 5_000, options.random));
    }
  }
}

/** Thrown when LookupEvents keeps failing with something other than throttling. */
export class LookupFailedError extends ScanSourceError {
  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`LookupEvents failed after ${attempts} attempt(s): ${describeError(cause)}`, { cause });
    this.name = "LookupFailedError";
  }
}

/** The sweep's paced call for one source's window. */
function lookupPage(
  run: SourceRun,
  window: { startMs: number; endMs: number; nextToken: string | undefined },
  options: LookupSweepOptions,
  deps: LookupSweepDependencies,
  clock: PacerClock,
  result: LookupSweepResult,
): Promise<LookupPage> {
  const reserveMs = options.reserveMs ?? 10_000;
  return lookupEventsPage(
    run.client,
    { attribute: { key: "EventSource", value: run.eventSource }, ...window },
    {
      pacer: run.pacer,
      requestsPerSecond: options.requestsPerSecond,
      clock,
      stop: () => deps.remainingMs() < reserveMs,
      maxAttempts: options.maxAttempts,
      onRequest: () => {
        result.requests += 1;
      },
      onThrottle: () => {
        result.throttles += 1;
        deps.onThrottle?.(run.region);
      },
      random: deps.random,
    },
  );
}

function floorSecond(ms: number): number {
  return Math.floor(ms / SECOND_MS) * SECOND_MS;
}

/** The sweep's store in memory: the CLI and tests (the Lambda uses the state table). */
export class MemorySweepStore implements SweepStore {
  readonly checkpoints = new Map<string, LookupCheckpoint>();
  readonly #seen = new Map<string, number>();
  readonly #leases = new Map<string, { holder: string; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async readCheckpoint(region: string, eventSource: string): Promise<LookupCheckpoint | undefined> {
    return this.checkpoints.get(`${region}#${eventSource}`);
  }

  async writeCheckpoint(region: string, eventSource: string, checkpoint: LookupCheckpoint): Promise<void> {
    const key = `${region}#${eventSource}`;
    const current = this.checkpoints.get(key);
    if (!current || current.processedUntilMs <= checkpoint.processedUntilMs)
      this.checkpoints.set(key, checkpoint);
  }

  async acquireLease(name: string, holder: string, expiresAtMs: number): Promise<boolean> {
    const lease = this.#leases.get(name);
    if (lease && lease.holder !== holder && lease.until >= this.now()) return false;
    this.#leases.set(name, { holder, until: expiresAtMs });
    return true;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    if (this.#leases.get(name)?.holder === holder) this.#leases.delete(name);
  }

  async seenEvents(eventIds: readonly string[]): Promise<Set<string>> {
    const now = this.now();
    return new Set(eventIds.filter((id) => (this.#seen.get(id) ?? Number.NEGATIVE_INFINITY) >= now));
  }

  async markEvents(eventIds: readonly string[], expiresAtMs: number): Promise<void> {
    for (const id of eventIds) this.#seen.set(id, expiresAtMs);
  }
}
