import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { SandboxIdentity, Trail } from "./cloudtrail.ts";
import type { AwsServiceError } from "./errors.ts";
import type { LambdaDelivery, LambdaInvocation } from "./lambda.ts";
import type { PagerDutyEventRecord } from "./pagerduty.ts";
import type { RotationRecord } from "./rotation.ts";
import type { SandboxOptions } from "./sandbox.ts";

/**
 * The one shape every service of the sandbox has. The sandbox is a list of these (`local/services.ts`): it
 * finds the service a request is for, applies injected faults, checks the caller, calls `handle`, records
 * the call in CloudTrail and answers in the service's wire protocol. Adding a service is one file exporting
 * a `ServiceFactory` plus one line in the registry.
 */
export interface SandboxService {
  /** Its fault-injection target and inspection name, e.g. "secretsmanager". */
  name: string;
  /** How its requests are recognised, decoded and answered; absent for a service that only delivers events. */
  protocol?: WireProtocol;
  /** Every operation it serves: fault rules naming another are refused. */
  operations: readonly string[];
  /** Serves one call; throws AwsServiceError for an API error. What it returns, `protocol.encode` answers. */
  handle?(call: ServiceCall): unknown;
  /** How its calls appear in CloudTrail; absent: they are not recorded (PagerDuty is not AWS). */
  cloudTrail?: CloudTrailMapping;
  /** What an injected fault answers: the service's own throttling and server error codes. */
  faults: { throttle: FaultAnswer; server: FaultAnswer };
  /** Called when an injected fault answered (status) or dropped (status 0) a call instead of the service. */
  recordFault?(call: ServiceCall, status: number): void;
  /** Read-only inspection views, `GET /_sandbox/<key>`. */
  views?: Record<string, () => unknown>;
  /** Control endpoints, `POST /_sandbox/<key>` with a JSON body; throw SandboxError for bad input (400). */
  controls?: Record<string, (body: unknown) => unknown>;
  /** Releases what it holds (long polls, timers) when the sandbox stops. */
  stop?(): void | Promise<void>;
}

/** Creates a service for one sandbox; runs once at start, after the port is known. */
export type ServiceFactory<Service extends SandboxService = SandboxService> = (
  context: ServiceContext,
) => Service | Promise<Service>;

/** What a service may use of the sandbox it runs in. */
export interface ServiceContext {
  region: string;
  accountId: string;
  /** "http://127.0.0.1:PORT". */
  endpoint: string;
  options: SandboxOptions;
  /** The sandbox's CloudTrail: every service records into the same trail. */
  trail: Trail;
  /** Delivers events to the scanner handler (S3 notifications, EventBridge), when one is configured. */
  scanner: LambdaDelivery;
  /** Tells `sandbox.onEvent` listeners what happened (a rotation finished, PagerDuty got an event, ...). */
  emit(event: SandboxEvent): void;
}

/** Something a person watching the sandbox wants to hear about; `vigil sandbox` prints one line each. */
export type SandboxEvent =
  | { type: "rotation"; rotation: RotationRecord }
  | { type: "pagerduty"; event: PagerDutyEventRecord }
  | { type: "invocation"; invocation: LambdaInvocation };

/** One HTTP request as the sandbox read it. */
export interface SandboxRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An answer to write back. A HEAD answer's body is not sent. */
export interface SandboxResponse {
  status: number;
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
}

/** How a service's requests look on the wire and how it answers them. */
export interface WireProtocol {
  /** The operation when the request is for this service; undefined when it is not. */
  operationOf(request: SandboxRequest): string | undefined;
  /** The call's input; throws AwsServiceError for a body that cannot be read (answered, not recorded). */
  decode(request: SandboxRequest, operation: string): Record<string, unknown>;
  encode(output: unknown, requestId: string): SandboxResponse;
  encodeError(error: AwsServiceError, requestId: string): SandboxResponse;
  /** AWS protocols are SigV4-signed: an unsigned call is refused and the caller is recorded in CloudTrail. */
  signed: boolean;
  /** The error code an unsigned call gets (default "MissingAuthenticationTokenException"). */
  missingAuthenticationCode?: string;
}

/** A call to a service, as its handler sees it. */
export interface ServiceCall {
  operation: string;
  input: Record<string, unknown>;
  /** The caller, from the access key the request was signed with; set for every call of a signed protocol. */
  identity: SandboxIdentity | undefined;
  requestId: string;
  userAgent: string;
  /** The resource the call is about, noted by the handler as soon as known (a failed call names it too). */
  resource?: { type: string; name: string };
  /** Further records the call causes: BatchGetSecretValue logs a GetSecretValue per secret, as AWS does. */
  impliedRecords?: ImpliedRecord[];
  /** Runs once the call's CloudTrail record exists, before the answer (RotateSecret starts its rotation). */
  after?: () => Promise<void>;
}

/** A record a call causes besides its own, logged under the same request id. */
export interface ImpliedRecord {
  eventName: string;
  requestParameters: Record<string, unknown>;
  resource?: { type: string; name: string };
  errorCode?: string;
  errorMessage?: string;
}

/** The fields of a service's CloudTrail records that depend on the service. */
export interface CloudTrailMapping {
  /** e.g. "secretsmanager.amazonaws.com". */
  eventSource: string;
  /** Read-only calls have `readOnly: true` (and are never delivered to EventBridge). */
  readOnly(operation: string): boolean;
  /** The request as CloudTrail logs it: lower-camel keys, never a secret value or message body. */
  requestParameters(call: ServiceCall): Record<string, unknown> | null;
  /** Identifiers from a successful call's output (never values); null by default. */
  responseElements?(call: ServiceCall, output: unknown): Record<string, unknown> | null;
  /** Data events are recorded but, like in AWS, never returned by LookupEvents. Default Management. */
  category?(operation: string): "Management" | "Data";
  /** False for a call the trail does not log (default: every call is logged). */
  recorded?(call: ServiceCall): boolean;
  /** The resource when the handler did not note one (`call.resource` wins). */
  resource?(call: ServiceCall): { type: string; name: string } | undefined;
}

/** What an injected throttle or 5xx answers; the rule's `status` overrides `status`. */
export interface FaultAnswer {
  code: string;
  message: string;
  status: number;
}

/** The fault answers of most AWS JSON services: ThrottlingException and a 500 with `serverCode`. */
export function awsFaults(
  serverCode: string,
  throttleCode = "ThrottlingException",
): SandboxService["faults"] {
  return {
    throttle: { code: throttleCode, message: "Rate exceeded", status: 400 },
    server: { code: serverCode, message: "We encountered an internal error. Please try again.", status: 500 },
  };
}

/** A service plus the typed methods `startSandbox` offers in code (its views are untyped JSON). */
export function withApi<Api extends object>(service: SandboxService, api: Api): SandboxService & Api {
  return Object.assign(service, api);
}
