import { createHash } from "node:crypto";

/**
 * Builders of CloudTrail records in the shape CloudTrail writes them (see the sample file of one record of
 * each kind): every field a real record has, so the scanner is tested on what it will read.
 */

export const ACCOUNT = "111122223333";
export const FOREIGN_ACCOUNT = "444455556666";
export const REGION = "us-east-1";

export type Json = Record<string, unknown>;

/** The full ARN Secrets Manager gives a secret (with its random suffix). */
export function secretArn(name: string, account = ACCOUNT, region = REGION): string {
  const suffix = createHash("sha256")
    .update(name)
    .digest("base64")
    .replace(/[^A-Za-z0-9]/g, "")
    .slice(0, 6);
  return `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${suffix}`;
}

/** The canonical ARN the scanner reports (no random suffix). */
export function canonicalArn(name: string, account = ACCOUNT, region = REGION): string {
  return `arn:aws:secretsmanager:${region}:${account}:secret:${name}`;
}

export function assumedRole(role: string, session: string, account = ACCOUNT): Json {
  const principal = `AROA${hex(role, 17).toUpperCase()}`;
  return {
    type: "AssumedRole",
    principalId: `${principal}:${session}`,
    arn: `arn:aws:sts::${account}:assumed-role/${role}/${session}`,
    accountId: account,
    accessKeyId: `ASIA${hex(role + session, 16).toUpperCase()}`,
    sessionContext: {
      sessionIssuer: {
        type: "Role",
        principalId: principal,
        arn: `arn:aws:iam::${account}:role/${role}`,
        accountId: account,
        userName: role,
      },
      webIdFederationData: {},
      attributes: { creationDate: "2026-11-06T00:00:00Z", mfaAuthenticated: "false" },
    },
  };
}

export function iamUser(name: string, account = ACCOUNT): Json {
  return {
    type: "IAMUser",
    principalId: `AIDA${hex(name, 16).toUpperCase()}`,
    arn: `arn:aws:iam::${account}:user/${name}`,
    accountId: account,
    accessKeyId: `AKIA${hex(name, 16).toUpperCase()}`,
    userName: name,
  };
}

export function root(account = ACCOUNT): Json {
  return {
    type: "Root",
    principalId: account,
    arn: `arn:aws:iam::${account}:root`,
    accountId: account,
    accessKeyId: "ASIAROOTSESSION00001",
  };
}

export function awsService(service: string): Json {
  return { type: "AWSService", invokedBy: service };
}

export function secretsManagerService(account = ACCOUNT): Json {
  return { accountId: account, invokedBy: "secretsmanager.amazonaws.com" };
}

export const SDK_AGENT =
  "aws-sdk-js/3.600.0 ua/2.1 os/linux#5.10.225 lang/js md/nodejs#22.11.0 api/secrets-manager#3.600.0 exec-env/AWS_Lambda_nodejs22.x";
export const CLI_AGENT =
  "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe";
export const BROWSER_AGENT =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

export interface RecordInput {
  time: string;
  name: string;
  source?: "secretsmanager" | "kms" | "cloudtrail" | "s3" | "ec2" | "sts";
  identity: Json;
  request?: Json | null;
  response?: Json | null;
  additional?: Json;
  sourceIp?: string;
  userAgent?: string;
  vpce?: string;
  errorCode?: string;
  errorMessage?: string;
  readOnly?: boolean;
  eventType?: "AwsApiCall" | "AwsServiceEvent";
  account?: string;
  region?: string;
  /** Distinguishes otherwise identical records (the event id is derived from the whole input). */
  seq?: number;
  extra?: Json;
}

const READ_ONLY = new Set([
  "GetSecretValue",
  "BatchGetSecretValue",
  "DescribeSecret",
  "ListSecrets",
  "ListSecretVersionIds",
  "GetResourcePolicy",
  "GetRandomPassword",
]);

/** One CloudTrail record; the eventID is a stable hash of the input, so a record built twice is a duplicate. */
export function record(input: RecordInput): Json {
  const source = `${input.source ?? "secretsmanager"}.amazonaws.com`;
  const region = input.region ?? REGION;
  const serviceEvent = input.eventType === "AwsServiceEvent";
  const eventId = uuid(JSON.stringify(input));
  const out: Json = {
    eventVersion: "1.11",
    userIdentity: input.identity,
    eventTime: input.time,
    eventSource: source,
    eventName: input.name,
    awsRegion: region,
    sourceIPAddress: input.sourceIp ?? (serviceEvent ? source : "10.0.1.15"),
    userAgent: input.userAgent ?? (serviceEvent ? source : SDK_AGENT),
    requestParameters: input.request === undefined ? null : input.request,
    responseElements: input.response === undefined ? null : input.response,
    requestID: uuid(`${eventId}/request`),
    eventID: eventId,
    readOnly: input.readOnly ?? READ_ONLY.has(input.name),
    eventType: input.eventType ?? "AwsApiCall",
    managementEvent: true,
    recipientAccountId: input.account ?? ACCOUNT,
    eventCategory: "Management",
    tlsDetails: {
      tlsVersion: "TLSv1.3",
      cipherSuite: "TLS_AES_128_GCM_SHA256",
      clientProvidedHostHeader: `${input.source ?? "secretsmanager"}.${region}.amazonaws.com`,
    },
    ...(input.additional ? { additionalEventData: input.additional } : {}),
    ...(input.errorCode
      ? { errorCode: input.errorCode, errorMessage: input.errorMessage ?? input.errorCode }
      : {}),
    ...(input.vpce ? { vpcEndpointId: input.vpce } : {}),
    ...input.extra,
  };
  return out;
}

/** Time `minutes` after `start` (ISO, second precision, as CloudTrail writes it). */
export function at(start: string, minutes: number): string {
  return new Date(Date.parse(start) + minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function hex(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

function uuid(text: string): string {
  const h = hex(text, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
