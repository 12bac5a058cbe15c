// The built bundle run the way Lambda runs it: a fresh Node process (one warm container for several
// invocations) whose environment holds the standard AWS variables, STATE_TABLE_NAME and FINDINGS_QUEUE_URL,
// against the sandbox's S3, CloudTrail, Secrets Manager, DynamoDB and SQS.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Finding } from "../../lib/finding.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { ensureBuilt } from "../helpers/built.ts";

const run = promisify(execFile);

// Lambda's invocations in one container: import the bundle once, call handler(event, context) per event.
const invoke = `
const { handler } = await import(process.argv[1]);
for (const event of JSON.parse(process.argv[2])) {
  const context = {
    functionName: "vigil-audit-scan", awsRequestId: "bundle-" + Math.random().toString(16).slice(2),
    getRemainingTimeInMillis: () => 60000,
  };
  const result = await handler(event, context);
  process.stdout.write("RESULT " + JSON.stringify(result) + "\\n");
}
`;

let sandbox: Sandbox;
let bundle: string;
let queueUrl: string;

const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function stopLogging(atMs: number): Record<string, unknown> {
  return {
    eventTime: isoSeconds(atMs),
    eventSource: "cloudtrail.amazonaws.com",
    eventName: "StopLogging",
    userIdentity: {
      type: "IAMUser",
      principalId: "AIDAINTRUDER",
      arn: "arn:aws:iam::111122223333:user/build-bot",
      accountId: "111122223333",
      userName: "build-bot",
    },
    sourceIPAddress: "192.0.2.44",
    requestParameters: { name: "arn:aws:cloudtrail:us-east-1:111122223333:trail/main-trail" },
  };
}

/** EventBridge's "AWS API Call via CloudTrail" event for a StopLogging of trail, now. */
function stopLoggingViaEventBridge(eventID: string, trail: string): Record<string, unknown> {
  const detail = {
    ...stopLogging(Date.now()),
    eventID,
    awsRegion: "us-east-1",
    recipientAccountId: "111122223333",
    requestParameters: { name: trail },
  };
  return { "detail-type": "AWS API Call via CloudTrail", source: "aws.cloudtrail", detail };
}

async function invokeBundle(
  events: unknown[],
  extraEnv: Record<string, string> = {},
): Promise<{ results: unknown[]; stdout: string }> {
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    ...sandbox.env,
    FINDINGS_QUEUE_URL: queueUrl,
    POWERTOOLS_LOG_LEVEL: "WARN",
    ...extraEnv,
  };
  const { stdout } = await run(
    process.execPath,
    ["--input-type=module", "-e", invoke, bundle, JSON.stringify(events)],
    {
      env,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const results = stdout
    .split("\n")
    .filter((line) => line.startsWith("RESULT "))
    .map((line) => JSON.parse(line.slice("RESULT ".length)));
  return { results, stdout };
}

async function queuedFindings(): Promise<Finding[]> {
  const sqs = new SQSClient(sandbox.clientConfig());
  const findings: Finding[] = [];
  for (;;) {
    const batch = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    if (!batch.Messages?.length) break;
    findings.push(...batch.Messages.map((message) => JSON.parse(message.Body!) as Finding));
  }
  sqs.destroy();
  return findings;
}

beforeAll(async () => {
  bundle = await ensureBuilt("dist/audit-scan/index.mjs", ["functions/audit-scan", "lib"]);
  sandbox = await startSandbox();
  queueUrl = sandbox.createQueue("vigil-bundle-findings");
  await new SecretsManagerClient(sandbox.clientConfig()).send(
    new CreateSecretCommand({
      Name: "algo-trade/prod/db",
      SecretString: '{"engine":"postgres"}',
      Tags: [{ Key: "vigil:rotation", Value: "postgres-single" }],
    }),
  );
});

afterAll(async () => {
  await sandbox?.stop();
});

describe("dist/audit-scan/index.mjs", () => {
  it("turns a trail file, a sweep and the compliance sweep into findings, each problem once", async () => {
    sandbox.injectCloudTrailRecords([stopLogging(Date.now() - 60_000)]);
    const [key] = await sandbox.deliverTrailFiles();
    const s3Event = {
      Records: [
        {
          eventSource: "aws:s3",
          eventName: "ObjectCreated:Put",
          s3: { bucket: { name: sandbox.env.TRAIL_BUCKET_NAME }, object: { key: encodeURIComponent(key!) } },
        },
      ],
    };

    // The same StopLogging arrives by the trail file and by the LookupEvents sweep: one finding.
    const { results, stdout } = await invokeBundle([
      { Records: [{ eventSource: "aws:sqs", messageId: "m1", body: JSON.stringify(s3Event) }] },
      { task: "lookup-sweep" },
      { task: "compliance-sweep" },
    ]);
    const findings = await queuedFindings();

    expect(results).toEqual([
      { kind: "s3", findings: 1, batchItemFailures: [] },
      { kind: "lookup-sweep", findings: 0 },
      { kind: "compliance-sweep", findings: 1 },
    ]);
    expect(findings.map((finding) => [finding.rule, finding.severity, finding.status]).sort()).toEqual([
      ["rotation-disabled", "medium", "firing"],
      ["trail-tampering", "critical", "firing"],
    ]);
    expect(stdout).toMatch(/"EventsProcessed":\d+/);
    expect(stdout).toContain('"Source":"s3"');
  });

  it("scans an AWS API Call via CloudTrail event from EventBridge", async () => {
    const { results } = await invokeBundle([stopLoggingViaEventBridge("e2e-eventbridge", "other-trail")]);

    expect(results).toEqual([{ kind: "eventbridge", findings: 1 }]);
    expect((await queuedFindings()).map((finding) => finding.title)).toEqual([
      "CloudTrail logging stopped: other-trail",
    ]);
  });

  // The policy file's parser is a chunk of the bundle loaded only when there is a file: it must still be
  // found and applied from the built bundle, and a broken file must still stop the cold start.
  it("applies the policy file POLICY_PATH names, and fails to start on a broken one", async () => {
    const folder = await mkdtemp(join(tmpdir(), "vigil-bundle-policy-"));
    try {
      const policy = join(folder, "policy.yaml");
      await writeFile(
        policy,
        "version: 1\nsuppressions:\n  - rule: trail-tampering\n    reason: bundle test\n",
      );
      const { results } = await invokeBundle(
        [stopLoggingViaEventBridge("e2e-eventbridge-suppressed", "suppressed-trail")],
        { POLICY_PATH: policy },
      );
      expect(results).toEqual([{ kind: "eventbridge", findings: 0 }]);
      expect(await queuedFindings()).toEqual([]);

      await writeFile(policy, "version: 2\n");
      await expect(invokeBundle([], { POLICY_PATH: policy })).rejects.toThrow(
        `${policy}: version: expected one of 1`,
      );
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
