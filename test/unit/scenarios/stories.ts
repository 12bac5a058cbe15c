import type { Severity } from "../../../lib/finding.ts";
import {
  ACCOUNT,
  assumedRole,
  at,
  awsService,
  BROWSER_AGENT,
  CLI_AGENT,
  FOREIGN_ACCOUNT,
  iamUser,
  type Json,
  REGION,
  record,
  root,
  SDK_AGENT,
  secretArn,
  secretsManagerService,
} from "./records.ts";

/**
 * The scenario suite's world: a trading firm whose application reads its production secrets every day
 * through a VPC endpoint, and stories of attack, misuse and ordinary work told as the CloudTrail records
 * they leave. The baseline (days 0–21) is the learning period's normal traffic; the stories happen on
 * day 22 (a Tuesday), after learning.
 */

export const START = "2026-11-02T00:00:00Z";
/** 10:00 UTC on the story day (inside the policy's business hours). */
export const DAY = at(START, 22 * 24 * 60 + 10 * 60);
export const NIGHT = at(START, 22 * 24 * 60 + 4 * 60 + 30);
export const VPCE = "vpce-0a1b2c3d4e5f67890";

const rotationFunctionRole = "vigil-prod-rotate";
export const POLICY = `version: 1
learningDays: 14
businessHours: { timezone: America/New_York, days: [mon, tue, wed, thu, fri], from: "07:00", to: "19:00" }
secrets:
  - match: algo-trade/production/*
    sensitivity: critical
    readers:
      - arn:aws:iam::${ACCOUNT}:role/trading-app
      - arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_TradingOps_*
    writers: []
    origins: { vpcEndpoints: [${VPCE}], cidrs: [10.0.0.0/8] }
  - match: algo-trade/canary/*
    canary: true
suppressions:
  - { rule: bulk-retrieval, principal: arn:aws:iam::${ACCOUNT}:role/backup, until: 2027-01-31, reason: nightly backup }
  - { rule: first-seen-reader, principal: arn:aws:iam::${ACCOUNT}:role/backup, until: 2027-01-31, reason: nightly backup }
  - { rule: first-seen-origin, principal: arn:aws:iam::${ACCOUNT}:role/backup, until: 2027-01-31, reason: nightly backup }
`;

export const APP = (session: string) => assumedRole("trading-app", session);
export const REPORTING = (session: string) => assumedRole("reporting", session);
export const OPS = assumedRole("AWSReservedSSO_TradingOps_0a1b2c3d", "carol@example.org");
export const DEV = assumedRole("AWSReservedSSO_Developer_0a1b2c3d", "bob@example.org");
export const ROTATOR = assumedRole(rotationFunctionRole, "vigil-prod-rotate");
export const INTRUDER = iamUser("ci-deploy");
const IBKR = "algo-trade/production/ibkr";
const DB = "algo-trade/production/db";
const REPORTING_DB = "trading/reporting-db";

function appRead(time: string, secret: string, session: string, seq = 0, ip = "10.0.1.15"): Json {
  return record({
    time,
    name: "GetSecretValue",
    identity: APP(session),
    request: { secretId: secret },
    sourceIp: ip,
    vpce: VPCE,
    userAgent: SDK_AGENT,
    seq,
  });
}

/**
 * Days 0–21: the application and the reporting job read their secrets daily, new session names each day;
 * on day 10 the rotate function rotates the reporting database secret.
 */
export function baseline(): Json[] {
  const out: Json[] = databaseRotation(REPORTING_DB, at(START, 10 * 1440 + 3 * 60), {
    token: "70e00000-0000-4000-8000-0000000000aa",
    previous: "cur00000-0000-4000-8000-0000000000aa",
  });
  for (let day = 0; day < 22; day++) {
    const morning = at(START, day * 1440 + 9 * 60);
    out.push(appRead(morning, IBKR, `i-0app-day${day}`));
    out.push(appRead(at(morning, 1), secretArn(DB), `i-0app-day${day}`));
    out.push(
      record({
        time: at(morning, 60),
        name: "GetSecretValue",
        identity: REPORTING(`reporting-${day}`),
        request: { secretId: REPORTING_DB },
        sourceIp: "10.0.4.20",
      }),
    );
  }
  return out;
}

export interface Story {
  name: string;
  records: Json[];
  /** Attack stories: the findings that must be raised (rule and severity). */
  expect?: { rule: string; severity: Severity }[];
}

const read = (identity: Json, secret: string, extra: Partial<Parameters<typeof record>[0]> = {}) =>
  record({ time: DAY, name: "GetSecretValue", identity, request: { secretId: secret }, ...extra });

const write = (
  name: string,
  identity: Json,
  request: Json,
  extra: Partial<Parameters<typeof record>[0]> = {},
) =>
  record({ time: DAY, name, identity, request, sourceIp: "198.51.100.23", userAgent: CLI_AGENT, ...extra });

/** A Secrets Manager service event (RotationStarted, RotationFailed, ...) about secret. */
export const serviceEvent = (name: string, secret: string, time: string, errorMessage?: string) =>
  record({
    time,
    name,
    identity: secretsManagerService(),
    eventType: "AwsServiceEvent",
    additional: { SecretId: secretArn(secret) },
    ...(errorMessage ? { errorCode: "InternalFailure", errorMessage } : {}),
  });

/** The rotate function's calls for one database rotation (createSecret .. finishSecret), as CloudTrail records them. */
export function databaseRotation(
  secret: string,
  start: string,
  options: { token: string; previous: string },
): Json[] {
  const arn = secretArn(secret);
  const fn = (
    name: string,
    request: Json,
    seconds: number,
    extra: Partial<Parameters<typeof record>[0]> = {},
  ) =>
    record({
      time: at(start, seconds / 60),
      name,
      identity: ROTATOR,
      request,
      sourceIp: "10.0.2.20",
      vpce: VPCE,
      userAgent: SDK_AGENT,
      ...extra,
    });
  return [
    serviceEvent("RotationStarted", secret, start),
    fn("DescribeSecret", { secretId: arn }, 1),
    fn("GetSecretValue", { secretId: arn, versionStage: "AWSCURRENT" }, 1),
    fn("GetSecretValue", { secretId: arn, versionId: options.token, versionStage: "AWSPENDING" }, 2, {
      errorCode: "ResourceNotFoundException",
      errorMessage: `Secrets Manager can't find the specified secret value for VersionId: ${options.token}`,
    }),
    fn("GetRandomPassword", { passwordLength: 32, excludeCharacters: ":/@\"'\\" }, 2),
    fn(
      "PutSecretValue",
      { secretId: arn, clientRequestToken: options.token, versionStages: ["AWSPENDING"] },
      3,
      { response: { arn, name: secret, versionId: options.token, versionStages: ["AWSPENDING"] } },
    ),
    fn("DescribeSecret", { secretId: arn }, 10),
    fn("GetSecretValue", { secretId: arn, versionId: options.token, versionStage: "AWSPENDING" }, 11),
    fn("GetSecretValue", { secretId: arn, versionId: options.token, versionStage: "AWSPENDING" }, 20),
    fn("DescribeSecret", { secretId: arn }, 30),
    fn(
      "UpdateSecretVersionStage",
      {
        secretId: arn,
        versionStage: "AWSCURRENT",
        moveToVersionId: options.token,
        removeFromVersionId: options.previous,
      },
      31,
      { response: { arn, name: secret } },
    ),
    serviceEvent("RotationSucceeded", secret, at(start, 32 / 60)),
  ];
}

/** Three hours after the story time: away from the benign stories' rotations (see the order test). */
export const LATER = at(DAY, 180);

/** An intruder's imitation of a rotation: an AWSPENDING write, then AWSCURRENT moved onto it. */
export function imitation(time: string): Json[] {
  const version = "fa4e0000-0000-4000-8000-000000000001";
  return [
    write(
      "PutSecretValue",
      INTRUDER,
      { secretId: secretArn(DB), clientRequestToken: version, versionStages: ["AWSPENDING"] },
      { time, response: { arn: secretArn(DB), versionId: version, versionStages: ["AWSPENDING"] } },
    ),
    write(
      "UpdateSecretVersionStage",
      INTRUDER,
      { secretId: secretArn(DB), versionStage: "AWSCURRENT", moveToVersionId: version },
      { time: at(time, 1) },
    ),
  ];
}

const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

export const ATTACKS: Story[] = [
  {
    name: "stolen application credentials used from the internet with the AWS CLI",
    records: [read(APP("i-0app-day22"), DB, { sourceIp: "203.0.113.50", userAgent: CLI_AGENT })],
    expect: [{ rule: "unexpected-origin", severity: "critical" }],
  },
  {
    name: "a role outside the readers list reads the IBKR credentials",
    records: [read(assumedRole("data-science", "notebook-7"), IBKR, { sourceIp: "10.0.9.9", vpce: VPCE })],
    expect: [{ rule: "unexpected-reader", severity: "critical" }],
  },
  {
    name: "a developer reads the reporting database password for the first time",
    records: [read(DEV, REPORTING_DB, { sourceIp: "10.0.7.7", userAgent: CLI_AGENT })],
    expect: [{ rule: "first-seen-reader", severity: "medium" }],
  },
  {
    name: "a compromised CI user harvests twelve secrets in five minutes",
    records: Array.from({ length: 12 }, (_, i) =>
      read(INTRUDER, `svc/service-${i}/db`, {
        time: at(DAY, i * 0.4),
        sourceIp: "198.51.100.23",
        userAgent: CLI_AGENT,
      }),
    ),
    expect: [{ rule: "bulk-retrieval", severity: "high" }],
  },
  {
    name: "BatchGetSecretValue by filter returns everything tagged production",
    records: [
      write(
        "BatchGetSecretValue",
        INTRUDER,
        { filters: [{ key: "tag-value", values: ["production"] }] },
        { readOnly: true },
      ),
    ],
    expect: [{ rule: "bulk-retrieval", severity: "high" }],
  },
  {
    name: "BatchGetSecretValue with a list of fifteen secrets",
    records: [
      write(
        "BatchGetSecretValue",
        INTRUDER,
        { secretIdList: Array.from({ length: 15 }, (_, i) => `svc/service-${i}/api-key`) },
        { readOnly: true },
      ),
    ],
    expect: [{ rule: "bulk-retrieval", severity: "high" }],
  },
  {
    name: "probing: guessed secret names and refused reads",
    records: [
      ...["prod/db", "prod/admin", "production/password", "db/master", "admin"].map((guess, i) =>
        read(INTRUDER, guess, {
          time: at(DAY, i),
          errorCode: "ResourceNotFoundException",
          errorMessage: "Secrets Manager can't find the specified secret.",
          sourceIp: "198.51.100.23",
        }),
      ),
      read(INTRUDER, IBKR, { time: at(DAY, 6), errorCode: "AccessDenied", sourceIp: "198.51.100.23" }),
    ],
    expect: [{ rule: "access-probing", severity: "medium" }],
  },
  {
    name: "the root user reads the IBKR credentials in the console",
    records: [
      read(root(), IBKR, {
        sourceIp: "192.0.2.91",
        userAgent: BROWSER_AGENT,
        extra: { sessionCredentialFromConsole: "true" },
      }),
    ],
    expect: [{ rule: "root-or-console-read", severity: "critical" }],
  },
  {
    name: "a trading-ops engineer copies the production database password from the console at night",
    records: [
      read(OPS, DB, {
        time: NIGHT,
        sourceIp: "10.0.3.3",
        userAgent: BROWSER_AGENT,
        extra: { sessionCredentialFromConsole: true },
      }),
    ],
    expect: [{ rule: "root-or-console-read", severity: "critical" }],
  },
  {
    name: "another account reads the reporting database password",
    records: [
      read(assumedRole("exfil", "x", FOREIGN_ACCOUNT), secretArn(REPORTING_DB), { sourceIp: "203.0.113.80" }),
    ],
    expect: [{ rule: "cross-account-read", severity: "high" }],
  },
  {
    name: "a developer overwrites the production database password",
    records: [
      write(
        "PutSecretValue",
        DEV,
        { secretId: DB, clientRequestToken: "c0ffee00-0000-4000-8000-000000000001" },
        {
          response: {
            arn: secretArn(DB),
            name: DB,
            versionId: "c0ffee00-0000-4000-8000-000000000001",
            versionStages: ["AWSCURRENT"],
          },
        },
      ),
    ],
    expect: [{ rule: "secret-value-written", severity: "critical" }],
  },
  {
    name: "AWSCURRENT moved to an old version outside any rotation",
    records: [
      write("UpdateSecretVersionStage", INTRUDER, {
        secretId: secretArn(DB),
        versionStage: "AWSCURRENT",
        moveToVersionId: "0ld00000-0000-4000-8000-000000000000",
        removeFromVersionId: "cur00000-0000-4000-8000-000000000000",
      }),
    ],
    expect: [{ rule: "version-stage-moved", severity: "critical" }],
  },
  {
    name: "rotation handed to a Lambda function in another account",
    records: [
      write("RotateSecret", INTRUDER, {
        secretId: secretArn(REPORTING_DB),
        rotationLambdaARN: `arn:aws:lambda:${REGION}:${FOREIGN_ACCOUNT}:function:collector`,
        rotationRules: { automaticallyAfterDays: 1000 },
        rotateImmediately: false,
      }),
    ],
    expect: [{ rule: "rotation-changed", severity: "critical" }],
  },
  {
    name: "rotation of the IBKR secret cancelled",
    records: [
      write(
        "CancelRotateSecret",
        INTRUDER,
        { secretId: IBKR },
        { response: { aRN: secretArn(IBKR), name: IBKR } },
      ),
    ],
    expect: [{ rule: "rotation-changed", severity: "critical" }],
  },
  {
    name: "resource policy opened to everyone",
    records: [
      write("PutResourcePolicy", INTRUDER, {
        secretId: secretArn(REPORTING_DB),
        resourcePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: "*", Action: "secretsmanager:GetSecretValue", Resource: "*" },
          ],
        }),
        blockPublicPolicy: false,
      }),
    ],
    expect: [{ rule: "resource-policy-exposed", severity: "critical" }],
  },
  {
    name: "resource policy grants a foreign account the production database secret",
    records: [
      write("PutResourcePolicy", INTRUDER, {
        secretId: DB,
        resourcePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { AWS: `arn:aws:iam::${FOREIGN_ACCOUNT}:root` },
              Action: "secretsmanager:GetSecretValue",
              Resource: "*",
            },
          ],
        }),
      }),
    ],
    expect: [{ rule: "resource-policy-exposed", severity: "critical" }],
  },
  {
    name: "the IBKR secret force-deleted",
    records: [
      write("DeleteSecret", INTRUDER, { secretId: secretArn(IBKR), forceDeleteWithoutRecovery: true }),
    ],
    expect: [{ rule: "secret-deleted", severity: "critical" }],
  },
  {
    name: "the reporting database secret scheduled for deletion",
    records: [write("DeleteSecret", INTRUDER, { secretId: REPORTING_DB, recoveryWindowInDays: 7 })],
    expect: [{ rule: "secret-deleted", severity: "high" }],
  },
  {
    name: "the production database secret replicated to a far region",
    records: [
      write("ReplicateSecretToRegions", INTRUDER, {
        secretId: secretArn(DB),
        addReplicaRegions: [{ region: "ap-southeast-3" }],
      }),
    ],
    expect: [{ rule: "secret-replicated", severity: "critical" }],
  },
  {
    name: "the KMS key scheduled for deletion",
    records: [
      write("ScheduleKeyDeletion", INTRUDER, { keyId: KEY, pendingWindowInDays: 7 }, { source: "kms" }),
    ],
    expect: [{ rule: "kms-key-tampering", severity: "high" }],
  },
  {
    name: "the KMS key disabled",
    records: [write("DisableKey", INTRUDER, { keyId: KEY }, { source: "kms" })],
    expect: [{ rule: "kms-key-tampering", severity: "high" }],
  },
  {
    name: "CloudTrail logging stopped",
    records: [
      write(
        "StopLogging",
        INTRUDER,
        { name: `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/main` },
        { source: "cloudtrail" },
      ),
    ],
    expect: [{ rule: "trail-tampering", severity: "critical" }],
  },
  {
    name: "CloudTrail told to record writes only",
    records: [
      write(
        "PutEventSelectors",
        INTRUDER,
        {
          trailName: "main",
          eventSelectors: [{ readWriteType: "WriteOnly", includeManagementEvents: true, dataResources: [] }],
        },
        { source: "cloudtrail" },
      ),
    ],
    expect: [{ rule: "trail-tampering", severity: "high" }],
  },
  {
    name: "the canary is described and read",
    records: [
      write("DescribeSecret", INTRUDER, { secretId: "algo-trade/canary/aws-keys" }, { readOnly: true }),
      read(INTRUDER, "algo-trade/canary/aws-keys", { time: at(DAY, 1), sourceIp: "198.51.100.23" }),
    ],
    expect: [{ rule: "canary-touched", severity: "critical" }],
  },
  {
    name: "a rotation fails at testSecret",
    records: [
      serviceEvent("RotationStarted", REPORTING_DB, DAY),
      serviceEvent(
        "RotationFailed",
        REPORTING_DB,
        at(DAY, 1),
        "Error when executing lambda during testSecret step",
      ),
    ],
    expect: [{ rule: "rotation-failed", severity: "high" }],
  },
  {
    name: "a rotation abandoned",
    records: [serviceEvent("RotationAbandoned", REPORTING_DB, DAY)],
    expect: [{ rule: "rotation-failed", severity: "medium" }],
  },
  {
    name: "an intruder imitates a rotation (pending write, then stage move) without Secrets Manager starting one",
    records: imitation(LATER),
    expect: [
      { rule: "secret-value-written", severity: "critical" },
      { rule: "version-stage-moved", severity: "critical" },
    ],
  },
  {
    name: "the production database secret re-encrypted under another key",
    records: [
      write(
        "UpdateSecret",
        INTRUDER,
        { secretId: DB, kmsKeyId: `arn:aws:kms:${REGION}:${FOREIGN_ACCOUNT}:key/evil` },
        {
          response: { arn: secretArn(DB), name: DB },
        },
      ),
    ],
    expect: [{ rule: "secret-value-written", severity: "critical" }],
  },
];

export const BENIGN: Story[] = [
  {
    name: "the application reads its secrets with a new session name, as every day",
    records: [appRead(DAY, IBKR, "i-0app-day22"), appRead(at(DAY, 1), secretArn(DB), "i-0app-day22")],
  },
  {
    name: "a rolling deploy: thirty tasks read two secrets within two minutes from different addresses",
    records: Array.from({ length: 30 }, (_, task) => [
      appRead(at(DAY, task / 15), IBKR, `ecs-task-${task}`, task, `10.0.${task % 4}.${20 + task}`),
      appRead(at(DAY, task / 15 + 0.01), DB, `ecs-task-${task}`, task, `10.0.${task % 4}.${20 + task}`),
    ]).flat(),
  },
  {
    name: "AWS services read secrets for the account (MSK, Config)",
    records: [
      read(awsService("kafka.amazonaws.com"), secretArn("AmazonMSK_trading/broker"), {
        sourceIp: "kafka.amazonaws.com",
        userAgent: "kafka.amazonaws.com",
      }),
      write(
        "DescribeSecret",
        assumedRole("AWSServiceRoleForConfig", "AWSConfig-Describe"),
        { secretId: secretArn(IBKR) },
        {
          sourceIp: "config.amazonaws.com",
          userAgent: "config.amazonaws.com",
          readOnly: true,
          identity: {
            ...assumedRole("AWSServiceRoleForConfig", "AWSConfig-Describe"),
            invokedBy: "config.amazonaws.com",
          },
        },
      ),
    ],
  },
  {
    name: "KMS Decrypt behind the application's reads",
    records: [
      record({
        time: DAY,
        name: "Decrypt",
        source: "kms",
        identity: { ...APP("i-0app-day22"), invokedBy: "secretsmanager.amazonaws.com" },
        sourceIp: "secretsmanager.amazonaws.com",
        userAgent: "secretsmanager.amazonaws.com",
        request: {
          encryptionContext: { SecretARN: secretArn(IBKR), SecretVersionId: "v1" },
          encryptionAlgorithm: "SYMMETRIC_DEFAULT",
        },
        readOnly: true,
      }),
    ],
  },
  {
    name: "metadata calls: listing and describing secrets, reading resource policies",
    records: [
      write("ListSecrets", DEV, { maxResults: 100 }, { readOnly: true }),
      write("DescribeSecret", DEV, { secretId: DB }, { readOnly: true }),
      write("GetResourcePolicy", DEV, { secretId: DB }, { readOnly: true }),
      write("ListSecretVersionIds", DEV, { secretId: DB }, { readOnly: true }),
    ],
  },
  {
    name: "duplicate and overlapping deliveries of the same reads",
    records: (() => {
      const reads = [appRead(DAY, IBKR, "i-0app-day22", 1), appRead(at(DAY, 1), DB, "i-0app-day22", 2)];
      return [...reads, ...reads, reads[0] as Json];
    })(),
  },
  {
    name: "the rotate function rotates the production database secret (no rotationRoles in the policy)",
    records: databaseRotation(DB, DAY, {
      token: "70e00000-0000-4000-8000-000000000001",
      previous: "cur00000-0000-4000-8000-000000000000",
    }),
  },
  {
    name: "Trading Ops stages new IBKR credentials and the rotate function promotes them",
    records: (() => {
      const staging = `${IBKR}/vigil-staging`;
      const token = "1b4b0000-0000-4000-8000-000000000001";
      const ops = (
        name: string,
        request: Json,
        minute: number,
        extra: Partial<Parameters<typeof record>[0]> = {},
      ) =>
        record({
          time: at(DAY, minute),
          name,
          identity: OPS,
          request,
          sourceIp: "10.0.3.3",
          userAgent: CLI_AGENT,
          ...extra,
        });
      const fn = (
        name: string,
        request: Json,
        seconds: number,
        extra: Partial<Parameters<typeof record>[0]> = {},
      ) =>
        record({
          time: at(DAY, 5 + seconds / 60),
          name,
          identity: ROTATOR,
          request,
          sourceIp: "10.0.2.20",
          vpce: VPCE,
          ...extra,
        });
      return [
        ops("DescribeSecret", { secretId: IBKR }, 0),
        ops("GetSecretValue", { secretId: secretArn(IBKR), versionStage: "AWSCURRENT" }, 0.1),
        ops("CreateSecret", { name: staging, kmsKeyId: "alias/vigil-staging" }, 1, {
          response: { arn: secretArn(staging), name: staging },
        }),
        ops("RotateSecret", { secretId: secretArn(IBKR) }, 2, {
          response: { arn: secretArn(IBKR), name: IBKR },
        }),
        serviceEvent("RotationStarted", IBKR, at(DAY, 5)),
        fn("DescribeSecret", { secretId: secretArn(IBKR) }, 1),
        fn("GetSecretValue", { secretId: secretArn(IBKR), versionId: token, versionStage: "AWSPENDING" }, 2, {
          errorCode: "ResourceNotFoundException",
          errorMessage: `Secrets Manager can't find the specified secret value for VersionId: ${token}`,
        }),
        fn("GetSecretValue", { secretId: staging }, 3),
        fn("GetSecretValue", { secretId: secretArn(IBKR), versionStage: "AWSCURRENT" }, 3),
        fn(
          "PutSecretValue",
          { secretId: secretArn(IBKR), clientRequestToken: token, versionStages: ["AWSPENDING"] },
          4,
          {
            response: { arn: secretArn(IBKR), versionId: token, versionStages: ["AWSPENDING"] },
          },
        ),
        fn("GetSecretValue", { secretId: secretArn(IBKR), versionId: token, versionStage: "AWSPENDING" }, 10),
        fn(
          "UpdateSecretVersionStage",
          {
            secretId: secretArn(IBKR),
            versionStage: "AWSCURRENT",
            moveToVersionId: token,
            removeFromVersionId: "cur-ibkr",
          },
          20,
        ),
        fn("DeleteSecret", { secretId: staging, forceDeleteWithoutRecovery: true }, 21, {
          response: { arn: secretArn(staging), name: staging },
        }),
        serviceEvent("RotationSucceeded", IBKR, at(DAY, 6)),
      ];
    })(),
  },
  {
    name: "the nightly backup reads every secret (suppressed in the policy)",
    records: Array.from({ length: 14 }, (_, i) =>
      read(assumedRole("backup", "nightly"), `svc/service-${i}/db`, {
        time: at(DAY, i * 0.2),
        sourceIp: "10.0.8.8",
      }),
    ),
  },
  {
    name: "an application with a wrong secret name fails twice at start-up",
    records: [0, 1].map((i) =>
      read(REPORTING(`reporting-22-${i}`), "trading/reportng-db", {
        time: at(DAY, i),
        errorCode: "ResourceNotFoundException",
        errorMessage: "Secrets Manager can't find the specified secret.",
        sourceIp: "10.0.4.20",
      }),
    ),
  },
  {
    name: "the rotate function asks for a random password",
    records: [
      write("GetRandomPassword", ROTATOR, { passwordLength: 32 }, { readOnly: true, sourceIp: "10.0.2.20" }),
    ],
  },
  {
    name: "the reporting job reads its secret from a new task address inside the VPC",
    records: [
      record({
        time: DAY,
        name: "GetSecretValue",
        identity: REPORTING("reporting-22"),
        request: { secretId: REPORTING_DB },
        sourceIp: "10.0.5.99",
      }),
    ],
  },
];
