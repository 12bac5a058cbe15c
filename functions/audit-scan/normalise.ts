import { stripArnSuffix } from "./policy.ts";

/**
 * One CloudTrail record in the shape every rule reads: whatever path it came by (a trail file, an
 * EventBridge event, a LookupEvents CloudTrailEvent string), with the secret resolved to its canonical ARN
 * and the caller reduced to the identity a policy names.
 */
export interface AuditEvent {
  eventId: string;
  eventName: string;
  /** `secretsmanager`, `kms` or `cloudtrail` (the part before `.amazonaws.com`). */
  service: string;
  /** `AwsApiCall`, `AwsServiceEvent`, ... */
  eventType: string;
  timeMs: number;
  time: string;
  region: string;
  /** The account whose trail recorded the event (recipientAccountId). */
  account: string;
  principal: Principal;
  /** Canonical secret ARNs (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`, without the random suffix). */
  secretArns: string[];
  origin: Origin;
  readOnly: boolean;
  errorCode?: string;
  errorMessage?: string;
  request: Record<string, unknown>;
  response: Record<string, unknown>;
  additional: Record<string, unknown>;
}

/** Who made the call, reduced to what a policy names. */
export interface Principal {
  /** The policy identity: role ARN for assumed roles, user/root ARN, or the service name for AWS services. */
  id: string;
  /** userIdentity.type (`AssumedRole`, `IAMUser`, `Root`, `AWSService`, `AWSAccount`, `FederatedUser`, ...). */
  type: string;
  accountId?: string;
  /** The assumed-role session name (kept as detail; the role is what rules compare). */
  session?: string;
  /** The AWS service that made the call on the principal's behalf (`invokedBy`), if any. */
  invokedBy?: string;
  /** True for calls made by an AWS service itself or on the principal's behalf by one. */
  viaService: boolean;
  isRoot: boolean;
  /** Console sign-in session (sessionCredentialFromConsole, or a browser user agent for root). */
  console: boolean;
  mfa: boolean;
  accessKeyId?: string;
}

/** Where the call came from. */
export interface Origin {
  sourceIp?: string;
  vpcEndpointId?: string;
  userAgent?: string;
  tlsVersion?: string;
  cipherSuite?: string;
  host?: string;
}

export type NormaliseResult =
  | { ok: true; event: AuditEvent }
  /** A record of a service the scanner does not read: not an error. */
  | { ok: false; ignored: true }
  | { ok: false; ignored: false; reason: string };

const SERVICES = new Set(["secretsmanager.amazonaws.com", "kms.amazonaws.com", "cloudtrail.amazonaws.com"]);
const SERVICE_HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com$/;
const SECRET_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

/** Turns one raw record (object, EventBridge envelope or CloudTrailEvent string) into an AuditEvent. */
export function normaliseRecord(raw: unknown): NormaliseResult {
  let record = raw;
  if (typeof record === "string") {
    try {
      record = JSON.parse(record);
    } catch {
      return malformed("not JSON");
    }
  }
  if (!isObject(record)) return malformed(`not an object (${record === null ? "null" : typeof record})`);
  // EventBridge "AWS API Call via CloudTrail" (and service events) wrap the record in `detail`.
  if (isObject(record.detail) && typeof record["detail-type"] === "string") record = record.detail;
  const r = record as Record<string, unknown>;
  if (typeof r.eventSource !== "string") return malformed("eventSource missing");
  if (!SERVICES.has(r.eventSource)) return { ok: false, ignored: true };
  if (typeof r.eventName !== "string" || r.eventName === "") return malformed("eventName missing");
  if (typeof r.eventID !== "string" || r.eventID === "") return malformed("eventID missing");
  if (typeof r.eventTime !== "string") return malformed("eventTime missing");
  const timeMs = Date.parse(r.eventTime);
  if (Number.isNaN(timeMs)) return malformed("eventTime is not a date");
  if (typeof r.awsRegion !== "string" || r.awsRegion === "") return malformed("awsRegion missing");
  if (r.userIdentity !== undefined && !isObject(r.userIdentity))
    return malformed("userIdentity is not an object");
  for (const field of ["requestParameters", "responseElements", "additionalEventData"] as const) {
    if (r[field] !== undefined && r[field] !== null && !isObject(r[field])) {
      return malformed(`${field} is not an object`);
    }
  }
  const identity = (r.userIdentity ?? {}) as Record<string, unknown>;
  const account = text(r.recipientAccountId) ?? text(identity.accountId);
  if (!account) return malformed("recipientAccountId missing");
  const region = r.awsRegion;
  const request = (r.requestParameters ?? {}) as Record<string, unknown>;
  const response = (r.responseElements ?? {}) as Record<string, unknown>;
  const additional = (r.additionalEventData ?? {}) as Record<string, unknown>;
  const service = r.eventSource.slice(0, r.eventSource.indexOf("."));
  const sourceIp = text(r.sourceIPAddress);
  const event: AuditEvent = {
    eventId: r.eventID,
    eventName: r.eventName,
    service,
    eventType: text(r.eventType) ?? "AwsApiCall",
    timeMs,
    time: new Date(timeMs).toISOString(),
    region,
    account,
    principal: principalOf(identity, sourceIp, r),
    secretArns:
      service === "secretsmanager" ? secretArnsOf(request, response, additional, region, account) : [],
    origin: originOf(r, sourceIp),
    readOnly: flag(r.readOnly),
    request,
    response,
    additional,
  };
  const errorCode = text(r.errorCode);
  if (errorCode) event.errorCode = errorCode;
  const errorMessage = text(r.errorMessage);
  if (errorMessage) event.errorMessage = errorMessage;
  return { ok: true, event };
}

/** The canonical ARN of a secret named by name, partial ARN or full ARN, in the event's region and account. */
export function canonicalSecretArn(secretId: string, region: string, account: string): string {
  const match = SECRET_ARN.exec(secretId);
  if (match) return stripArnSuffix(secretId);
  return `arn:aws:secretsmanager:${region}:${account}:secret:${secretId}`;
}

/** The IAM role ARN of an STS assumed-role ARN (`arn:aws:sts::A:assumed-role/ROLE/SESSION`). */
export function roleOfAssumedRoleArn(arn: string): { role: string; session?: string } | undefined {
  const match = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)(?:\/(.+))?$/.exec(arn);
  if (!match) return undefined;
  const [, partition, accountId, role, session] = match;
  return { role: `arn:${partition}:iam::${accountId}:role/${role}`, ...(session ? { session } : {}) };
}

function principalOf(
  identity: Record<string, unknown>,
  sourceIp: string | undefined,
  record: Record<string, unknown>,
): Principal {
  const type = text(identity.type) ?? (text(identity.invokedBy) ? "AWSService" : "Unknown");
  const arn = text(identity.arn);
  const invokedBy = text(identity.invokedBy);
  const context = isObject(identity.sessionContext) ? identity.sessionContext : {};
  const issuer = isObject(context.sessionIssuer) ? context.sessionIssuer : {};
  const attributes = isObject(context.attributes) ? context.attributes : {};
  let id: string;
  let session: string | undefined;
  if (type === "AssumedRole") {
    const fromArn = arn ? roleOfAssumedRoleArn(arn) : undefined;
    // The issuer's ARN keeps the role's path (role/service-role/x); the STS ARN drops it.
    id = text(issuer.arn) ?? fromArn?.role ?? arn ?? text(identity.principalId) ?? "unknown";
    session = fromArn?.session ?? text(identity.principalId)?.split(":")[1];
  } else if (type === "AWSService") {
    id = invokedBy ?? sourceIp ?? "aws-service";
  } else if (type === "AWSAccount") {
    id = `arn:aws:iam::${text(identity.accountId) ?? "unknown"}:root`;
  } else {
    id = arn ?? text(identity.principalId) ?? invokedBy ?? "unknown";
  }
  const accountId = text(identity.accountId);
  const accessKeyId = text(identity.accessKeyId);
  const viaService =
    type === "AWSService" ||
    (invokedBy !== undefined && SERVICE_HOST.test(invokedBy)) ||
    isServiceHost(sourceIp);
  const isRoot = type === "Root";
  const browser = /Mozilla\/|AWS Internal|console\.amazonaws\.com/.test(text(record.userAgent) ?? "");
  return {
    id,
    type,
    ...(accountId ? { accountId } : {}),
    ...(session ? { session } : {}),
    ...(invokedBy ? { invokedBy } : {}),
    viaService,
    isRoot,
    console: flag(record.sessionCredentialFromConsole) || (isRoot && browser),
    mfa: flag(attributes.mfaAuthenticated),
    ...(accessKeyId ? { accessKeyId } : {}),
  };
}

function isServiceHost(sourceIp: string | undefined): boolean {
  return sourceIp !== undefined && SERVICE_HOST.test(sourceIp);
}

function originOf(record: Record<string, unknown>, sourceIp: string | undefined): Origin {
  const tls = isObject(record.tlsDetails) ? record.tlsDetails : {};
  const origin: Origin = {};
  if (sourceIp) origin.sourceIp = sourceIp;
  const vpcEndpointId = text(record.vpcEndpointId);
  if (vpcEndpointId) origin.vpcEndpointId = vpcEndpointId;
  const userAgent = text(record.userAgent);
  if (userAgent) origin.userAgent = userAgent;
  const tlsVersion = text(tls.tlsVersion);
  if (tlsVersion) origin.tlsVersion = tlsVersion;
  const cipherSuite = text(tls.cipherSuite);
  if (cipherSuite) origin.cipherSuite = cipherSuite;
  const host = text(tls.clientProvidedHostHeader);
  if (host) origin.host = host;
  return origin;
}

/** Every secret the call names: secretId, BatchGetSecretValue's list, the response ARN, service events'. */
function secretArnsOf(
  request: Record<string, unknown>,
  response: Record<string, unknown>,
  additional: Record<string, unknown>,
  region: string,
  account: string,
): string[] {
  const ids = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === "string" && value !== "") ids.add(canonicalSecretArn(value, region, account));
  };
  // A response ARN is authoritative (it resolves a name the caller abbreviated); the request is the fallback.
  const responseArn = text(response.arn) ?? text(response.aRN) ?? text(response.ARN);
  if (responseArn && SECRET_ARN.test(responseArn)) add(responseArn);
  else add(request.secretId ?? request.name ?? request.SecretId);
  if (Array.isArray(request.secretIdList)) request.secretIdList.forEach(add);
  if (Array.isArray(response.secretValues)) {
    for (const value of response.secretValues) if (isObject(value)) add(value.aRN ?? value.arn ?? value.ARN);
  }
  add(additional.SecretId ?? additional.secretId);
  return [...ids];
}

/** A CloudTrail boolean: true, "true" (any case); anything else is false. */
function flag(value: unknown): boolean {
  return value === true || (typeof value === "string" && value.toLowerCase() === "true");
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function malformed(reason: string): NormaliseResult {
  return { ok: false, ignored: false, reason };
}

const EVENT_SOURCE_KEY = Buffer.from('"eventSource"');
const SCANNED_SOURCES = [...SERVICES].map((source) => Buffer.from(`"${source}"`));

/**
 * Looks at a record's raw JSON bytes [start, end) and says whether the scanner may need it: false only
 * when its `eventSource` is plainly another service's, so a trail file's majority of other services'
 * records is skipped without JSON.parse. Anything unusual (no eventSource, escapes) answers true, and
 * the normaliser then counts it with its reason.
 */
export function mayBeScanned(bytes: Buffer, start: number, end: number): boolean {
  let from = start;
  for (;;) {
    const key = bytes.indexOf(EVENT_SOURCE_KEY, from);
    if (key < 0 || key >= end) return true;
    let at = key + EVENT_SOURCE_KEY.length;
    while (at < end && isSpace(bytes[at] as number)) at++;
    // `"eventSource"` as a value (an event selector's field name) is not the key.
    if (bytes[at] !== 0x3a) {
      from = key + 1;
      continue;
    }
    at++;
    while (at < end && isSpace(bytes[at] as number)) at++;
    if (bytes[at] !== 0x22) return true;
    const close = bytes.indexOf(0x22, at + 1);
    if (close < 0 || close >= end || bytes[close - 1] === 0x5c) return true;
    for (const source of SCANNED_SOURCES) {
      if (close + 1 - at === source.length && bytes.compare(source, 0, source.length, at, close + 1) === 0)
        return true;
    }
    return false;
  }
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
