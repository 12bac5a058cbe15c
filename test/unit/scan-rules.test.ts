import { describe, expect, it } from "vitest";
import { ruleContext } from "../../functions/audit-scan/engine.ts";
import { type AuditEvent, normaliseRecord } from "../../functions/audit-scan/normalise.ts";
import { defaultPolicy, type Policy } from "../../functions/audit-scan/policy.ts";
import { loadPolicy } from "../../functions/audit-scan/policy-file.ts";
import { RULES, ruleDispatch } from "../../functions/audit-scan/registry.ts";
import { detectionOf, type Rule, type Signal } from "../../functions/audit-scan/rule.ts";
import { accessProbing } from "../../functions/audit-scan/rules/access-probing.ts";
import { bulkRetrieval } from "../../functions/audit-scan/rules/bulk-retrieval.ts";
import { canaryTouched } from "../../functions/audit-scan/rules/canary-touched.ts";
import { crossAccountRead } from "../../functions/audit-scan/rules/cross-account-read.ts";
import { firstSeenOrigin } from "../../functions/audit-scan/rules/first-seen-origin.ts";
import { firstSeenReader } from "../../functions/audit-scan/rules/first-seen-reader.ts";
import { kmsKeyTampering } from "../../functions/audit-scan/rules/kms-key-tampering.ts";
import { resourcePolicyExposed } from "../../functions/audit-scan/rules/resource-policy-exposed.ts";
import { rootOrConsoleRead } from "../../functions/audit-scan/rules/root-or-console-read.ts";
import { rotationChanged } from "../../functions/audit-scan/rules/rotation-changed.ts";
import { rotationFailed } from "../../functions/audit-scan/rules/rotation-failed.ts";
import { secretDeleted } from "../../functions/audit-scan/rules/secret-deleted.ts";
import { secretReplicated } from "../../functions/audit-scan/rules/secret-replicated.ts";
import { secretValueWritten } from "../../functions/audit-scan/rules/secret-value-written.ts";
import { trailTampering } from "../../functions/audit-scan/rules/trail-tampering.ts";
import { unexpectedOrigin } from "../../functions/audit-scan/rules/unexpected-origin.ts";
import { unexpectedReader } from "../../functions/audit-scan/rules/unexpected-reader.ts";
import { versionStageMoved } from "../../functions/audit-scan/rules/version-stage-moved.ts";
import {
  ACCOUNT,
  assumedRole,
  awsService,
  BROWSER_AGENT,
  CLI_AGENT,
  canonicalArn,
  FOREIGN_ACCOUNT,
  iamUser,
  type RecordInput,
  record,
  root,
  secretArn,
  secretsManagerService,
} from "./scenarios/records.ts";

const POLICY = loadPolicy(
  `version: 1
rotationRoles: ["arn:aws:iam::${ACCOUNT}:role/vigil-rotate"]
businessHours: { timezone: UTC, days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00" }
secrets:
  - match: prod/*
    sensitivity: critical
    readers: ["arn:aws:iam::${ACCOUNT}:role/trading-*"]
    writers: ["arn:aws:iam::${ACCOUNT}:role/deployer"]
    origins: { vpcEndpoints: [vpce-0aaa], cidrs: [10.0.0.0/8] }
  - match: decoy/*
    canary: true
`,
  "test policy",
);
const WEDNESDAY = "2026-11-25T14:00:00Z";
const NIGHT = "2026-11-25T23:30:00Z";
const app = assumedRole("trading-app", "i-0abc-1");
const intruder = iamUser("intruder");

function signals(
  rule: Rule,
  input: Partial<RecordInput> & Pick<RecordInput, "name">,
  policy: Policy = POLICY,
) {
  const normalised = normaliseRecord(record({ time: WEDNESDAY, identity: app, ...input }));
  if (!normalised.ok) throw new Error("the test record is not a valid record");
  const event = normalised.event;
  lastEvent = event;
  const out = rule.evaluate(event, ruleContext(policy));
  // The engine gives a rule only the events it subscribes to: what a test makes it fire on must be one.
  if (out.length > 0) expect(ruleDispatch([rule])(event.service, event.eventName)).toEqual([rule]);
  return out;
}

/** The event signals() evaluated last: what a signal's detection is built about. */
let lastEvent: AuditEvent | undefined;

function detail(signal: Signal | undefined) {
  return signal && lastEvent ? detectionOf(signal, lastEvent) : undefined;
}

function severities(list: readonly Signal[]) {
  return list.map((signal) => signal.detection.severity);
}

const read = (secretId: string, extra: Partial<RecordInput> = {}) => ({
  name: "GetSecretValue",
  request: { secretId },
  ...extra,
});

describe("the rule registry", () => {
  it("has unique ids that are valid anchors", () => {
    const ids = RULES.map((rule) => rule.id);

    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9-]*$/);
  });
});

describe("canary-touched", () => {
  it("fires critical on any call naming a canary, even a failed describe", () => {
    const out = signals(canaryTouched, {
      name: "DescribeSecret",
      identity: intruder,
      request: { secretId: "decoy/aws-keys" },
      errorCode: "AccessDenied",
    });

    expect(severities(out)).toEqual(["critical"]);
    expect(out[0]?.detection.secretArn).toBe(canonicalArn("decoy/aws-keys"));
  });

  it("ignores AWS services reading metadata for the account and other secrets", () => {
    expect(
      signals(canaryTouched, {
        name: "DescribeSecret",
        identity: awsService("config.amazonaws.com"),
        sourceIp: "config.amazonaws.com",
        request: { secretId: "decoy/aws-keys" },
      }),
    ).toEqual([]);
    expect(signals(canaryTouched, read("prod/db"))).toEqual([]);
  });
});

describe("unexpected-reader", () => {
  it("fires, raised to critical, when a principal outside readers gets a critical secret", () => {
    const out = signals(unexpectedReader, read("prod/db", { identity: intruder }));

    expect(severities(out)).toEqual(["critical"]);
    expect(detail(out[0])?.summary).toContain("arn:aws:iam::111122223333:role/trading-*");
  });

  it("stays quiet for listed readers (globs), rotation roles, failed reads and unlisted secrets", () => {
    expect(signals(unexpectedReader, read("prod/db"))).toEqual([]);
    expect(
      signals(unexpectedReader, read("prod/db", { identity: assumedRole("vigil-rotate", "r") })),
    ).toEqual([]);
    expect(
      signals(unexpectedReader, read("prod/db", { identity: intruder, errorCode: "AccessDenied" })),
    ).toEqual([]);
    expect(signals(unexpectedReader, read("dev/db", { identity: intruder }))).toEqual([]);
  });

  it("reads every secret of a BatchGetSecretValue list", () => {
    const out = signals(unexpectedReader, {
      name: "BatchGetSecretValue",
      identity: intruder,
      request: { secretIdList: ["prod/a", secretArn("prod/b"), "dev/c"] },
    });

    expect(out.map((signal) => signal.detection.secretArn)).toEqual([
      canonicalArn("prod/a"),
      canonicalArn("prod/b"),
    ]);
  });
});

describe("unexpected-origin", () => {
  it("fires for a read from outside the listed endpoints and CIDRs", () => {
    const out = signals(unexpectedOrigin, read("prod/db", { sourceIp: "203.0.113.9" }));

    expect(severities(out)).toEqual(["critical"]);
    expect(detail(out[0])?.title).toContain("203.0.113.9");
  });

  it("accepts a listed VPC endpoint or CIDR, and calls through AWS services", () => {
    expect(signals(unexpectedOrigin, read("prod/db", { sourceIp: "172.31.0.5", vpce: "vpce-0aaa" }))).toEqual(
      [],
    );
    expect(signals(unexpectedOrigin, read("prod/db", { sourceIp: "10.9.8.7" }))).toEqual([]);
    expect(
      signals(
        unexpectedOrigin,
        read("prod/db", {
          identity: { ...app, invokedBy: "ecs-tasks.amazonaws.com" },
          sourceIp: "ecs-tasks.amazonaws.com",
        }),
      ),
    ).toEqual([]);
  });
});

describe("cross-account-read", () => {
  it("fires when another account's principal reads the secret", () => {
    const out = signals(
      crossAccountRead,
      read(secretArn("dev/shared"), { identity: assumedRole("x", "s", FOREIGN_ACCOUNT) }),
    );

    expect(severities(out)).toEqual(["high"]);
    expect(detail(out[0])?.details?.callerAccount).toBe(FOREIGN_ACCOUNT);
  });

  it("stays quiet for the owner account", () => {
    expect(signals(crossAccountRead, read("dev/shared"))).toEqual([]);
  });
});

describe("root-or-console-read", () => {
  it("fires for root, critical on a critical secret", () => {
    const out = signals(rootOrConsoleRead, read("prod/db", { identity: root(), userAgent: BROWSER_AGENT }));

    expect(severities(out)).toEqual(["critical"]);
  });

  it("rates a console read by sensitivity and raises it outside business hours", () => {
    const human = assumedRole("AWSReservedSSO_Admin_1", "alice@example.org");
    const console = {
      identity: human,
      userAgent: BROWSER_AGENT,
      extra: { sessionCredentialFromConsole: "true" },
    };

    expect(severities(signals(rootOrConsoleRead, read("dev/db", console)))).toEqual(["medium"]);
    expect(severities(signals(rootOrConsoleRead, read("prod/db", console)))).toEqual(["high"]);
    expect(severities(signals(rootOrConsoleRead, read("dev/db", { ...console, time: NIGHT })))).toEqual([
      "high",
    ]);
  });

  it("accepts the boolean form of sessionCredentialFromConsole and ignores API reads", () => {
    const human = assumedRole("AWSReservedSSO_Admin_1", "alice@example.org");

    expect(
      signals(
        rootOrConsoleRead,
        read("dev/db", { identity: human, extra: { sessionCredentialFromConsole: true } }),
      ),
    ).toHaveLength(1);
    expect(signals(rootOrConsoleRead, read("dev/db", { identity: human }))).toEqual([]);
  });
});

describe("first-seen-reader", () => {
  it("asks for a first sighting keyed by role and secret, not session", () => {
    const a = signals(firstSeenReader, read("dev/db", { identity: assumedRole("reporting", "day-1") }));
    const b = signals(firstSeenReader, read("dev/db", { identity: assumedRole("reporting", "day-2") }));

    expect(a[0]?.kind).toBe("first-seen");
    expect(a[0]?.kind === "first-seen" && b[0]?.kind === "first-seen" && a[0].key === b[0].key).toBe(true);
    expect(severities(a)).toEqual(["medium"]);
  });

  it("skips listed readers and rates reads through a service low", () => {
    expect(signals(firstSeenReader, read("prod/db"))).toEqual([]);
    const viaService = read("dev/db", {
      identity: { ...assumedRole("ecs-exec", "t"), invokedBy: "ecs-tasks.amazonaws.com" },
      sourceIp: "ecs-tasks.amazonaws.com",
    });
    expect(severities(signals(firstSeenReader, viaService))).toEqual(["low"]);
  });

  it("hands every read of a secret by a role the same signal, built about the read it is asked about", () => {
    const day1 = read("dev/db", { identity: assumedRole("reporting", "day-1"), sourceIp: "203.0.113.9" });
    const a = signals(firstSeenReader, day1);
    const first = detail(a[0]);
    const b = signals(firstSeenReader, read("dev/db", { identity: assumedRole("reporting", "day-2") }));

    expect(b[0]).toBe(a[0]);
    expect(first?.summary).toContain("(session day-1)");
    expect(first?.summary).toContain("203.0.113.9");
    expect(detail(b[0])?.summary).toContain("(session day-2)");
  });

  it("follows the policy it is judged under, whatever another policy made of the same read", () => {
    const reporting = assumedRole("reporting", "day-1");
    const critical = loadPolicy(
      "version: 1\nsecrets:\n  - match: dev/*\n    sensitivity: critical\n",
      "critical dev secrets",
    );

    expect(severities(signals(firstSeenReader, read("dev/db", { identity: reporting })))).toEqual(["medium"]);
    expect(severities(signals(firstSeenReader, read("dev/db", { identity: reporting }), critical))).toEqual([
      "high",
    ]);
    expect(severities(signals(firstSeenReader, read("dev/db", { identity: reporting })))).toEqual(["medium"]);
  });
});

describe("first-seen-origin", () => {
  it("keys the origin by endpoint or network and client family", () => {
    const out = signals(firstSeenOrigin, read("dev/db", { sourceIp: "203.0.113.9", userAgent: CLI_AGENT }));

    expect(out[0]?.kind === "first-seen" && out[0].key).toContain("203.0.113.0/24 (aws-cli)");
  });

  it("treats private addresses as one network, and skips origins the policy lists", () => {
    const a = signals(firstSeenOrigin, read("dev/db", { sourceIp: "10.0.1.15" }));
    const b = signals(firstSeenOrigin, read("dev/db", { sourceIp: "10.0.7.99" }));

    expect(a[0]?.kind === "first-seen" && b[0]?.kind === "first-seen" && a[0].key === b[0].key).toBe(true);
    expect(signals(firstSeenOrigin, read("prod/db", { sourceIp: "10.0.1.15" }))).toEqual([]);
  });
});

describe("bulk-retrieval", () => {
  it("counts each secret read in a window keyed by principal", () => {
    const out = signals(bulkRetrieval, {
      name: "BatchGetSecretValue",
      request: { secretIdList: ["a", "b"] },
    });

    expect(out.map((signal) => signal.kind === "window" && signal.member)).toEqual([
      canonicalArn("a"),
      canonicalArn("b"),
    ]);
  });

  it("fires at once on a retrieval by filter", () => {
    const out = signals(bulkRetrieval, {
      name: "BatchGetSecretValue",
      identity: intruder,
      request: { filters: [{ key: "name", values: ["prod"] }] },
    });

    expect(out.map((signal) => signal.kind)).toEqual(["alert"]);
  });
});

describe("access-probing", () => {
  it("counts denied and not-found calls by event id", () => {
    const out = signals(
      accessProbing,
      read("prod/guess", { identity: intruder, errorCode: "ResourceNotFoundException" }),
    );

    expect(out[0]?.kind).toBe("window");
    expect(severities(out)).toEqual(["medium"]);
  });

  it("ignores a missing pending version (the rotation's createSecret) and successful calls", () => {
    const pending = read("prod/db", {
      request: { secretId: "prod/db", versionId: "v2", versionStage: "AWSPENDING" },
      errorCode: "ResourceNotFoundException",
      errorMessage: "Secrets Manager can't find the specified secret value for VersionId: v2",
    });

    expect(signals(accessProbing, pending)).toEqual([]);
    expect(signals(accessProbing, read("prod/db"))).toEqual([]);
  });
});

describe("secret-value-written", () => {
  it("fires on PutSecretValue by anyone but writers and rotation roles", () => {
    expect(
      severities(
        signals(secretValueWritten, {
          name: "PutSecretValue",
          identity: intruder,
          request: { secretId: "prod/db" },
        }),
      ),
    ).toEqual(["critical"]);
    expect(
      signals(secretValueWritten, {
        name: "PutSecretValue",
        identity: assumedRole("deployer", "d"),
        request: { secretId: "prod/db" },
      }),
    ).toEqual([]);
    expect(
      signals(secretValueWritten, {
        name: "PutSecretValue",
        identity: assumedRole("vigil-rotate", "r"),
        request: { secretId: "dev/db" },
      }),
    ).toEqual([]);
  });

  it("tells a value change from a description change in UpdateSecret", () => {
    const value = signals(secretValueWritten, {
      name: "UpdateSecret",
      identity: intruder,
      request: { secretId: "dev/db" },
      response: { versionId: "v9" },
    });
    const description = signals(secretValueWritten, {
      name: "UpdateSecret",
      identity: intruder,
      request: { secretId: "dev/db", description: "x" },
    });
    const key = signals(secretValueWritten, {
      name: "UpdateSecret",
      identity: intruder,
      request: { secretId: "dev/db", kmsKeyId: "alias/x" },
    });

    expect(severities(value)).toEqual(["high"]);
    expect(description).toEqual([]);
    expect(detail(key[0])?.title).toContain("encryption key changed");
  });

  it("rates an IBKR staging write low", () => {
    const out = signals(secretValueWritten, {
      name: "PutSecretValue",
      identity: intruder,
      request: { secretId: "prod/ibkr/vigil-staging" },
    });

    expect(severities(out)).toEqual(["low"]);
  });
});

describe("version-stage-moved", () => {
  it("rates AWSCURRENT moves high (critical secret: critical) and AWSPENDING removal low", () => {
    const move = { name: "UpdateSecretVersionStage", identity: intruder };

    expect(
      severities(
        signals(versionStageMoved, {
          ...move,
          request: { secretId: "dev/db", versionStage: "AWSCURRENT", moveToVersionId: "v2" },
        }),
      ),
    ).toEqual(["high"]);
    expect(
      severities(
        signals(versionStageMoved, {
          ...move,
          request: { secretId: "prod/db", versionStage: "AWSCURRENT", moveToVersionId: "v2" },
        }),
      ),
    ).toEqual(["critical"]);
    expect(
      severities(
        signals(versionStageMoved, {
          ...move,
          request: { secretId: "dev/db", versionStage: "AWSPENDING", removeFromVersionId: "v2" },
        }),
      ),
    ).toEqual(["low"]);
  });
});

describe("rotation-changed", () => {
  it("rates a rotation function in another account critical", () => {
    const out = signals(rotationChanged, {
      name: "RotateSecret",
      identity: intruder,
      request: {
        secretId: "dev/db",
        rotationLambdaARN: `arn:aws:lambda:us-east-1:${FOREIGN_ACCOUNT}:function:x`,
      },
    });

    expect(severities(out)).toEqual(["critical"]);
  });

  it("rates cancellation high, a too-long schedule high, other schedules medium, on-demand low", () => {
    const base = { identity: intruder };

    expect(
      severities(
        signals(rotationChanged, { ...base, name: "CancelRotateSecret", request: { secretId: "dev/db" } }),
      ),
    ).toEqual(["high"]);
    expect(
      severities(
        signals(rotationChanged, {
          ...base,
          name: "RotateSecret",
          request: { secretId: "dev/db", rotationRules: { automaticallyAfterDays: 365 } },
        }),
      ),
    ).toEqual(["high"]);
    expect(
      severities(
        signals(rotationChanged, {
          ...base,
          name: "RotateSecret",
          request: { secretId: "dev/db", rotationRules: { automaticallyAfterDays: 30 } },
        }),
      ),
    ).toEqual(["medium"]);
    expect(
      severities(
        signals(rotationChanged, { ...base, name: "RotateSecret", request: { secretId: "dev/db" } }),
      ),
    ).toEqual(["low"]);
  });
});

describe("resource-policy-exposed", () => {
  const put = (policy: unknown) => ({
    name: "PutResourcePolicy",
    identity: intruder,
    request: {
      secretId: "dev/db",
      resourcePolicy: typeof policy === "string" ? policy : JSON.stringify(policy),
    },
  });
  const allow = (principal: unknown, extra: Record<string, unknown> = {}) => ({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: principal,
        Action: "secretsmanager:GetSecretValue",
        Resource: "*",
        ...extra,
      },
    ],
  });

  it("rates a public grant critical, a public grant pinned to the organisation high", () => {
    expect(severities(signals(resourcePolicyExposed, put(allow("*"))))).toEqual(["critical"]);
    expect(
      severities(
        signals(
          resourcePolicyExposed,
          put(allow({ AWS: "*" }, { Condition: { StringEquals: { "aws:PrincipalOrgID": "o-1" } } })),
        ),
      ),
    ).toEqual(["high"]);
  });

  it("rates foreign accounts high and ignores same-account grants", () => {
    expect(
      severities(signals(resourcePolicyExposed, put(allow({ AWS: `arn:aws:iam::${FOREIGN_ACCOUNT}:root` })))),
    ).toEqual(["high"]);
    expect(signals(resourcePolicyExposed, put(allow({ AWS: `arn:aws:iam::${ACCOUNT}:role/app` })))).toEqual(
      [],
    );
    expect(severities(signals(resourcePolicyExposed, put("{not json")))).toEqual(["medium"]);
  });
});

describe("secret-deleted", () => {
  it("rates forced deletion critical and scheduled deletion high", () => {
    const del = (force: unknown) => ({
      name: "DeleteSecret",
      identity: intruder,
      request: { secretId: "dev/db", forceDeleteWithoutRecovery: force },
    });

    expect(severities(signals(secretDeleted, del(true)))).toEqual(["critical"]);
    expect(severities(signals(secretDeleted, del("true")))).toEqual(["critical"]);
    expect(severities(signals(secretDeleted, del(false)))).toEqual(["high"]);
  });
});

describe("secret-replicated", () => {
  it("names the new regions", () => {
    const out = signals(secretReplicated, {
      name: "ReplicateSecretToRegions",
      identity: intruder,
      request: { secretId: "dev/db", addReplicaRegions: [{ region: "ap-southeast-3" }] },
    });

    expect(detail(out[0])?.title).toContain("ap-southeast-3");
  });
});

describe("kms-key-tampering", () => {
  it("rates deletion and disabling high, a policy change medium, a public policy high", () => {
    const kms = (name: string, request: Record<string, unknown>) =>
      signals(kmsKeyTampering, {
        name,
        source: "kms",
        identity: intruder,
        request: { keyId: "k-1", ...request },
      });

    expect(severities(kms("ScheduleKeyDeletion", { pendingWindowInDays: 7 }))).toEqual(["high"]);
    expect(severities(kms("DisableKey", {}))).toEqual(["high"]);
    expect(
      severities(
        kms("PutKeyPolicy", { policy: '{"Statement":[{"Principal":{"AWS":"arn:aws:iam::1:root"}}]}' }),
      ),
    ).toEqual(["medium"]);
    expect(severities(kms("PutKeyPolicy", { policy: '{"Statement":[{"Principal": "*"}]}' }))).toEqual([
      "high",
    ]);
    expect(kms("Decrypt", {})).toEqual([]);
  });
});

describe("trail-tampering", () => {
  const trail = (name: string, request: Record<string, unknown>) =>
    signals(trailTampering, { name, source: "cloudtrail", identity: intruder, request });

  it("rates stopping and deleting critical", () => {
    expect(severities(trail("StopLogging", { name: "arn:aws:cloudtrail:us-east-1:1:trail/main" }))).toEqual([
      "critical",
    ]);
    expect(severities(trail("DeleteTrail", { name: "main" }))).toEqual(["critical"]);
  });

  it("rates selectors that drop reads or Secrets Manager events high, and leaves complete ones alone", () => {
    expect(
      severities(
        trail("PutEventSelectors", {
          eventSelectors: [{ readWriteType: "WriteOnly", includeManagementEvents: true }],
        }),
      ),
    ).toEqual(["high"]);
    expect(
      severities(
        trail("PutEventSelectors", {
          eventSelectors: [
            { readWriteType: "All", excludeManagementEventSources: ["secretsmanager.amazonaws.com"] },
          ],
        }),
      ),
    ).toEqual(["high"]);
    expect(
      severities(
        trail("PutEventSelectors", {
          advancedEventSelectors: [
            { fieldSelectors: [{ field: "eventSource", notEquals: ["kms.amazonaws.com"] }] },
          ],
        }),
      ),
    ).toEqual(["high"]);
    expect(
      trail("PutEventSelectors", {
        eventSelectors: [{ readWriteType: "All", includeManagementEvents: true }],
      }),
    ).toEqual([]);
  });
});

describe("rotation-failed", () => {
  const service = (name: string, errorMessage?: string) => ({
    name,
    identity: secretsManagerService(),
    eventType: "AwsServiceEvent" as const,
    additional: { SecretId: secretArn("dev/db") },
    ...(errorMessage ? { errorCode: "InternalFailure", errorMessage } : {}),
  });

  it("rates RotationFailed high and RotationAbandoned medium, grouped with the rotate function's findings", () => {
    const failed = signals(
      rotationFailed,
      service("RotationFailed", "Error when executing lambda during testSecret step"),
    );
    const abandoned = signals(rotationFailed, service("RotationAbandoned"));

    expect(severities(failed)).toEqual(["high"]);
    expect(severities(abandoned)).toEqual(["medium"]);
    expect(detail(failed[0])?.groupKey).toBe(`rotation:${secretArn("dev/db")}`);
  });

  it("resolves the group on RotationSucceeded", () => {
    const out = signals(rotationFailed, service("RotationSucceeded"));

    expect(detail(out[0])).toMatchObject({
      resolves: true,
      severity: "info",
      groupKey: `rotation:${secretArn("dev/db")}`,
    });
  });
});

describe("every rule", () => {
  it("raises nothing for the application's everyday read under the default policy", () => {
    const event = normaliseRecord(record({ time: WEDNESDAY, identity: app, ...read("dev/db") }));
    if (!event.ok) throw new Error("invalid test record");

    const alerts = RULES.flatMap((rule) => rule.evaluate(event.event, ruleContext(defaultPolicy()))).filter(
      (signal) => signal.kind === "alert",
    );

    expect(alerts).toEqual([]);
  });
});
