import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox();
});

afterAll(async () => {
  await sandbox.stop();
});

const routingKey = "R0UT1NGKEY0123456789abcdefABCDEF";

async function sendEvent(path: "/v2/enqueue" | "/v2/change/enqueue", body: unknown) {
  const response = await fetch(`${sandbox.endpoint}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const trigger = (dedupKey: string, summary = "RotationFailed on prod/orders-db") => ({
  routing_key: routingKey,
  event_action: "trigger",
  dedup_key: dedupKey,
  payload: { summary, source: "vigil", severity: "critical" },
});

describe("PagerDuty Events API v2", () => {
  it("accepts a valid trigger with 202 and the dedup key", async () => {
    const response = await sendEvent("/v2/enqueue", trigger("group-accepted"));

    expect(response).toEqual({
      status: 202,
      body: { status: "success", message: "Event processed", dedup_key: "group-accepted" },
    });
  });

  it("generates a dedup key when the trigger has none", async () => {
    const { dedup_key: _omitted, ...event } = trigger("unused");

    const response = await sendEvent("/v2/enqueue", event);

    expect(response.body.dedup_key).toMatch(/^[0-9a-f]{32}$/);
  });

  it("answers 400 with every validation error", async () => {
    const response = await sendEvent("/v2/enqueue", {
      routing_key: "short",
      event_action: "explode",
      payload: { summary: "x".repeat(1025), severity: "fatal" },
    });

    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ status: "invalid event", message: "Event object is invalid" });
    expect(response.body.errors).toEqual([
      "Length of 'routing_key' is incorrect (should be 32 characters)",
      "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)",
    ]);
    const triggerErrors = (
      await sendEvent("/v2/enqueue", {
        ...trigger("k"),
        payload: { summary: "x".repeat(1025), severity: "fatal" },
      })
    ).body.errors;
    expect(triggerErrors).toEqual([
      "'payload.summary' is too long (maximum is 1024 characters)",
      "'payload.source' is missing or blank",
      "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
    ]);
    expect(sandbox.pagerDutyEvents().filter((event) => event.status === 400)).toHaveLength(2);
  });

  it("adds repeated triggers to one incident, resolves it, and opens a new one after", async () => {
    await sendEvent("/v2/enqueue", trigger("group-lifecycle"));
    await sendEvent("/v2/enqueue", trigger("group-lifecycle"));
    await sendEvent("/v2/enqueue", {
      routing_key: routingKey,
      event_action: "acknowledge",
      dedup_key: "group-lifecycle",
    });
    const afterAcknowledge = sandbox
      .pagerDutyIncidents()
      .filter((incident) => incident.dedupKey === "group-lifecycle");
    await sendEvent("/v2/enqueue", {
      routing_key: routingKey,
      event_action: "resolve",
      dedup_key: "group-lifecycle",
    });
    await sendEvent("/v2/enqueue", trigger("group-lifecycle", "again"));

    const incidents = sandbox
      .pagerDutyIncidents()
      .filter((incident) => incident.dedupKey === "group-lifecycle");

    expect(afterAcknowledge).toMatchObject([{ status: "acknowledged", eventCount: 2 }]);
    expect(incidents).toMatchObject([
      {
        status: "resolved",
        eventCount: 2,
        summary: "RotationFailed on prod/orders-db",
        severity: "critical",
      },
      { status: "triggered", eventCount: 1, summary: "again" },
    ]);
  });

  it("requires a dedup key to resolve", async () => {
    const response = await sendEvent("/v2/enqueue", { routing_key: routingKey, event_action: "resolve" });

    expect(response.status).toBe(400);
  });

  it("accepts change events, which never open an incident", async () => {
    const before = sandbox.pagerDutyIncidents().length;

    const response = await sendEvent("/v2/change/enqueue", {
      routing_key: routingKey,
      payload: {
        summary: "secret.rotated prod/orders-db",
        source: "vigil",
        custom_details: { versionId: "v2" },
      },
    });

    expect(response).toEqual({ status: 202, body: { status: "success", message: "Change event processed" } });
    expect(sandbox.pagerDutyEvents().at(-1)).toMatchObject({ kind: "change", status: 202 });
    expect(sandbox.pagerDutyIncidents()).toHaveLength(before);
  });

  it("lists events and incidents on the inspection API", async () => {
    await sendEvent("/v2/enqueue", trigger("group-inspected"));

    const incidents = (await (await fetch(`${sandbox.endpoint}/_sandbox/pagerduty/incidents`)).json()) as {
      dedupKey: string;
    }[];

    expect(incidents.map((incident) => incident.dedupKey)).toContain("group-inspected");
  });

  it("keeps the routing key out of its records, showing only its last 4 characters", async () => {
    const otherKey = `${"Z".repeat(28)}CDEF`;
    await sendEvent("/v2/enqueue", trigger("group-masked"));
    await sendEvent("/v2/enqueue", { ...trigger("group-masked"), routing_key: otherKey });

    const inspected = await (await fetch(`${sandbox.endpoint}/_sandbox/pagerduty`)).text();

    expect(inspected).not.toContain(routingKey);
    expect(inspected).not.toContain(otherKey);
    expect(sandbox.pagerDutyEvents().at(-1)?.body).toMatchObject({ routing_key: "…CDEF" });
    // Same last 4 characters, different keys: still two services, so two incidents.
    expect(
      sandbox.pagerDutyIncidents().filter((incident) => incident.dedupKey === "group-masked"),
    ).toMatchObject([{ routingKey: "…CDEF" }, { routingKey: "…CDEF" }]);
  });
});
