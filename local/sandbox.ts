import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { describeError } from "../lib/errors.ts";
import {
  type CloudTrailRecord,
  consoleDate,
  lowerCamel,
  RateLimiter,
  type SandboxIdentity,
  Trail,
} from "./cloudtrail.ts";
import { Ecs, type EcsDeploymentRecord } from "./ecs.ts";
import { AwsServiceError, SandboxError } from "./errors.ts";
import { delay, FaultInjector, type FaultRule, type FaultTarget } from "./faults.ts";
import { type IbGateway, startIbGateway } from "./ib-gateway.ts";
import { LOOPBACK, listenOnLoopback } from "./loopback.ts";
import { PagerDuty, type PagerDutyEventRecord, type PagerDutyIncident } from "./pagerduty.ts";
import { loadRotationLambda, type RotationLambda, type RotationRecord } from "./rotation.ts";
import { type CallContext, readOnlyOperations, SecretsManager } from "./secrets-manager.ts";
import { queryErrorXml, Sns, type SnsMessageRecord } from "./sns.ts";
import { Sqs, type SqsQueueSnapshot } from "./sqs.ts";

export type { CloudTrailRecord, SandboxIdentity } from "./cloudtrail.ts";
export type { EcsDeploymentRecord } from "./ecs.ts";
export type { FaultRule, FaultTarget } from "./faults.ts";
export type { PagerDutyEventRecord, PagerDutyIncident } from "./pagerduty.ts";
export type { RotationLambda, RotationRecord } from "./rotation.ts";
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
}

export interface Sandbox {
  /** "http://127.0.0.1:PORT": one port serves every AWS service and PagerDuty. */
  endpoint: string;
  port: number;
  region: string;
  accountId: string;
  /** AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, PAGERDUTY_EVENTS_URL, ... */
  env: Record<string, string>;
  faults: { inject(rule: FaultRule): void; clear(): void };
  /** Oldest first. */
  cloudTrailRecords(): CloudTrailRecord[];
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

const secretsManagerTarget = "secretsmanager.";
/** SDK v3 sends "CloudTrail_20131101.<Op>"; botocore (the AWS CLI) the long form with the namespace. */
const cloudTrailTarget = /^(?:com\.amazonaws\.cloudtrail\.v20131101\.)?CloudTrail_20131101\.(\w+)$/;
const sqsTarget = "AmazonSQS.";
const ecsTarget = "AmazonEC2ContainerServiceV20141113.";

/** SQS calls CloudTrail logs as management events; the message calls are data events. */
const sqsManagementOperations = new Set([
  "CreateQueue",
  "DeleteQueue",
  "ListQueues",
  "GetQueueUrl",
  "GetQueueAttributes",
  "SetQueueAttributes",
  "PurgeQueue",
]);

/** The throttling and server error codes each AWS service answers with. */
const faultCodes: Record<string, { throttle: string; server: string }> = {
  secretsmanager: { throttle: "ThrottlingException", server: "InternalServiceError" },
  cloudtrail: { throttle: "ThrottlingException", server: "InternalFailure" },
  sqs: { throttle: "ThrottlingException", server: "InternalFailure" },
  sns: { throttle: "Throttling", server: "InternalFailure" },
  ecs: { throttle: "ThrottlingException", server: "ServerException" },
};

/** Starts the sandbox on 127.0.0.1: Secrets Manager, CloudTrail, SNS, SQS and PagerDuty on one port. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const region = options.region ?? "us-east-1";
  const accountId = options.accountId ?? "111122223333";
  const identities = new Map<string, SandboxIdentity>([[defaultAccessKeyId, defaultIdentity]]);
  for (const identity of options.identities ?? []) identities.set(identity.accessKeyId, identity);

  const trail = new Trail(region, accountId);
  const faults = new FaultInjector();
  const lookupLimiter = new RateLimiter(options.lookupEventsPerSecond ?? 2);
  const pagerDuty = new PagerDuty();
  const sns = new Sns(region, accountId);
  let endpoint = "";
  const sqs = new Sqs(() => endpoint, region, accountId);
  const ecs = new Ecs(region, accountId, options.ecsServices);

  const loadedHandlers = new Map<string | RotationLambda, Promise<RotationLambda>>();
  const load = (source: string | RotationLambda) => {
    let loaded = loadedHandlers.get(source);
    if (!loaded) {
      loaded = loadRotationLambda(source);
      loadedHandlers.set(source, loaded);
      // A module that failed to load (not built yet) is tried again on the next RotateSecret.
      loaded.catch(() => loadedHandlers.delete(source));
    }
    return loaded;
  };
  const secretsManager = new SecretsManager({
    region,
    accountId,
    trail,
    rotationTimeoutMs: options.rotationTimeoutMs ?? 30_000,
    rotateAsynchronously: options.rotateAsynchronously ?? false,
    rotationHandler: async (lambdaArn) => {
      const functionName = /:function:([^:]+)/.exec(lambdaArn)?.[1];
      const source =
        options.rotationLambdas?.[lambdaArn] ??
        (functionName ? options.rotationLambdas?.[functionName] : undefined) ??
        options.rotationLambda;
      return source === undefined ? undefined : load(source);
    },
  });

  const identityOf = (request: IncomingMessage): SandboxIdentity | undefined => {
    const authorization = request.headers.authorization ?? "";
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

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    if (url.pathname.startsWith("/_sandbox")) return inspect(request.method ?? "GET", url, body, response);
    if (
      request.method === "POST" &&
      (url.pathname === "/v2/enqueue" || url.pathname === "/v2/change/enqueue")
    ) {
      return servePagerDuty(url.pathname === "/v2/enqueue" ? "enqueue" : "change", body, response);
    }
    const target = String(request.headers["x-amz-target"] ?? "");
    if (target.startsWith(secretsManagerTarget)) {
      return serveJson(
        request,
        response,
        "secretsmanager",
        target.slice(secretsManagerTarget.length),
        body,
        "1.1",
      );
    }
    const cloudTrailOperation = cloudTrailTarget.exec(target)?.[1];
    if (cloudTrailOperation) {
      return serveJson(request, response, "cloudtrail", cloudTrailOperation, body, "1.1");
    }
    if (target.startsWith(sqsTarget)) {
      return serveJson(request, response, "sqs", target.slice(sqsTarget.length), body, "1.0");
    }
    if (target.startsWith(ecsTarget)) {
      return serveJson(request, response, "ecs", target.slice(ecsTarget.length), body, "1.1");
    }
    const contentType = String(request.headers["content-type"] ?? "");
    if (request.method === "POST" && contentType.startsWith("application/x-www-form-urlencoded")) {
      return serveSns(request, response, new URLSearchParams(body));
    }
    response.writeHead(404, { "content-type": "application/json" });
    response.end(JSON.stringify({ message: `the sandbox serves no ${request.method} ${url.pathname}` }));
  }

  /** Applies an injected fault; true when the request was answered (or dropped) by it. */
  async function applyFault(
    target: FaultTarget,
    operation: string,
    response: ServerResponse,
    answer: (rule: FaultRule) => void,
  ): Promise<boolean> {
    const rule = faults.take(target, operation);
    if (!rule) return false;
    if (rule.kind === "latency") {
      await delay(rule.latencyMs ?? 1000);
      return false;
    }
    if (rule.kind === "drop") {
      response.socket?.destroy();
      return true;
    }
    answer(rule);
    return true;
  }

  async function serveJson(
    request: IncomingMessage,
    response: ServerResponse,
    service: "secretsmanager" | "cloudtrail" | "sqs" | "ecs",
    operation: string,
    body: string,
    jsonVersion: "1.0" | "1.1",
  ): Promise<void> {
    const requestId = randomUUID();
    const identity = identityOf(request);
    const contentType = `application/x-amz-json-${jsonVersion}`;
    const sendError = (error: AwsServiceError) => {
      const headers: Record<string, string> = {
        "content-type": contentType,
        "x-amzn-requestid": requestId,
        "x-amzn-errortype": error.code,
      };
      if (service === "sqs") {
        headers["x-amzn-query-error"] =
          `${error.queryCode ?? error.code.replace(/^.*#/, "")};${error.status >= 500 ? "Receiver" : "Sender"}`;
      }
      response.writeHead(error.status, headers);
      response.end(JSON.stringify({ __type: error.code, message: error.message }));
    };
    let input: Record<string, unknown>;
    try {
      input = body.trim() === "" ? {} : (JSON.parse(body) as Record<string, unknown>);
    } catch {
      return sendError(
        new AwsServiceError("SerializationException", "Start of structure or map found where not expected."),
      );
    }
    const context: CallContext = {};
    const record = (error?: AwsServiceError, output?: Record<string, unknown>) => {
      if (!identity) return;
      trail.recordCall({
        identity,
        userAgent: String(request.headers["user-agent"] ?? ""),
        eventSource: `${service}.amazonaws.com`,
        eventName: operation,
        requestParameters: requestParametersOf(service, input),
        responseElements:
          error || !output
            ? null
            : service === "secretsmanager"
              ? SecretsManager.responseElements(operation, output)
              : null,
        readOnly: isReadOnly(service, operation),
        errorCode: error ? error.code.replace(/^.*#/, "") : undefined,
        errorMessage: error?.message,
        requestId,
        category: service === "sqs" && !sqsManagementOperations.has(operation) ? "Data" : "Management",
        resource: context.secretArn
          ? { type: "AWS::SecretsManager::Secret", name: context.secretArn }
          : service === "sqs" && sqs.queueArnOf(input)
            ? { type: "AWS::SQS::Queue", name: sqs.queueArnOf(input)! }
            : undefined,
      });
    };
    const faulted = await applyFault(service, operation, response, (rule) => {
      const codes = faultCodes[service]!;
      const error =
        rule.kind === "throttle"
          ? new AwsServiceError(codes.throttle, "Rate exceeded", 400)
          : new AwsServiceError(
              codes.server,
              "We encountered an internal error. Please try again.",
              rule.status ?? 500,
            );
      record(error);
      sendError(error);
    });
    if (faulted) return;
    if (!identity) {
      return sendError(
        new AwsServiceError("MissingAuthenticationTokenException", "Missing Authentication Token", 403),
      );
    }
    try {
      let output: Record<string, unknown>;
      if (service === "secretsmanager") {
        output = await secretsManager.handle(operation, input, context);
      } else if (service === "cloudtrail") {
        if (operation !== "LookupEvents") {
          throw new AwsServiceError(
            "UnknownOperationException",
            `The sandbox does not implement ${operation}.`,
          );
        }
        if (!lookupLimiter.tryTake()) throw new AwsServiceError("ThrottlingException", "Rate exceeded");
        output = trail.lookupEvents(input);
      } else if (service === "ecs") {
        output = ecs.handle(operation, input);
      } else {
        output = await sqs.handle(operation, input);
      }
      record(undefined, output);
      for (const implied of context.impliedCalls ?? []) {
        trail.recordCall({
          identity,
          userAgent: String(request.headers["user-agent"] ?? ""),
          eventSource: "secretsmanager.amazonaws.com",
          eventName: implied.eventName,
          requestParameters: implied.requestParameters,
          responseElements: null,
          readOnly: true,
          errorCode: implied.errorCode,
          errorMessage: implied.errorMessage,
          requestId,
          resource: implied.secretArn
            ? { type: "AWS::SecretsManager::Secret", name: implied.secretArn }
            : undefined,
        });
      }
      if (service === "secretsmanager") await secretsManager.afterCall(context);
      response.writeHead(200, { "content-type": contentType, "x-amzn-requestid": requestId });
      response.end(JSON.stringify(output));
    } catch (error) {
      const serviceError =
        error instanceof AwsServiceError
          ? error
          : new AwsServiceError("InternalServiceError", `sandbox failure: ${describeError(error)}`, 500);
      record(serviceError);
      sendError(serviceError);
    }
  }

  async function serveSns(
    request: IncomingMessage,
    response: ServerResponse,
    params: URLSearchParams,
  ): Promise<void> {
    const requestId = randomUUID();
    const action = params.get("Action") ?? "";
    const identity = identityOf(request);
    const sendError = (error: AwsServiceError) => {
      response.writeHead(error.status, { "content-type": "text/xml", "x-amzn-requestid": requestId });
      response.end(queryErrorXml(error.code, error.message, error.status, requestId));
    };
    const record = (error?: AwsServiceError, resource?: string) => {
      if (!identity) return;
      const topicArn = params.get("TopicArn") ?? params.get("TargetArn") ?? undefined;
      trail.recordCall({
        identity,
        userAgent: String(request.headers["user-agent"] ?? ""),
        eventSource: "sns.amazonaws.com",
        eventName: action,
        // Never the message or subject: only what identifies the call.
        requestParameters:
          action === "CreateTopic" ? { name: params.get("Name") } : topicArn ? { topicArn } : null,
        responseElements: null,
        readOnly: action === "ListTopics" || action === "GetTopicAttributes",
        errorCode: error?.code,
        errorMessage: error?.message,
        requestId,
        category: action === "Publish" ? "Data" : "Management",
        resource: resource ? { type: "AWS::SNS::Topic", name: resource } : undefined,
      });
    };
    const faulted = await applyFault("sns", action, response, (rule) => {
      const error =
        rule.kind === "throttle"
          ? new AwsServiceError("Throttling", "Rate exceeded", 400)
          : new AwsServiceError("InternalFailure", "Internal Error", rule.status ?? 500);
      record(error);
      sendError(error);
    });
    if (faulted) return;
    if (!identity) {
      return sendError(
        new AwsServiceError("MissingAuthenticationToken", "Missing Authentication Token", 403),
      );
    }
    try {
      const result = sns.handle(action, params);
      record(undefined, result.resource);
      response.writeHead(200, { "content-type": "text/xml", "x-amzn-requestid": requestId });
      response.end(result.xml);
    } catch (error) {
      const serviceError =
        error instanceof AwsServiceError
          ? error
          : new AwsServiceError("InternalFailure", describeError(error), 500);
      record(serviceError);
      sendError(serviceError);
    }
  }

  async function servePagerDuty(
    operation: "enqueue" | "change",
    body: string,
    response: ServerResponse,
  ): Promise<void> {
    const kind = operation === "enqueue" ? "alert" : "change";
    const faulted = await applyFault("pagerduty", operation, response, (rule) => {
      const status = rule.kind === "throttle" ? (rule.status ?? 429) : (rule.status ?? 500);
      pagerDuty.recordFaulted(kind, body, status);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(
        JSON.stringify(
          status === 429
            ? {
                status: "throttle event",
                message: "Requests for this service are arriving too quickly. Please retry later.",
              }
            : { status: "error", message: "Internal server error" },
        ),
      );
    });
    if (faulted) {
      if (response.socket?.destroyed) pagerDuty.recordFaulted(kind, body, 0);
      return;
    }
    const result = operation === "enqueue" ? pagerDuty.enqueue(body) : pagerDuty.change(body);
    response.writeHead(result.status, { "content-type": "application/json" });
    response.end(JSON.stringify(result.body));
  }

  function inspect(method: string, url: URL, body: string, response: ServerResponse): void {
    const send = (status: number, value: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(value, null, 2));
    };
    const path = url.pathname.replace(/\/+$/, "");
    if (method === "GET") {
      const views: Record<string, () => unknown> = {
        "/_sandbox": () => ({ endpoint, region, accountId, views: Object.keys(views) }),
        "/_sandbox/health": () => ({ status: "ok", endpoint, region, accountId }),
        "/_sandbox/cloudtrail": () => ({ Records: trail.all() }),
        "/_sandbox/sns": () => sns.recorded(),
        "/_sandbox/sqs": () => sqs.snapshot(),
        "/_sandbox/pagerduty": () => ({ events: pagerDuty.recorded(), incidents: pagerDuty.incidents() }),
        "/_sandbox/pagerduty/events": () => pagerDuty.recorded(),
        "/_sandbox/pagerduty/incidents": () => pagerDuty.incidents(),
        "/_sandbox/rotations": () => secretsManager.rotations(),
        "/_sandbox/ecs": () => ecs.recorded(),
      };
      const view = views[path];
      if (view) send(200, view());
      else send(404, { message: `no such view; try ${Object.keys(views).join(", ")}` });
      return;
    }
    if (path === "/_sandbox/faults" && method === "POST") {
      try {
        faults.inject(JSON.parse(body));
        send(200, { status: "injected" });
        return;
      } catch (error) {
        send(400, { message: describeError(error) });
        return;
      }
    }
    if (path === "/_sandbox/faults" && method === "DELETE") {
      faults.clear();
      send(200, { status: "cleared" });
      return;
    }
    send(405, { message: `${method} ${path} is not supported` });
  }

  const port = await listenOnLoopback(server, options.port);
  endpoint = `http://${LOOPBACK}:${port}`;

  for (const topic of options.snsTopics ?? []) sns.createTopic(topic);
  for (const queue of options.sqsQueues ?? []) sqs.createQueue(queue);

  let gateway: IbGateway | undefined;
  if (options.ibGateway) {
    try {
      gateway = await startIbGateway({
        ...options.ibGateway,
        fault: (operation) => faults.take("ibgateway", operation),
      });
    } catch (error) {
      server.close();
      throw new SandboxError(`cannot start the IB Gateway peer: ${describeError(error)}`, { cause: error });
    }
  }

  const env: Record<string, string> = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: defaultAccessKeyId,
    AWS_SECRET_ACCESS_KEY: "sandbox-secret-access-key-not-verified",
    AWS_EC2_METADATA_DISABLED: "true",
    PAGERDUTY_EVENTS_URL: `${endpoint}/v2/enqueue`,
    PAGERDUTY_CHANGE_EVENTS_URL: `${endpoint}/v2/change/enqueue`,
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
    faults: { inject: (rule) => faults.inject(rule), clear: () => faults.clear() },
    cloudTrailRecords: () => trail.all(),
    snsMessages: () => sns.recorded(),
    pagerDutyEvents: () => pagerDuty.recorded(),
    pagerDutyIncidents: () => pagerDuty.incidents(),
    sqsQueues: () => sqs.snapshot(),
    ecsDeployments: () => ecs.recorded(),
    rotations: () => secretsManager.rotations(),
    rotationsSettled: () => secretsManager.settled(),
    createTopic: (name) => sns.createTopic(name),
    createQueue: (name, attributes) => sqs.createQueue(name, attributes),
    clientConfig: (accessKeyId = defaultAccessKeyId) => ({
      endpoint,
      region,
      credentials: { accessKeyId, secretAccessKey: "sandbox-secret-access-key-not-verified" },
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
        sqs.stop();
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

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function isReadOnly(service: string, operation: string): boolean {
  if (service === "secretsmanager") return readOnlyOperations.has(operation);
  if (service === "cloudtrail") return true;
  if (service === "ecs") return operation.startsWith("Describe");
  return ["ReceiveMessage", "GetQueueUrl", "GetQueueAttributes", "ListQueues"].includes(operation);
}

/** The request as CloudTrail logs it: lower-camel keys, and never a secret value or message body. */
function requestParametersOf(
  service: string,
  input: Record<string, unknown>,
): Record<string, unknown> | null {
  if (service === "secretsmanager") return SecretsManager.requestParameters(input);
  if (service === "ecs") return input;
  if (service === "cloudtrail") {
    const { NextToken: _token, StartTime, EndTime, ...rest } = input;
    // CloudTrail logs its own timestamps in the console format, like DeleteSecret's deletionDate.
    const parameters = {
      ...(lowerCamel(rest) as Record<string, unknown>),
      ...(typeof StartTime === "number" ? { startTime: consoleDate(StartTime * 1000) } : {}),
      ...(typeof EndTime === "number" ? { endTime: consoleDate(EndTime * 1000) } : {}),
    };
    return Object.keys(parameters).length > 0 ? parameters : null;
  }
  const parameters: Record<string, unknown> = {};
  if (typeof input.QueueUrl === "string") parameters.queueUrl = input.QueueUrl;
  if (typeof input.QueueName === "string") parameters.queueName = input.QueueName;
  return Object.keys(parameters).length > 0 ? parameters : null;
}
