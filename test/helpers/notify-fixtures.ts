// Test fixtures for the notifier: findings, SQS records, a captured log, and a PagerDuty Events API v2
// stand-in on 127.0.0.1 that keeps incidents the way PagerDuty does (one per open dedup key).
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { PublishCommand, type PublishCommandInput, SNSClient } from "@aws-sdk/client-sns";
import type { SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach } from "vitest";
import { MemoryAlertStateStore } from "../../functions/notify/alert-state.ts";
import { loadNotifierConfig } from "../../functions/notify/config.ts";
import type { NotifierDependencies } from "../../functions/notify/notify.ts";
import type { Clock } from "../../functions/notify/pagerduty-client.ts";
import { createRoutingKeySource } from "../../functions/notify/routing-key.ts";
import type { Finding, SecretRotatedEvent } from "../../lib/finding.ts";
import { createLogger } from "../../lib/logger.ts";
import { clearRegisteredSecrets } from "../../lib/redaction.ts";
import { type CapturedOutput, captureOutput } from "./output.ts";

export const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:algo-trade/prod/ibkr-AbCdEf";

/** A valid firing finding; override what the test is about. */
export function makeFinding(overrides: Partial<Finding> = {}): Finding {
  return {
    id: randomUUID(),
    rule: "unexpected-reader",
    severity: "high",
    title: "Unexpected principal read algo-trade/prod/ibkr",
    summary: "arn:aws:iam::111122223333:role/analytics read the production IBKR secret.",
    secretArn: SECRET_ARN,
    principal: "arn:aws:iam::111122223333:role/analytics",
    sourceIp: "203.0.113.10",
    region: "us-east-1",
    account: "111122223333",
    eventIds: [randomUUID()],
    firstSeen: "2026-11-27T10:00:00Z",
    lastSeen: "2026-11-27T10:00:00Z",
    count: 1,
    groupKey: `unexpected-reader:${SECRET_ARN}:analytics`,
    details: { eventName: "GetSecretValue" },
    runbook: "https://runbooks.example.com/vigil/unexpected-reader",
    ...overrides,
  };
}

export function makeRotation(overrides: Partial<SecretRotatedEvent> = {}): SecretRotatedEvent {
  return {
    type: "secret.rotated",
    secretArn: SECRET_ARN,
    versionId: "c0ffee00-0000-4000-8000-000000000001",
    strategy: "ibkr",
    at: "2026-11-27T11:00:00Z",
    ...overrides,
  };
}

/** An SQS record whose body is `body` (serialised unless it already is a string). */
export function sqsRecord(body: unknown, messageId: string = randomUUID()): SQSRecord {
  return {
    messageId,
    receiptHandle: `handle-${messageId}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "1764237600000",
      SenderId: "AIDAEXAMPLE",
      ApproximateFirstReceiveTimestamp: "1764237600000",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:111122223333:vigil-findings",
    awsRegion: "us-east-1",
  };
}

/** Captures what Powertools Logger writes (stdout and stderr) and keeps it off the console. */
export { captureOutput as captureLogs };

/** What the stand-in does with the next request. */
export type ScriptedResponse =
  | { kind: "status"; status: number; body?: string; headers?: Record<string, string> }
  /** Closes the connection without an answer (a network error). */
  | { kind: "drop" }
  /** Accepts the event, then never answers (a timeout after PagerDuty did the work). */
  | { kind: "hang" };

export interface PagerDutyRequest {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly raw: string;
}

export interface StubIncident {
  dedupKey: string;
  status: "triggered" | "resolved";
  eventCount: number;
}

export interface PagerDutyStub {
  readonly eventsUrl: string;
  readonly changeEventsUrl: string;
  readonly requests: PagerDutyRequest[];
  /** Incidents ever opened, in order; a trigger after a resolve opens a new one, as on PagerDuty. */
  readonly incidents: StubIncident[];
  /** Queues responses for the next requests; afterwards every request gets 202. */
  script(...responses: ScriptedResponse[]): void;
  close(): Promise<void>;
}

/** Starts the PagerDuty stand-in on an ephemeral port of 127.0.0.1. */
export async function startPagerDutyStub(): Promise<PagerDutyStub> {
  const requests: PagerDutyRequest[] = [];
  const incidents: StubIncident[] = [];
  const queue: ScriptedResponse[] = [];

  const accept = (path: string, body: Record<string, unknown>) => {
    if (!path.endsWith("/v2/enqueue")) return;
    const dedupKey = String(body.dedup_key ?? randomUUID());
    const open = incidents.findLast(
      (incident) => incident.dedupKey === dedupKey && incident.status === "triggered",
    );
    if (body.event_action === "trigger") {
      if (open) open.eventCount += 1;
      else incidents.push({ dedupKey, status: "triggered", eventCount: 1 });
    } else if (body.event_action === "resolve" && open) {
      open.status = "resolved";
    }
  };

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const path = request.url ?? "/";
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // recorded as an empty body; the test decides whether that matters
      }
      requests.push({ path, body, raw });
      const next = queue.shift();
      if (next?.kind === "drop") {
        request.socket.destroy();
        return;
      }
      if (next?.kind === "hang") {
        accept(path, body);
        return;
      }
      if (next?.kind === "status") {
        if (next.status >= 200 && next.status < 300) accept(path, body);
        response.writeHead(next.status, { "content-type": "application/json", ...next.headers });
        response.end(next.body ?? JSON.stringify({ status: "error", message: `scripted ${next.status}` }));
        return;
      }
      accept(path, body);
      response.writeHead(202, { "content-type": "application/json" });
      response.end(
        JSON.stringify({ status: "success", message: "Event processed", dedup_key: body.dedup_key }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    eventsUrl: `${origin}/v2/enqueue`,
    changeEventsUrl: `${origin}/v2/change/enqueue`,
    requests,
    incidents,
    script: (...responses) => queue.push(...responses),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const PRIMARY_KEY = "PRIMARYKEY0123456789abcdef012345";
export const LOW_KEY = "LOWURGENCYKEY89abcdef0123456789a";
const TOPIC = "arn:aws:sns:us-east-1:111122223333:vigil-test-alerts";

/** Sleeps return at once and advance virtual time, so backoff costs nothing and the deadline still bites. */
export function virtualClock(): Clock {
  // After every event time in the fixtures: event times are judged against the clock.
  let now = Date.parse("2026-11-27T12:00:00Z");
  return {
    now: () => now,
    random: () => 0.5,
    sleep: async (ms) => {
      now += ms;
    },
  };
}

const mockSns = () => mockClient(SNSClient);
const mockSecretsManager = () => mockClient(SecretsManagerClient);

/** A notifier under test: SDK mocks, the PagerDuty stand-in, one state table, the captured log. */
export interface NotifierHarness {
  stub: PagerDutyStub;
  log: CapturedOutput;
  /** The environment the next deps() reads. */
  env: Record<string, string>;
  /** One state table for the test, shared by every deps(): each deps() is a container of its own. */
  alertState: MemoryAlertStateStore;
  readonly sns: ReturnType<typeof mockSns>;
  readonly secretsManager: ReturnType<typeof mockSecretsManager>;
  deps(overrides?: Partial<NotifierDependencies>): NotifierDependencies;
  alertEvents(): PagerDutyRequest[];
  changeEvents(): PagerDutyRequest[];
  published(): PublishCommandInput[];
  /** The `default` text of a published JSON message structure. */
  defaultText(message: string | undefined): string | undefined;
}

/** Sets a NotifierHarness up before, and tears it down after, each test of the calling file. */
export function useNotifierHarness(): NotifierHarness {
  const sns = mockSns();
  const secretsManager = mockSecretsManager();
  const harness = {
    sns,
    secretsManager,
    deps(overrides: Partial<NotifierDependencies> = {}): NotifierDependencies {
      const config = loadNotifierConfig(harness.env);
      const client = new SecretsManagerClient({ region: "us-east-1" });
      const source = (secretId: string) => createRoutingKeySource(client, { secretId, cacheMs: 60_000 });
      return {
        config,
        sns: new SNSClient({ region: "us-east-1" }),
        routingKeys: {
          primary: source(config.routingKeySecretId),
          lowUrgency: config.lowUrgencyRoutingKeySecretId
            ? source(config.lowUrgencyRoutingKeySecretId)
            : undefined,
        },
        fetch: globalThis.fetch,
        clock: virtualClock(),
        logger: createLogger("notify-test"),
        alertState: harness.alertState,
        ...overrides,
      };
    },
    alertEvents: () => harness.stub.requests.filter((request) => request.path === "/v2/enqueue"),
    changeEvents: () => harness.stub.requests.filter((request) => request.path === "/v2/change/enqueue"),
    published: () => sns.commandCalls(PublishCommand).map((call) => call.args[0].input),
    defaultText: (message: string | undefined) =>
      (JSON.parse(message ?? "{}") as { default?: string }).default,
  } as NotifierHarness;

  beforeEach(async () => {
    harness.stub = await startPagerDutyStub();
    harness.alertState = new MemoryAlertStateStore();
    harness.env = {
      ALERTS_TOPIC_ARN: TOPIC,
      PAGERDUTY_ROUTING_KEY_SECRET_ID: "vigil/test/pagerduty",
      PAGERDUTY_EVENTS_URL: harness.stub.eventsUrl,
      STATE_TABLE_NAME: "vigil-test-state",
    };
    secretsManager.reset();
    sns.reset();
    clearRegisteredSecrets();
    secretsManager
      .on(GetSecretValueCommand, { SecretId: "vigil/test/pagerduty" })
      .resolves({ SecretString: PRIMARY_KEY });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: "vigil/test/pagerduty-low" })
      .resolves({ SecretString: JSON.stringify({ routing_key: LOW_KEY }) });
    sns.on(PublishCommand).resolves({ MessageId: "sns-1" });
    harness.log = captureOutput();
  });
  afterEach(async () => {
    harness.log.restore();
    await harness.stub.close();
    clearRegisteredSecrets();
  });
  return harness;
}
