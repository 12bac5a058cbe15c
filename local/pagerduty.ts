import { randomBytes } from "node:crypto";
import { type ServiceContext, type ServiceFactory, type WireProtocol, withApi } from "./service.ts";

/**
 * PagerDuty Events API v2 (`/v2/enqueue`) and Change Events (`/v2/change/enqueue`) with PagerDuty's
 * validation and its dedup_key incident behaviour: a trigger opens an incident or adds to the open one,
 * acknowledge and resolve act on the open one, and a trigger after a resolve opens a new incident.
 */

export interface PagerDutyEventRecord {
  kind: "alert" | "change";
  /**
   * The request body as received (parsed JSON, or the raw text when it was not JSON), with its
   * routing_key masked: the integration key is a secret, and these records are served by the
   * inspection API and printed by the demo.
   */
  body: unknown;
  /** The HTTP status the sandbox answered with (0 when an injected fault dropped the connection). */
  status: number;
  dedupKey?: string;
  at: string;
}

export interface PagerDutyIncident {
  dedupKey: string;
  status: "triggered" | "acknowledged" | "resolved";
  summary: string;
  severity?: string;
  eventCount: number;
  /** The integration key it was triggered with, masked to its last 4 characters. */
  routingKey: string;
  createdAt: string;
  updatedAt: string;
}

export interface PagerDutyResponse {
  status: number;
  body: Record<string, unknown>;
}

const severities = ["critical", "error", "warning", "info"];
const actions = ["trigger", "acknowledge", "resolve"];

export class PagerDuty {
  private readonly events: PagerDutyEventRecord[] = [];

  /** `onEvent` hears of every event recorded. */
  constructor(private readonly onEvent: (event: PagerDutyEventRecord) => void = () => undefined) {}

  private record(event: PagerDutyEventRecord): void {
    this.events.push(event);
    this.onEvent(event);
  }
  private readonly incidentList: PagerDutyIncident[] = [];
  /** The full routing key of each incident, which tells incidents of two services apart. */
  private readonly incidentKeys = new WeakMap<PagerDutyIncident, string>();

  /** Recorded events, oldest first. */
  recorded(): PagerDutyEventRecord[] {
    return [...this.events];
  }

  incidents(): PagerDutyIncident[] {
    return this.incidentList.map((incident) => ({ ...incident }));
  }

  /** Records a request that an injected fault answered instead of PagerDuty. */
  recordFaulted(kind: "alert" | "change", rawBody: string, status: number): void {
    this.record({ kind, body: masked(parseBody(rawBody)), status, at: new Date().toISOString() });
  }

  /** Handles POST /v2/enqueue. */
  enqueue(rawBody: string): PagerDutyResponse {
    const body = parseBody(rawBody);
    const errors = validateAlert(body);
    if (errors.length > 0) return this.invalid("alert", body, errors);
    const event = body as {
      routing_key: string;
      event_action: string;
      dedup_key?: string;
      payload?: { summary: string; severity: string };
    };
    const dedupKey = event.dedup_key ?? randomBytes(16).toString("hex");
    const now = new Date().toISOString();
    const open = this.incidentList.find(
      (incident) =>
        incident.dedupKey === dedupKey &&
        this.incidentKeys.get(incident) === event.routing_key &&
        incident.status !== "resolved",
    );
    if (event.event_action === "trigger") {
      if (open) {
        open.eventCount += 1;
        open.updatedAt = now;
      } else {
        const incident: PagerDutyIncident = {
          dedupKey,
          status: "triggered",
          summary: event.payload!.summary,
          severity: event.payload!.severity,
          eventCount: 1,
          routingKey: maskKey(event.routing_key),
          createdAt: now,
          updatedAt: now,
        };
        this.incidentKeys.set(incident, event.routing_key);
        this.incidentList.push(incident);
      }
    } else if (open) {
      // acknowledge/resolve for an unknown or closed dedup_key is accepted and ignored, like PagerDuty.
      open.status = event.event_action === "resolve" ? "resolved" : "acknowledged";
      open.updatedAt = now;
    }
    this.record({ kind: "alert", body: masked(body), status: 202, dedupKey, at: now });
    return { status: 202, body: { status: "success", message: "Event processed", dedup_key: dedupKey } };
  }

  /** Handles POST /v2/change/enqueue: change events never page and have no dedup_key. */
  change(rawBody: string): PagerDutyResponse {
    const body = parseBody(rawBody);
    const errors = validateChange(body);
    if (errors.length > 0) return this.invalid("change", body, errors);
    this.record({ kind: "change", body: masked(body), status: 202, at: new Date().toISOString() });
    return { status: 202, body: { status: "success", message: "Change event processed" } };
  }

  private invalid(kind: "alert" | "change", body: unknown, errors: string[]): PagerDutyResponse {
    this.record({ kind, body: masked(body), status: 400, at: new Date().toISOString() });
    return { status: 400, body: { status: "invalid event", message: "Event object is invalid", errors } };
  }
}

/** "…" and the key's last 4 characters: enough to tell two services apart, useless to send events. */
function maskKey(key: string): string {
  return `…${key.slice(-4)}`;
}

/** The body with its routing_key masked. */
function masked(body: unknown): unknown {
  if (!isObject(body) || typeof body.routing_key !== "string") return body;
  return { ...body, routing_key: maskKey(body.routing_key) };
}

function parseBody(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function blank(value: unknown): boolean {
  return typeof value !== "string" || value.trim() === "";
}

function validateRoutingKey(event: Record<string, unknown>, errors: string[]): void {
  if (blank(event.routing_key)) errors.push("'routing_key' is missing or blank");
  else if ((event.routing_key as string).length !== 32) {
    errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
  }
}

function validateAlert(body: unknown): string[] {
  if (!isObject(body)) return ["Event object is not valid JSON"];
  const errors: string[] = [];
  validateRoutingKey(body, errors);
  const action = body.event_action;
  if (blank(action)) errors.push("'event_action' is missing or blank");
  else if (!actions.includes(action as string)) {
    errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
  }
  if (body.dedup_key !== undefined) {
    if (typeof body.dedup_key !== "string") errors.push("'dedup_key' must be a string");
    else if (body.dedup_key.length > 255) errors.push("'dedup_key' is too long (maximum is 255 characters)");
  } else if (action === "acknowledge" || action === "resolve") {
    errors.push("'dedup_key' is missing or blank (required for acknowledge and resolve)");
  }
  if (action === "trigger") {
    const payload = body.payload;
    if (!isObject(payload)) {
      errors.push("'payload' is missing or not an object");
    } else {
      if (blank(payload.summary)) errors.push("'payload.summary' is missing or blank");
      else if ((payload.summary as string).length > 1024) {
        errors.push("'payload.summary' is too long (maximum is 1024 characters)");
      }
      if (blank(payload.source)) errors.push("'payload.source' is missing or blank");
      if (blank(payload.severity)) errors.push("'payload.severity' is missing or blank");
      else if (!severities.includes(payload.severity as string)) {
        errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
      }
      if (payload.timestamp !== undefined && Number.isNaN(Date.parse(String(payload.timestamp)))) {
        errors.push("'payload.timestamp' is not a valid ISO 8601 timestamp");
      }
    }
  }
  return errors;
}

function validateChange(body: unknown): string[] {
  if (!isObject(body)) return ["Event object is not valid JSON"];
  const errors: string[] = [];
  validateRoutingKey(body, errors);
  const payload = body.payload;
  if (!isObject(payload)) {
    errors.push("'payload' is missing or not an object");
  } else if (blank(payload.summary)) {
    errors.push("'payload.summary' is missing or blank");
  } else if ((payload.summary as string).length > 1024) {
    errors.push("'payload.summary' is too long (maximum is 1024 characters)");
  }
  return errors;
}

/** PagerDuty's HTTP API: `POST /v2/enqueue` (operation "enqueue") and `POST /v2/change/enqueue` ("change"). */
const pagerDutyProtocol: WireProtocol = {
  signed: false,
  operationOf(request) {
    if (request.method !== "POST") return undefined;
    if (request.url.pathname === "/v2/enqueue") return "enqueue";
    return request.url.pathname === "/v2/change/enqueue" ? "change" : undefined;
  },
  decode: (request) => ({ body: request.body.toString("utf8") }),
  encode: (output) => ({
    status: (output as PagerDutyResponse).status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify((output as PagerDutyResponse).body),
  }),
  encodeError: (error) => ({
    status: error.status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ status: error.code, message: error.message }),
  }),
};

/** The sandbox's PagerDuty Events API v2; not AWS, so calls are unsigned and not in CloudTrail. */
export const pagerDutyService = ((context: ServiceContext) => {
  const pagerDuty = new PagerDuty((event) => context.emit({ type: "pagerduty", event }));
  const kindOf = (operation: string) => (operation === "enqueue" ? "alert" : "change");
  return withApi(
    {
      name: "pagerduty",
      protocol: pagerDutyProtocol,
      operations: ["enqueue", "change"],
      handle: ({ operation, input }) =>
        operation === "enqueue"
          ? pagerDuty.enqueue(String(input.body))
          : pagerDuty.change(String(input.body)),
      recordFault: ({ operation, input }, status) =>
        pagerDuty.recordFaulted(kindOf(operation), String(input.body), status),
      faults: {
        throttle: {
          code: "throttle event",
          message: "Requests for this service are arriving too quickly. Please retry later.",
          status: 429,
        },
        server: { code: "error", message: "Internal server error", status: 500 },
      },
      views: {
        pagerduty: () => ({ events: pagerDuty.recorded(), incidents: pagerDuty.incidents() }),
        "pagerduty/events": () => pagerDuty.recorded(),
        "pagerduty/incidents": () => pagerDuty.incidents(),
      },
    },
    {
      recorded: () => pagerDuty.recorded(),
      incidents: () => pagerDuty.incidents(),
    },
  );
}) satisfies ServiceFactory;
