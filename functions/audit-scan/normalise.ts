import { stripArnSuffix } from "./policy.ts";
import { SCANNED_SOURCES } from "./prefilter.ts";

/**
 * One CloudTrail record in the shape every rule reads: whatever path it came by (a trail file, an
 * EventBridge event, a LookupEvents CloudTrailEvent string), with the secret resolved to its canonical ARN
 * and the caller reduced to the identity a policy names. Read-only: events of the same caller share one
 * `principal` object, events from the same place one `origin`, and their strings are shared too.
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

const EMPTY: Record<string, unknown> = Object.freeze({});
const SERVICE_HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com$/;
const SECRET_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

/** A record that passed normaliseRecord's checks, before the AuditEvent is built from it. */
export interface CheckedRecord {
  record: Record<string, unknown>;
  /** `secretsmanager`, `kms` or `cloudtrail`. */
  service: string;
  eventName: string;
  eventId: string;
  timeMs: number;
  account: string;
}

export type CheckResult =
  | { ok: true; checked: CheckedRecord }
  | { ok: false; ignored: true }
  | { ok: false; ignored: false; reason: string };

const IGNORED: NormaliseResult & CheckResult = { ok: false, ignored: true };

/** Turns one raw record (object, EventBridge envelope or CloudTrailEvent string) into an AuditEvent. */
export function normaliseRecord(raw: unknown): NormaliseResult {
  const result = checkRecord(raw);
  return result.ok ? { ok: true, event: auditEventOf(result.checked) } : result;
}

/**
 * normaliseRecord's checks without building the event: what the record is, or why it is malformed. The
 * scanner builds the event only for records a rule subscribes to, so every other record costs this only.
 */
export function checkRecord(raw: unknown): CheckResult {
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
  const eventSource = r.eventSource;
  if (typeof eventSource !== "string") return malformed("eventSource missing");
  const service = SCANNED_SOURCES.get(eventSource);
  if (service === undefined) return IGNORED;
  const eventName = r.eventName;
  if (typeof eventName !== "string" || eventName === "") return malformed("eventName missing");
  const eventId = r.eventID;
  if (typeof eventId !== "string" || eventId === "") return malformed("eventID missing");
  if (typeof r.eventTime !== "string") return malformed("eventTime missing");
  const timeMs = parseEventTime(r.eventTime);
  if (Number.isNaN(timeMs)) return malformed("eventTime is not a date");
  if (typeof r.awsRegion !== "string" || r.awsRegion === "") return malformed("awsRegion missing");
  const identity = r.userIdentity;
  if (identity !== undefined && !isObject(identity)) return malformed("userIdentity is not an object");
  if (!isObjectOrAbsent(r.requestParameters)) return malformed("requestParameters is not an object");
  if (!isObjectOrAbsent(r.responseElements)) return malformed("responseElements is not an object");
  if (!isObjectOrAbsent(r.additionalEventData)) return malformed("additionalEventData is not an object");
  const account = text(r.recipientAccountId) ?? (identity ? text(identity.accountId) : undefined);
  if (!account) return malformed("recipientAccountId missing");
  return { ok: true, checked: { record: r, service, eventName, eventId, timeMs, account } };
}

/** The AuditEvent of a record checkRecord accepted. */
export function auditEventOf(checked: CheckedRecord): AuditEvent {
  const { record: r, service, timeMs, account } = checked;
  const identity = (r.userIdentity ?? EMPTY) as Record<string, unknown>;
  const region = r.awsRegion as string;
  // Absent parts share one frozen empty object: rules only read them.
  const request = (r.requestParameters ?? EMPTY) as Record<string, unknown>;
  const response = (r.responseElements ?? EMPTY) as Record<string, unknown>;
  const additional = (r.additionalEventData ?? EMPTY) as Record<string, unknown>;
  const sourceIp = sharedText(r.sourceIPAddress);
  const event: AuditEvent = {
    eventId: checked.eventId,
    eventName: shared(checked.eventName),
    service,
    eventType: sharedText(r.eventType) ?? "AwsApiCall",
    timeMs,
    time: isoTime(timeMs),
    region: shared(region),
    account: shared(account),
    principal: principalOf(identity, sourceIp, r),
    secretArns:
      service === "secretsmanager" ? secretArnsOf(request, response, additional, region, account) : [],
    origin: originOf(r, sourceIp),
    readOnly: flag(r.readOnly),
    request,
    response,
    additional,
  };
  const errorCode = sharedText(r.errorCode);
  if (errorCode) event.errorCode = errorCode;
  const errorMessage = text(r.errorMessage);
  if (errorMessage) event.errorMessage = errorMessage;
  return event;
}

// A trail file's records come in time order, many to the second: the last time parsed and printed is
// remembered, which saves a Date.parse and a toISOString (and a string kept per event) for most records.
let lastEventTime = "";
let lastEventTimeMs = Number.NaN;
let lastIsoMs = Number.NaN;
let lastIso = "";

function parseEventTime(eventTime: string): number {
  if (eventTime !== lastEventTime) {
    lastEventTime = eventTime;
    lastEventTimeMs = Date.parse(eventTime);
  }
  return lastEventTimeMs;
}

function isoTime(timeMs: number): string {
  if (timeMs !== lastIsoMs) {
    lastIsoMs = timeMs;
    lastIso = new Date(timeMs).toISOString();
  }
  return lastIso;
}

/**
 * Forgets what normalising remembers between records (shared strings, origins, principals, roles of
 * session ARNs, canonical secret ARNs): what follows is normalised as in a fresh process. For tests that
 * check the remembering changes nothing.
 */
export function forgetRemembered(): void {
  sharedStrings.clear();
  origins.clear();
  principals.clear();
  assumedRoles.clear();
  canonicalArns.clear();
  lastEventTime = "";
  lastEventTimeMs = Number.NaN;
  lastIsoMs = Number.NaN;
  lastIso = "";
}

/** The canonical ARN of a secret named by name, partial ARN or full ARN, in the event's region and account. */
export function canonicalSecretArn(secretId: string, region: string, account: string): string {
  const match = SECRET_ARN.exec(secretId);
  if (match) return stripArnSuffix(secretId);
  return `arn:aws:secretsmanager:${region}:${account}:secret:${secretId}`;
}

/**
 * The entries each of the scanner's caches may hold: a bound, not a history. A full cache starts again
 * empty, which costs only what the cache saves.
 */
export const CACHE_ENTRIES = 10_000;

/** Stores value under key in a cache bounded by CACHE_ENTRIES; returns value. */
export function remember<K, V>(cache: Map<K, V>, key: K, value: V): V {
  if (cache.size >= CACHE_ENTRIES) cache.clear();
  cache.set(key, value);
  return value;
}

const assumedRoles = new Map<string, { role: string; session?: string } | undefined>();

/** roleOfAssumedRoleArn, remembered: a role's sessions repeat their ARN over thousands of records. */
function cachedRoleOfAssumedRoleArn(arn: string): { role: string; session?: string } | undefined {
  let role = assumedRoles.get(arn);
  if (role === undefined && !assumedRoles.has(arn)) {
    // Sessions come and go.
    role = remember(assumedRoles, arn, roleOfAssumedRoleArn(arn));
  }
  return role;
}

/** The IAM role ARN of an STS assumed-role ARN (`arn:aws:sts::A:assumed-role/ROLE/SESSION`). */
export function roleOfAssumedRoleArn(arn: string): { role: string; session?: string } | undefined {
  const match = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)(?:\/(.+))?$/.exec(arn);
  if (!match) return undefined;
  const [, partition, accountId, role, session] = match;
  return { role: `arn:${partition}:iam::${accountId}:role/${role}`, ...(session ? { session } : {}) };
}

/** A principal handed out before, with what it was made of, by the identity's ARN (else principalId). */
interface RememberedPrincipal {
  type: string | undefined;
  invokedBy: string | undefined;
  arn: string | undefined;
  principalId: string | undefined;
  issuerArn: string | undefined;
  accountId: string | undefined;
  accessKeyId: string | undefined;
  /** What of the source address it depends on: whether it is a service's host, and (a service without invokedBy) the address itself. */
  serviceHost: boolean;
  serviceAddress: string | undefined;
  fromConsole: boolean;
  /** The user agent, for the root user only (a browser's means a console session). */
  rootAgent: string | undefined;
  mfa: boolean;
  principal: Principal;
}
const principals = new Map<string, RememberedPrincipal>();

/**
 * Who made the call. A session's calls repeat its identity exactly, so the principal made for the last
 * call with the same ARN is handed out again when everything else it is made of matches too (events only
 * read it): a few comparisons instead of building it, and one object for a batch's thousands of events.
 */
function principalOf(
  identity: Record<string, unknown>,
  sourceIp: string | undefined,
  record: Record<string, unknown>,
): Principal {
  const type = text(identity.type);
  const invokedBy = text(identity.invokedBy);
  const arn = text(identity.arn);
  const principalId = text(identity.principalId);
  const issuerArn = type === "AssumedRole" ? issuerArnOf(identity) : undefined;
  const accountId = text(identity.accountId);
  const accessKeyId = text(identity.accessKeyId);
  const serviceHost = isServiceHost(sourceIp);
  const serviceAddress =
    (type ?? (invokedBy ? "AWSService" : "")) === "AWSService" && !invokedBy ? sourceIp : undefined;
  const fromConsole = flag(record.sessionCredentialFromConsole);
  const rootAgent = type === "Root" ? text(record.userAgent) : undefined;
  const mfa = flag(mfaAuthenticated(identity));
  const key = arn ?? principalId ?? "";
  const known = principals.get(key);
  if (
    known !== undefined &&
    known.type === type &&
    known.invokedBy === invokedBy &&
    known.arn === arn &&
    known.principalId === principalId &&
    known.issuerArn === issuerArn &&
    known.accountId === accountId &&
    known.accessKeyId === accessKeyId &&
    known.serviceHost === serviceHost &&
    known.serviceAddress === serviceAddress &&
    known.fromConsole === fromConsole &&
    known.rootAgent === rootAgent &&
    known.mfa === mfa
  )
    return known.principal;
  const principal = principalFrom(identity, sourceIp, record);
  remember(principals, key, {
    type,
    invokedBy,
    arn,
    principalId,
    issuerArn,
    accountId,
    accessKeyId,
    serviceHost,
    serviceAddress,
    fromConsole,
    rootAgent,
    mfa,
    principal,
  });
  return principal;
}

function issuerArnOf(identity: Record<string, unknown>): string | undefined {
  const context = isObject(identity.sessionContext) ? identity.sessionContext : EMPTY;
  const issuer = isObject(context.sessionIssuer) ? context.sessionIssuer : EMPTY;
  return text(issuer.arn);
}

function principalFrom(
  identity: Record<string, unknown>,
  sourceIp: string | undefined,
  record: Record<string, unknown>,
): Principal {
  const invokedBy = sharedText(identity.invokedBy);
  const type = sharedText(identity.type) ?? (invokedBy ? "AWSService" : "Unknown");
  const arn = text(identity.arn);
  let id: string;
  let session: string | undefined;
  if (type === "AssumedRole") {
    const fromArn = arn ? cachedRoleOfAssumedRoleArn(arn) : undefined;
    // The issuer's ARN keeps the role's path (role/service-role/x); the STS ARN drops it.
    id = issuerArnOf(identity) ?? fromArn?.role ?? arn ?? text(identity.principalId) ?? "unknown";
    session = fromArn?.session ?? text(identity.principalId)?.split(":")[1];
  } else if (type === "AWSService") {
    id = invokedBy ?? sourceIp ?? "aws-service";
  } else if (type === "AWSAccount") {
    id = `arn:aws:iam::${text(identity.accountId) ?? "unknown"}:root`;
  } else {
    id = arn ?? text(identity.principalId) ?? invokedBy ?? "unknown";
  }
  const accountId = sharedText(identity.accountId);
  const accessKeyId = sharedText(identity.accessKeyId);
  const isRoot = type === "Root";
  // Built field by field (no spreads: this runs for every record), in the order the finding details show.
  const principal: Principal = { id: shared(id), type } as Principal;
  if (accountId) principal.accountId = accountId;
  if (session) principal.session = session;
  if (invokedBy) principal.invokedBy = invokedBy;
  principal.viaService = type === "AWSService" || isServiceHost(invokedBy) || isServiceHost(sourceIp);
  principal.isRoot = isRoot;
  principal.console =
    flag(record.sessionCredentialFromConsole) ||
    (isRoot && /Mozilla\/|AWS Internal|console\.amazonaws\.com/.test(text(record.userAgent) ?? ""));
  principal.mfa = flag(mfaAuthenticated(identity));
  if (accessKeyId) principal.accessKeyId = accessKeyId;
  return principal;
}

function mfaAuthenticated(identity: Record<string, unknown>): unknown {
  const context = identity.sessionContext;
  if (!isObject(context) || !isObject(context.attributes)) return undefined;
  return context.attributes.mfaAuthenticated;
}

/** True for an AWS service's host name (`secretsmanager.amazonaws.com`), as CloudTrail writes for calls it made. */
function isServiceHost(host: string | undefined): boolean {
  return host?.endsWith(".amazonaws.com") === true && SERVICE_HOST.test(host);
}

/** An origin handed out before, with what it was made of, by user agent ("" for none). */
interface RememberedOrigin {
  sourceIp: string | undefined;
  vpcEndpointId: string | undefined;
  tlsVersion: string | undefined;
  cipherSuite: string | undefined;
  host: string | undefined;
  origin: Origin;
}
const origins = new Map<string, RememberedOrigin>();

/**
 * Where the call came from. Calls from one place repeat it exactly, so the origin made for the last call
 * with the same user agent is handed out again when the rest matches too (events only read it): one
 * lookup instead of one per field, and one object for a batch's thousands of events.
 */
function originOf(record: Record<string, unknown>, sourceIp: string | undefined): Origin {
  const tls = isObject(record.tlsDetails) ? record.tlsDetails : EMPTY;
  const vpcEndpointId = text(record.vpcEndpointId);
  const userAgent = text(record.userAgent);
  const tlsVersion = text(tls.tlsVersion);
  const cipherSuite = text(tls.cipherSuite);
  const host = text(tls.clientProvidedHostHeader);
  const known = origins.get(userAgent ?? "");
  if (
    known !== undefined &&
    known.sourceIp === sourceIp &&
    known.vpcEndpointId === vpcEndpointId &&
    known.tlsVersion === tlsVersion &&
    known.cipherSuite === cipherSuite &&
    known.host === host
  )
    return known.origin;
  const origin: Origin = {};
  if (sourceIp) origin.sourceIp = sourceIp;
  if (vpcEndpointId) origin.vpcEndpointId = shared(vpcEndpointId);
  if (userAgent) origin.userAgent = shared(userAgent);
  if (tlsVersion) origin.tlsVersion = shared(tlsVersion);
  if (cipherSuite) origin.cipherSuite = shared(cipherSuite);
  if (host) origin.host = shared(host);
  remember(origins, origin.userAgent ?? "", {
    sourceIp,
    vpcEndpointId: origin.vpcEndpointId,
    tlsVersion: origin.tlsVersion,
    cipherSuite: origin.cipherSuite,
    host: origin.host,
    origin,
  });
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
  const ids: string[] = [];
  const add = (value: unknown) => {
    if (typeof value !== "string" || value === "") return;
    const arn = cachedCanonicalArn(value, region, account);
    if (!ids.includes(arn)) ids.push(arn);
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
  // The array push grew has room for 17: an event in a judging batch keeps one of its own size instead.
  return ids.length === 1 ? [ids[0] as string] : ids;
}

const canonicalArns = new Map<string, { region: string; account: string; arn: string }>();

/**
 * canonicalSecretArn, remembered for recent secret ids: record after record names the same few secrets,
 * and handing out one string per secret saves building it again and makes later lookups by it cheap.
 */
function cachedCanonicalArn(secretId: string, region: string, account: string): string {
  const known = canonicalArns.get(secretId);
  if (known && known.region === region && known.account === account) return known.arn;
  // Bounded against a flood of made-up names; a trail names far fewer secrets.
  return remember(canonicalArns, secretId, {
    region,
    account,
    arn: canonicalSecretArn(secretId, region, account),
  }).arn;
}

/** A CloudTrail boolean: true, "true" (any case); anything else is false. */
function flag(value: unknown): boolean {
  return value === true || (typeof value === "string" && value.toLowerCase() === "true");
}

/**
 * One string per distinct value for the fields that repeat from record to record (names, roles, user agents,
 * addresses): JSON.parse gives every record its own copies, and a judging batch holds thousands of events,
 * which the garbage collector copies while they live. A shared string also keeps its hash for later lookups.
 */
const sharedStrings = new Map<string, string>();

function shared(value: string): string {
  const known = sharedStrings.get(value);
  if (known !== undefined) return known;
  // A flood of distinct values only costs the sharing.
  return remember(sharedStrings, value, value);
}

function sharedText(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? shared(value) : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** requestParameters and friends: an object, or absent (undefined or null). */
function isObjectOrAbsent(value: unknown): boolean {
  return value === undefined || value === null || isObject(value);
}

function malformed(reason: string): NormaliseResult & CheckResult {
  return { ok: false, ignored: false, reason };
}
