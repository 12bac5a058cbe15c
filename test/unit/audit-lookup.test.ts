import {
  CloudTrailClient,
  type Event,
  LookupEventsCommand,
  type LookupEventsCommandInput,
} from "@aws-sdk/client-cloudtrail";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type LookupBatch,
  MemorySweepStore,
  parseCloudTrailEvent,
  runLookupSweep,
} from "../../functions/audit-scan/sources/lookup.ts";
import {
  type PacerClock,
  RequestPacer,
  sharedPacer,
  systemPacerClock,
} from "../../functions/audit-scan/sources/pacer.ts";

const REGION = "us-east-1";
const SM = "secretsmanager.amazonaws.com";
const START = Date.parse("2026-12-01T12:00:00Z");
const MINUTE = 60_000;
const cloudTrail = mockClient(CloudTrailClient);

/** Real timers would make these tests wait; fake ones are advanced until the sweep settles. */
const clock = systemPacerClock;
async function settle<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  const watched = promise.finally(() => {
    done = true;
  });
  while (!done) await vi.advanceTimersToNextTimerAsync();
  return watched;
}
const setNow = (ms: number) => vi.setSystemTime(ms);

interface FakeEvent {
  id: string;
  timeMs: number;
  source?: string;
  body?: string;
}

/** LookupEvents over `events`: one attribute, inclusive window, newest first, offset tokens. */
function serveLookups(events: () => FakeEvent[], clock: PacerClock, requestTimes: number[]) {
  const fake = (input: LookupEventsCommandInput) => {
    requestTimes.push(clock.now());
    const source = input.LookupAttributes?.[0]?.AttributeValue;
    const start = (input.StartTime as Date).getTime();
    const end = (input.EndTime as Date).getTime();
    const matching = events()
      .filter((event) => (event.source ?? SM) === source && event.timeMs >= start && event.timeMs <= end)
      .sort((a, b) => b.timeMs - a.timeMs);
    const offset = input.NextToken ? Number(input.NextToken) : 0;
    const size = input.MaxResults ?? 50;
    const page = matching.slice(offset, offset + size);
    const lookupEvents: Event[] = page.map((event) => ({
      EventId: event.id,
      EventTime: new Date(event.timeMs),
      CloudTrailEvent: event.body ?? JSON.stringify({ eventID: event.id, eventSource: source }),
    }));
    return {
      Events: lookupEvents,
      NextToken: offset + size < matching.length ? String(offset + size) : undefined,
    };
  };
  cloudTrail.on(LookupEventsCommand).callsFake(fake);
  return fake;
}

function sweepDeps(
  clock: PacerClock,
  store: MemorySweepStore,
  processed: LookupBatch[],
  remaining = () => 600_000,
) {
  return {
    cloudTrail: () => new CloudTrailClient({ region: REGION }),
    store,
    process: async (batch: LookupBatch) => {
      processed.push(batch);
    },
    remainingMs: remaining,
    holder: "req-1",
    clock,
    random: () => 0.5,
  };
}

const options = { regions: [REGION], eventSources: [SM], overlapMs: 15 * MINUTE, requestsPerSecond: 2 };
const idsOf = (batches: LookupBatch[]) =>
  batches.flatMap((batch) => batch.records.map((record) => (record as { eventID: string }).eventID));

beforeEach(() => {
  cloudTrail.reset();
  vi.useFakeTimers({ now: START });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("RequestPacer", () => {
  it("spaces requests evenly at the rate, also when callers arrive together", async () => {
    const pacer = new RequestPacer(2, clock);
    const times: number[] = [];

    await settle(
      Promise.all([1, 2, 3, 4].map(() => pacer.take().then(() => times.push(clock.now() - START)))),
    );

    expect(times).toEqual([0, 500, 1000, 1500]);
  });

  it("lets nothing through during a pause", async () => {
    const pacer = new RequestPacer(2, clock);
    await pacer.take();

    pacer.pause(3_000);
    await settle(pacer.take());

    expect(clock.now() - START).toBe(3_000);
  });
});

describe("sharedPacer", () => {
  it("hands every sweep of one quota in a container the same pacer, so back-to-back sweeps keep the spacing", () => {
    expect(sharedPacer("lookup#eu-west-1", 2)).toBe(sharedPacer("lookup#eu-west-1", 2));
  });

  it("keeps quotas (regions) and rates apart", () => {
    expect(sharedPacer("lookup#eu-west-1", 2)).not.toBe(sharedPacer("lookup#eu-west-2", 2));
    expect(sharedPacer("lookup#eu-west-1", 2)).not.toBe(sharedPacer("lookup#eu-west-1", 1));
  });
});

describe("parseCloudTrailEvent", () => {
  it("returns the record inside CloudTrailEvent", () => {
    expect(parseCloudTrailEvent({ EventId: "e1", CloudTrailEvent: '{"eventID":"e1"}' })).toEqual({
      eventID: "e1",
    });
  });

  it("names the event and the problem when the record cannot be read", () => {
    expect(parseCloudTrailEvent({ EventId: "e1", CloudTrailEvent: "{" })).toBe(
      "event e1: CloudTrailEvent is not JSON",
    );
    expect(parseCloudTrailEvent({ EventId: "e2", CloudTrailEvent: "[1]" })).toBe(
      "event e2: CloudTrailEvent is not a JSON object",
    );
    expect(parseCloudTrailEvent({ EventId: "e3" })).toBe("event e3 has no CloudTrailEvent");
  });
});

describe("runLookupSweep", () => {
  it("reads every page of 50 with the EventSource attribute and hands the records over once", async () => {
    const events = Array.from({ length: 120 }, (_, index) => ({
      id: `e${index}`,
      timeMs: START - index * 1000,
    }));
    const requestTimes: number[] = [];
    serveLookups(() => events, clock, requestTimes);
    const processed: LookupBatch[] = [];
    const store = new MemorySweepStore(clock.now);

    const result = await settle(runLookupSweep(options, sweepDeps(clock, store, processed)));

    expect(idsOf(processed).sort()).toEqual(events.map((event) => event.id).sort());
    expect(result.sources[0]).toMatchObject({ complete: true, events: 120, processedUntilMs: START });
    expect(cloudTrail).toHaveReceivedCommandWith(LookupEventsCommand, {
      LookupAttributes: [{ AttributeKey: "EventSource", AttributeValue: SM }],
      MaxResults: 50,
    });
  });

  it("never sends two requests less than 500 ms apart, across event sources of one region", async () => {
    const events = ["a", "b", "c"].flatMap((source) =>
      Array.from({ length: 150 }, (_, index) => ({
        id: `${source}${index}`,
        timeMs: START - index * 1000,
        source,
      })),
    );
    const requestTimes: number[] = [];
    serveLookups(() => events, clock, requestTimes);

    const result = await settle(
      runLookupSweep(
        { ...options, eventSources: ["a", "b", "c"] },
        sweepDeps(clock, new MemorySweepStore(clock.now), []),
      ),
    );

    const gaps = requestTimes.slice(1).map((time, index) => time - requestTimes[index]!);
    expect(result.requests).toBe(requestTimes.length);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(500);
  });

  it("absorbs throttling: waits, retries, and reports no error", async () => {
    const requestTimes: number[] = [];
    const fake = serveLookups(() => [{ id: "e1", timeMs: START - 1000 }], clock, requestTimes);
    cloudTrail
      .on(LookupEventsCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }))
      .callsFake(fake);
    const throttled: string[] = [];
    const processed: LookupBatch[] = [];

    const result = await settle(
      runLookupSweep(options, {
        ...sweepDeps(clock, new MemorySweepStore(clock.now), processed),
        onThrottle: (region) => throttled.push(region),
      }),
    );

    expect(result.throttles).toBe(1);
    expect(throttled).toEqual([REGION]);
    expect(result.sources[0]?.error).toBeUndefined();
    expect(idsOf(processed)).toEqual(["e1"]);
  });

  it("skips events an earlier sweep processed, and those repeated within the sweep", async () => {
    const events = [
      { id: "old", timeMs: START - 10 * MINUTE },
      { id: "new", timeMs: START - MINUTE },
    ];
    serveLookups(() => events, clock, []);
    const store = new MemorySweepStore(clock.now);
    await store.markEvents(["old"], START + 86_400_000);
    const processed: LookupBatch[] = [];

    const result = await settle(runLookupSweep(options, sweepDeps(clock, store, processed)));

    expect(idsOf(processed)).toEqual(["new"]);
    expect(result.sources[0]?.duplicates).toBe(1);
  });

  it("resumes from its checkpoint minus the overlap and picks up an event that arrived late", async () => {
    const events: FakeEvent[] = [{ id: "on-time", timeMs: START - 2 * MINUTE }];
    serveLookups(() => events, clock, []);
    const store = new MemorySweepStore(clock.now);
    const processed: LookupBatch[] = [];
    await settle(runLookupSweep(options, sweepDeps(clock, store, processed)));

    // Ten minutes later, CloudTrail delivers an event that happened before the first sweep's end.
    setNow(START + 10 * MINUTE);
    events.push({ id: "late", timeMs: START - MINUTE }, { id: "fresh", timeMs: START + 5 * MINUTE });
    await settle(runLookupSweep(options, sweepDeps(clock, store, processed)));

    expect(idsOf(processed).sort()).toEqual(["fresh", "late", "on-time"]);
    expect(store.checkpoints.get(`${REGION}#${SM}`)?.processedUntilMs).toBe(START + 10 * MINUTE);
  });

  it("stops before the deadline without moving the checkpoint past the unfinished window", async () => {
    const events = Array.from({ length: 200 }, (_, index) => ({
      id: `e${index}`,
      timeMs: START - 1000 - index,
    }));
    serveLookups(() => events, clock, []);
    const store = new MemorySweepStore(clock.now);
    await store.writeCheckpoint(REGION, SM, { processedUntilMs: START - 20 * MINUTE, chunkMs: 60 * MINUTE });
    let remaining = 60_000;
    const processed: LookupBatch[] = [];

    const result = await settle(
      runLookupSweep(options, {
        ...sweepDeps(clock, store, processed, () => remaining),
        process: async (batch: LookupBatch) => {
          processed.push(batch);
          remaining = 5_000;
        },
      }),
    );

    expect(result.sources[0]).toMatchObject({ complete: false, processedUntilMs: START - 20 * MINUTE });
    expect(result.sources[0]?.error).toBeUndefined();
    expect(store.checkpoints.get(`${REGION}#${SM}`)?.processedUntilMs).toBe(START - 20 * MINUTE);
  });

  it("keeps the checkpoint and reports the error when processing a page fails", async () => {
    serveLookups(() => [{ id: "e1", timeMs: START - 1000 }], clock, []);
    const store = new MemorySweepStore(clock.now);

    const result = await settle(
      runLookupSweep(options, {
        ...sweepDeps(clock, store, []),
        process: async () => {
          throw new Error("findings queue unreachable");
        },
      }),
    );

    expect(result.sources[0]?.error).toContain("findings queue unreachable");
    expect(store.checkpoints.size).toBe(0);
    expect(await store.seenEvents(["e1"])).toEqual(new Set());
  });

  it("gives up on a source after repeated server errors, naming the region and source", async () => {
    cloudTrail
      .on(LookupEventsCommand)
      .rejects(Object.assign(new Error("internal"), { name: "InternalFailure", $fault: "server" }));

    const result = await settle(
      runLookupSweep(options, sweepDeps(clock, new MemorySweepStore(clock.now), [])),
    );

    expect(result.sources[0]?.error).toBe(
      `LookupEvents sweep of ${SM} in ${REGION}: LookupEvents failed after 5 attempt(s): internal`,
    );
    expect(cloudTrail).toHaveReceivedCommandTimes(LookupEventsCommand, 5);
  });

  it("counts a record it cannot read as skipped, with the reason", async () => {
    serveLookups(() => [{ id: "bad", timeMs: START - 1000, body: "{oops" }], clock, []);
    const skipped: string[] = [];

    await settle(
      runLookupSweep(options, {
        ...sweepDeps(clock, new MemorySweepStore(clock.now), []),
        onSkipped: (reason: string) => skipped.push(reason),
      }),
    );

    expect(skipped).toEqual(["event bad: CloudTrailEvent is not JSON"]);
  });

  it("leaves a region alone while another invocation holds its lease", async () => {
    const store = new MemorySweepStore(clock.now);
    await store.acquireLease(`lookup#${REGION}`, "other", START + MINUTE);

    const result = await settle(runLookupSweep(options, sweepDeps(clock, store, [])));

    expect(result.busyRegions).toEqual([REGION]);
    expect(cloudTrail).toHaveReceivedCommandTimes(LookupEventsCommand, 0);
  });
});
