import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RetryPolicy } from "../../functions/notify/config.ts";
import {
  DeliveryUnavailableError,
  PagerDutyConfigurationError,
  PagerDutyRejectedError,
} from "../../functions/notify/errors.ts";
import { backoffDelay, type Clock, postPagerDutyEvent } from "../../functions/notify/pagerduty-client.ts";
import { clearRegisteredSecrets, registerSecret } from "../../lib/redaction.ts";
import { type PagerDutyStub, startPagerDutyStub } from "../helpers/notify-fixtures.ts";

const retry: RetryPolicy = {
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  requestTimeoutMs: 2_000,
  deadlineMarginMs: 0,
};

/** A clock whose sleeps return at once and move virtual time forward. */
function virtualClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    random: () => 0.5,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

const event = { routing_key: "r".repeat(32), event_action: "trigger", dedup_key: "vigil-abc" };

describe("postPagerDutyEvent", () => {
  let stub: PagerDutyStub;
  let clock: ReturnType<typeof virtualClock>;
  const options = (overrides: Partial<Parameters<typeof postPagerDutyEvent>[2]> = {}) => ({
    fetch: globalThis.fetch,
    clock,
    retry,
    deadline: clock.now() + 60_000,
    ...overrides,
  });

  beforeEach(async () => {
    stub = await startPagerDutyStub();
    clock = virtualClock();
  });
  afterEach(async () => {
    await stub.close();
    clearRegisteredSecrets();
  });

  it("posts the event as JSON once when PagerDuty accepts it", async () => {
    const result = await postPagerDutyEvent(stub.eventsUrl, event, options());

    expect(result).toMatchObject({ status: 202, attempts: 1 });
    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0]?.body).toEqual(event);
  });

  it("retries 429 and 5xx with growing delays until PagerDuty accepts", async () => {
    stub.script(
      { kind: "status", status: 429 },
      { kind: "status", status: 500 },
      { kind: "status", status: 502 },
      { kind: "status", status: 503 },
    );

    const result = await postPagerDutyEvent(stub.eventsUrl, event, options());

    expect(result.attempts).toBe(5);
    expect(clock.slept).toEqual([188, 375, 750, 1500]);
    expect(stub.incidents).toEqual([{ dedupKey: "vigil-abc", status: "triggered", eventCount: 1 }]);
  });

  it("retries a dropped connection", async () => {
    stub.script({ kind: "drop" });

    const result = await postPagerDutyEvent(stub.eventsUrl, event, options());

    expect(result.attempts).toBe(2);
  });

  it("retries a request that times out, and the retry adds to the same incident", async () => {
    stub.script({ kind: "hang" });

    const result = await postPagerDutyEvent(
      stub.eventsUrl,
      event,
      options({ retry: { ...retry, requestTimeoutMs: 150 } }),
    );

    expect(result.attempts).toBe(2);
    expect(stub.incidents).toHaveLength(1);
  });

  it("waits at least as long as Retry-After says", async () => {
    stub.script({ kind: "status", status: 429, headers: { "retry-after": "3" } });

    await postPagerDutyEvent(stub.eventsUrl, event, options());

    expect(clock.slept).toEqual([3_000]);
  });

  it("never retries a 400 and keeps the response body", async () => {
    const body = JSON.stringify({
      status: "invalid event",
      message: "Event object is invalid",
      errors: ["x"],
    });
    stub.script({ kind: "status", status: 400, body });

    const error = await postPagerDutyEvent(stub.eventsUrl, event, options()).catch(
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(PagerDutyRejectedError);
    expect(error).toMatchObject({ status: 400, responseBody: body });
    expect(stub.requests).toHaveLength(1);
  });

  it("redacts the kept response body before cutting it, so a secret at the cut leaves no prefix", async () => {
    // Arrange: PagerDuty echoes the routing key just before the 4,096 characters the error keeps.
    const routingKey = "EchoedRoutingKey0123456789abcdef";
    registerSecret(routingKey);
    stub.script({ kind: "status", status: 400, body: `${"x".repeat(4_080)}${routingKey}` });

    // Act
    const error = await postPagerDutyEvent(stub.eventsUrl, event, options()).catch((thrown) => thrown);

    // Assert
    expect(error).toBeInstanceOf(PagerDutyRejectedError);
    expect((error as PagerDutyRejectedError).responseBody).not.toContain("EchoedR");
    expect((error as PagerDutyRejectedError).message).not.toContain("EchoedR");
  });

  it("does not retry a 404 and reports it as a configuration problem", async () => {
    stub.script({ kind: "status", status: 404, body: "not found" });

    const error = await postPagerDutyEvent(stub.eventsUrl, event, options()).catch(
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(PagerDutyConfigurationError);
    expect(stub.requests).toHaveLength(1);
  });

  it("gives up when the next wait would pass the deadline, naming the last failure", async () => {
    stub.script(...Array.from({ length: 50 }, () => ({ kind: "status" as const, status: 503 })));

    const error = await postPagerDutyEvent(
      stub.eventsUrl,
      event,
      options({ deadline: clock.now() + 10_000 }),
    ).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DeliveryUnavailableError);
    expect((error as Error).message).toMatch(/HTTP 503/);
    expect(clock.slept.reduce((total, ms) => total + ms, 0)).toBeLessThan(10_000);
    expect(stub.requests.length).toBe((error as DeliveryUnavailableError).attempts);
  });

  it("makes no request once the deadline has passed", async () => {
    const error = await postPagerDutyEvent(stub.eventsUrl, event, options({ deadline: clock.now() })).catch(
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(DeliveryUnavailableError);
    expect(stub.requests).toHaveLength(0);
  });
});

describe("backoffDelay", () => {
  it("stays between half and all of the capped exponential delay", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 0.999_999, noNaN: true }),
        (attempt, random) => {
          const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
          const delay = backoffDelay(attempt, retry, random);
          return delay >= Math.floor(ceiling / 2) && delay <= ceiling;
        },
      ),
    );
  });
});
