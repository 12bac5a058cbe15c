import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { describeError } from "../lib/errors.ts";
import { type CloudTrailRecord, type SandboxIdentity, Trail } from "./cloudtrail.ts";
import type { EcsDeploymentRecord } from "./ecs.ts";
import { AwsServiceError, SandboxError } from "./errors.ts";
import { delay, FaultInjector, type FaultRule } from "./faults.ts";
import { type IbGateway, startIbGateway } from "./ib-gateway.ts";
import { inspectionPath, readBody, serveInspection, writeResponse } from "./inspection.ts";
import { LambdaDelivery, type LambdaHandler, type LambdaInvocation } from "./lambda.ts";
import { LOOPBACK, listenOnLoopback } from "./loopback.ts";
import type { PagerDutyEventRecord, PagerDutyIncident } from "./pagerduty.ts";
import type { RotationLambda, RotationRecord } from "./rotation.ts";
import type {
  SandboxEvent,
  SandboxRequest,
  SandboxResponse,
  SandboxService,
  ServiceCall,
} from "./service.ts";
import { type RunningServices, startServices } from "./services.ts";
import type { SnsMessageRecord } from "./sns.ts";
import type { SqsQueueSnapshot } from "./sqs.ts";

export type { CloudTrailRecord, SandboxIdentity } from "./cloudtrail.ts";
export type { EcsDeploymentRecord } from "./ecs.ts";
export type { FaultRule, FaultTarget } from "./faults.ts";
export type { LambdaHandler, LambdaInvocation } from "./lambda.ts";
export type { PagerDutyEventRecord, PagerDutyIncident } from "./pagerduty.ts";
export type { RotationLambda, RotationRecord } from "./rotation.ts";
export type { SandboxEvent } from "./service.ts";
export type { SnsMessageRecord } from "./sns.ts";
export type { SqsQueueSnapshot } from "./sqs.ts";

export interface SandboxOptions {
  /** 0 or undefined = a free port; binds 127.0.0.1 only. */
  port?: number;
  /** Default "us-east-1". */
  region?: string;
  /** Default "111122223333". */
  accountId?: string;
  /** Where trail files are written (by writeTrailFiles() without a directory, and on stop). */
  dataDir?: string;
  /** Unknown access keys map to an IAMUser named after the key. */
  identities?: SandboxIdentity[];
  /** Module path (imported in-process, must export handler) or a function; used by RotateSecret. */
  rotationLambda?: string | RotationLambda;
  /** Per rotation function (Lambda ARN or function name), when secrets rotate with different functions. */
  rotationLambdas?: Record<string, string | RotationLambda>;
  /** Remaining time reported to the lambda per step, and the step timeout (default 30000). */
  rotationTimeoutMs?: number;
  /** Answer RotateSecret before running the steps, as AWS does (default false: run them first). */
  rotateAsynchronously?: boolean;
  /** Default 2; 0 disables the limit. */
  lookupEventsPerSecond?: number;
  /** Topics and queues to create at start (names). */
  snsTopics?: string[];
  sqsQueues?: string[];
  /** ECS services ("cluster/service") UpdateService knows; without it, any service exists. */
  ecsServices?: string[];
  /** Starts the TWS peer. */
  ibGateway?: { accounts: string[]; port?: number; serverVersion?: number };
  /** DynamoDB table created at start with Vigil's state-table schema (default "vigil-local-state"). */
  stateTable?: string;
  /** S3 bucket the sandbox's CloudTrail delivers trail files into (default "vigil-local-trail"). */
  trailBucket?: string;
  /** Delivers pending CloudTrail records to the trail bucket this often (default 0: only when asked). */
  trailDeliveryIntervalMs?: number;
  /**
   * Lambda functions consuming SQS queues (event source mappings): each queue is created, polled, and its
   * messages passed to the handler as SQS events; those not in `batchItemFailures` are deleted.
   */
  queueConsumers?: {
    queue: string;
    functionName: string;
    handler: string | LambdaHandler;
    /** Default 10. */
    batchSize?: number;
  }[];
  /**
   * The scanner: module path (must export handler) or a function. It receives the trail bucket's
   * ObjectCreated notifications and the write-side CloudTrail calls as EventBridge events.
   */
  scannerLambda?: string | LambdaHandler;
  /** EventBridge schedules invoking the scanner: a Scheduled Event whose `detail` is the rule's input. */
  scannerSchedules?: { detail: Record<string, unknown>; everyMs: number }[];
}

export interface Sandbox {
  /** "http://127.0.0.1:PORT": one port serves every AWS service and PagerDuty. */
  endpoint: string;
  port: number;
  region: string;
  accountId: string;
  /** AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, PAGERDUTY_EVENTS_URL, ... */
  env: Record<string, string>;
  faults: { inject(rule: FaultRule): void; clear(): void; list(): FaultRule[] };
  /** Oldest first. */
  cloudTrailRecords(): CloudTrailRecord[];
  /** Adds records as if CloudTrail delivered them now (late): `eventTime` may be in the past. */
  injectCloudTrailRecords(records: unknown[]): CloudTrailRecord[];
  snsMessages(): SnsMessageRecord[];
  pagerDutyEvents(): PagerDutyEventRecord[];
  pagerDutyIncidents(): PagerDutyIncident[];
  sqsQueues(): SqsQueueSnapshot[];
  /** ECS UpdateService calls (service restarts), oldest first. */
  ecsDeployments(): EcsDeploymentRecord[];
  /** Every RotateSecret the sandbox drove, with each step's outcome. */
  rotations(): RotationRecord[];
  /** Resolves when asynchronous rotations have finished. */
  rotationsSettled(): Promise<void>;
  /** Delivers the records not yet delivered to the trail bucket as trail files now; returns their keys. */
  deliverTrailFiles(): Promise<string[]>;
  /** Every delivery to the scanner handler (S3 notifications, EventBridge events) and its outcome. */
  scannerInvocations(): LambdaInvocation[];
  /** Resolves when every delivery to the scanner handler so far has finished. */
  scannerSettled(): Promise<void>;
  /** Calls `listener` with every rotation outcome, PagerDuty event and function invocation from now on. */
  onEvent(listener: (event: SandboxEvent) => void): void;
  /** Creates an SNS topic / SQS queue without an API call (no CloudTrail record); returns its ARN / URL. */
  createTopic(name: string): string;
  createQueue(name: string, attributes?: Record<string, string>): string;
  /** SDK v3 client configuration for this sandbox, signing as `accessKeyId` (default: the env's key). */
  clientConfig(accessKeyId?: string): {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** S3 layout AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz; records not yet written to `dir`. */
  writeTrailFiles(dir?: string): Promise<string[]>;
  ibGateway?: { host: string; port: number; setAccounts(accounts: string[]): void; connections(): number };
  stop(): Promise<void>;
}

/** The access key the sandbox's own `env` signs with, a developer IAM user unless `identities` says otherwise. */
export const defaultAccessKeyId = "AKIAVIGILSANDBOX0001";
const defaultIdentity: SandboxIdentity = {
  accessKeyId: defaultAccessKeyId,
  type: "IAMUser",
  name: "sandbox-developer",
};
const sandboxSecretAccessKey = "sandbox-secret-access-key-not-verified";

/** Starts the sandbox on 127.0.0.1: every service of `local/services.ts` and PagerDuty on one port. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "111122223333";
  const identities = new Map<string, SandboxIdentity>([[defaultAccessKeyId, defaultIdentity]]);
  for (const identity of options.identities ?? []) identities.set(identity.accessKeyId, identity);

  const trail = new Trail(region, accountId);
  const listeners: ((event: SandboxEvent) => void)[] = [];
  const emit = (event: SandboxEvent) => {
    for (const listener of listeners) listener(event);
  };
  const scanner = new LambdaDelivery("vigil-local-audit-scan", options.scannerLambda);
  scanner.onInvocation((invocation) => emit({ type: "invocation", invocation }));
  const schedules = (options.scannerSchedules ?? []).map(({ detail, everyMs }) => {
    const timer = setInterval(
      () =>
        scanner.deliver(
          "eventbridge:Scheduled Event",
          JSON.stringify(detail),
          scheduledEvent(region, accountId, detail),
        ),
      everyMs,
    );
    timer.unref();
    return timer;
  });
  let services: SandboxService[] = [];
  let faults = new FaultInjector({});
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const identityOf = (headers: IncomingHttpHeaders): SandboxIdentity | undefined => {
    const authorization = headers.authorization ?? "";
    const key = /Credential=([^/,\s]+)\//.exec(authorization)?.[1];
    if (!key) return undefined;
    return identities.get(key) ?? { accessKeyId: key, type: "IAMUser", name: key };
  };

  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    void serve(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { "content-type": "application/json" });
        response.end(JSON.stringify({ message: `sandbox error: ${describeError(error)}` }));
      } else {
        response.destroy();
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function serve(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const request: SandboxRequest = {
      method: incoming.method ?? "GET",
      url: new URL(incoming.url ?? "/", "http://127.0.0.1"),
      headers: incoming.headers,
      body: await readBody(incoming),
    };
    await ready;
    if (request.url.pathname.startsWith("/_sandbox")) return inspect(request, response);
    for (const service of services) {
      const operation = service.protocol?.operationOf(request);
      if (operation !== undefined) return serveCall(service, operation, request, response);
    }
    return writeResponse(response, request.method, {
      status: 404,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: `the sandbox serves no ${request.method} ${request.url.pathname}` }),
    });
  }

  /** The pipeline every call goes through: decode, faults, caller, handler, CloudTrail, answer. */
  async function serveCall(
    service: SandboxService,
    operation: string,
    request: SandboxRequest,
    response: ServerResponse,
  ): Promise<void> {
    const protocol = service.protocol!;
    const requestId = randomUUID();
    const call: ServiceCall = {
      operation,
      input: {},
      identity: identityOf(request.headers),
      requestId,
      userAgent: String(request.headers["user-agent"] ?? ""),
    };
    const answer = (value: SandboxResponse) => writeResponse(response, request.method, value);
    try {
      call.input = protocol.decode(request, operation);
    } catch (error) {
      if (!(error instanceof AwsServiceError)) throw error;
      return answer(protocol.encodeError(error, requestId));
    }
    const fail = (error: AwsServiceError) => {
      record(service, call, error);
      return answer(protocol.encodeError(error, requestId));
    };

    const rule = faults.take(service.name, operation);
    if (rule?.kind === "latency") await delay(rule.latencyMs ?? 1000);
    else if (rule?.kind === "drop") {
      response.socket?.destroy();
      service.recordFault?.(call, 0);
      return;
    } else if (rule) {
      const fault = rule.kind === "throttle" ? service.faults.throttle : service.faults.server;
      const error = new AwsServiceError(fault.code, fault.message, rule.status ?? fault.status);
      service.recordFault?.(call, error.status);
      return fail(error);
    }
    if (protocol.signed && !call.identity) {
      return answer(
        protocol.encodeError(
          new AwsServiceError(
            protocol.missingAuthenticationCode ?? "MissingAuthenticationTokenException",
            "Missing Authentication Token",
            403,
          ),
          requestId,
        ),
      );
    }
    let output: unknown;
    try {
      output = await service.handle?.(call);
    } catch (error) {
      return fail(
        error instanceof AwsServiceError
          ? error
          : new AwsServiceError(service.faults.server.code, `sandbox failure: ${describeError(error)}`, 500),
      );
    }
    record(service, call, undefined, output);
    await call.after?.();
    return answer(protocol.encode(output, requestId));
  }

  /** Records a call (and the records it implies) in CloudTrail; unsigned calls are not recorded. */
  function record(
    service: SandboxService,
    call: ServiceCall,
    error?: AwsServiceError,
    output?: unknown,
  ): void {
    const mapping = service.cloudTrail;
    if (!mapping || !call.identity || !service.protocol?.signed) return;
    if (mapping.recorded && !mapping.recorded(call)) return;
    const base = {
      identity: call.identity,
      userAgent: call.userAgent,
      eventSource: mapping.eventSource,
      requestId: call.requestId,
    };
    trail.recordCall({
      ...base,
      eventName: call.operation,
      requestParameters: mapping.requestParameters(call),
      responseElements: error ? null : (mapping.responseElements?.(call, output) ?? null),
      readOnly: mapping.readOnly(call.operation),
      errorCode: error ? error.code.replace(/^.*#/, "") : undefined,
      errorMessage: error?.message,
      category: mapping.category?.(call.operation) ?? "Management",
      resource: call.resource ?? mapping.resource?.(call),
    });
    if (error) return;
    for (const implied of call.impliedRecords ?? []) {
      trail.recordCall({
        ...base,
        eventName: implied.eventName,
        requestParameters: implied.requestParameters,
        responseElements: null,
        readOnly: mapping.readOnly(implied.eventName),
        errorCode: implied.errorCode,
        errorMessage: implied.errorMessage,
        resource: implied.resource,
      });
    }
  }

  function inspect(request: SandboxRequest, response: ServerResponse): Promise<void> {
    const views: Record<string, () => unknown> = {
      "": () => ({ endpoint, region, accountId, views: Object.keys(views).map(inspectionPath) }),
      health: () => ({ status: "ok", endpoint, region, accountId }),
      faults: () => ({ rules: faults.list(), targets: faults.targets() }),
      scanner: () => scanner.invocations(),
    };
    const controls: Record<string, (body: unknown) => unknown> = {
      faults: (rule) => {
        faults.inject(rule);
        return { status: "injected" };
      },
    };
    const removals: Record<string, () => unknown> = {
      faults: () => {
        faults.clear();
        return { status: "cleared" };
      },
    };
    for (const service of services) {
      Object.assign(views, service.views);
      Object.assign(controls, service.controls);
    }
    return serveInspection(request, { views, controls, removals }).then((answer) =>
      writeResponse(response, request.method, answer),
    );
  }

  const port = await listenOnLoopback(server, options.port);
  const endpoint = `http://${LOOPBACK}:${port}`;
  let running: RunningServices;
  try {
    running = await startServices({ region, accountId, endpoint, options, trail, scanner, emit });
  } catch (error) {
    server.close();
    throw error;
  }
  services = Object.values(running);

  let gateway: IbGateway | undefined;
  if (options.ibGateway) {
    try {
      gateway = await startIbGateway({
        ...options.ibGateway,
        fault: (operation) => faults.take("ibgateway", operation),
      });
    } catch (error) {
      server.close();
      await Promise.all(services.map((service) => service.stop?.()));
      throw new SandboxError(`cannot start the IB Gateway peer: ${describeError(error)}`, { cause: error });
    }
  }
  faults = new FaultInjector({
    ...Object.fromEntries(services.map((service) => [service.name, service.operations])),
    // The IB Gateway peer is not an HTTP service; a rule for it applies once a gateway runs.
    ibgateway: ["connect"],
  });
  markReady();

  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: defaultAccessKeyId,
    AWS_SECRET_ACCESS_KEY: sandboxSecretAccessKey,
    AWS_EC2_METADATA_DISABLED: "true",
    PAGERDUTY_EVENTS_URL: `${endpoint}/v2/enqueue`,
    PAGERDUTY_CHANGE_EVENTS_URL: `${endpoint}/v2/change/enqueue`,
    STATE_TABLE_NAME: running.dynamodb.stateTable,
    TRAIL_BUCKET_NAME: running.s3.trailBucket,
    ...(gateway ? { IBKR_GATEWAY_HOST: gateway.host, IBKR_GATEWAY_PORT: String(gateway.port) } : {}),
  };

  const writeTrailFiles = async (dir?: string) => {
    const directory = dir ?? options.dataDir;
    if (!directory) throw new SandboxError("writeTrailFiles needs a directory (or the dataDir option)");
    return trail.writeTrailFiles(directory);
  };

  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port,
    region,
    accountId,
    env,
    faults: { inject: (rule) => faults.inject(rule), clear: () => faults.clear(), list: () => faults.list() },
    cloudTrailRecords: () => trail.all(),
    injectCloudTrailRecords: (records) => trail.inject(records),
    snsMessages: () => running.sns.recorded(),
    pagerDutyEvents: () => running.pagerduty.recorded(),
    pagerDutyIncidents: () => running.pagerduty.incidents(),
    sqsQueues: () => running.sqs.snapshot(),
    ecsDeployments: () => running.ecs.recorded(),
    rotations: () => running.secretsmanager.rotations(),
    rotationsSettled: () => running.secretsmanager.settled(),
    deliverTrailFiles: () => running.s3.deliverTrailFiles(),
    scannerInvocations: () => scanner.invocations(),
    scannerSettled: () => scanner.settled(),
    onEvent: (listener) => listeners.push(listener),
    createTopic: (name) => running.sns.createTopic(name),
    createQueue: (name, attributes) => running.sqs.createQueue(name, attributes),
    clientConfig: (accessKeyId = defaultAccessKeyId) => ({
      endpoint,
      region,
      credentials: { accessKeyId, secretAccessKey: sandboxSecretAccessKey },
    }),
    writeTrailFiles,
    ...(gateway
      ? {
          ibGateway: {
            host: gateway.host,
            port: gateway.port,
            setAccounts: (accounts: string[]) => gateway.setAccounts(accounts),
            connections: () => gateway.connections(),
          },
        }
      : {}),
    stop: () => {
      stopped ??= (async () => {
        for (const timer of schedules) clearInterval(timer);
        await Promise.all(services.map((service) => service.stop?.()));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
        await gateway?.stop();
        if (options.dataDir) await trail.writeTrailFiles(options.dataDir);
      })();
      return stopped;
    },
  };
}

/** What an EventBridge schedule rule sends, its input as `detail`. */
function scheduledEvent(
  region: string,
  accountId: string,
  detail: Record<string, unknown>,
): Record<string, unknown> {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: accountId,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    region,
    resources: [
      `arn:aws:events:${region}:${accountId}:rule/vigil-local-${String(detail.task ?? "schedule")}`,
    ],
    detail,
  };
}
