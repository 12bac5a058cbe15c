// The built bundle, run the way Lambda runs it: a fresh Node process whose environment holds only the
// standard AWS variables, PAGERDUTY_EVENTS_URL, PAGERDUTY_ROUTING_KEY_SECRET_ID, ALERTS_TOPIC_ARN and
// STATE_TABLE_NAME.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CreateTopicCommand, SNSClient } from "@aws-sdk/client-sns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dedupKeyFor } from "../../functions/notify/pagerduty-events.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { makeFinding, sqsRecord } from "../helpers/notify-fixtures.ts";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const bundle = join(root, "dist", "notify", "index.mjs");
const ROUTING_KEY = "BUNDLEROUTINGKEY0123456789abcdef";

/** Newest modification time of the sources the bundle is built from. */
function newestSource(): number {
  const dirs = [join(root, "functions", "notify"), join(root, "lib")];
  return Math.max(
    ...dirs.flatMap((dir) => readdirSync(dir).map((file) => statSync(join(dir, file)).mtimeMs)),
  );
}

// Lambda's invocation, in a child process: import the bundle, call handler(event, context), print the result.
const invoke = `
const { handler } = await import(process.argv[1]);
const context = {
  functionName: "vigil-notify", functionVersion: "$LATEST", memoryLimitInMB: "256",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:111122223333:function:vigil-notify",
  awsRequestId: "bundle-test", logGroupName: "/aws/lambda/vigil-notify", logStreamName: "test",
  callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => 30000,
  done() {}, fail() {}, succeed() {},
};
const result = await handler(JSON.parse(process.argv[2]), context);
process.stdout.write("RESULT " + JSON.stringify(result) + "\\n");
`;

describe("dist/notify/index.mjs", () => {
  let sandbox: Sandbox;
  let topicArn: string;

  beforeAll(async () => {
    if (!existsSync(bundle) || statSync(bundle).mtimeMs < newestSource()) {
      await run(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
    }
    sandbox = await startSandbox({ port: 0 });
    await new SecretsManagerClient(sandbox.clientConfig()).send(
      new CreateSecretCommand({
        Name: "vigil/bundle/pagerduty",
        SecretString: JSON.stringify({ routing_key: ROUTING_KEY }),
      }),
    );
    const topic = await new SNSClient(sandbox.clientConfig()).send(
      new CreateTopicCommand({ Name: "vigil-bundle-alerts" }),
    );
    topicArn = topic.TopicArn!;
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it("exports handler, pages, publishes and reports only the invalid message as failed", async () => {
    const event = {
      Records: [
        sqsRecord(makeFinding({ groupKey: "bundle-critical", severity: "critical" }), "ok-1"),
        sqsRecord(makeFinding({ groupKey: "bundle-critical", severity: "critical" }), "ok-2"),
        sqsRecord(makeFinding({ groupKey: "bundle-medium", severity: "medium" }), "ok-3"),
        sqsRecord('{"rule": "half a finding"}', "broken"),
      ],
    };
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      AWS_ENDPOINT_URL: sandbox.env.AWS_ENDPOINT_URL!,
      AWS_REGION: sandbox.env.AWS_REGION!,
      AWS_ACCESS_KEY_ID: sandbox.env.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: sandbox.env.AWS_SECRET_ACCESS_KEY!,
      PAGERDUTY_EVENTS_URL: sandbox.env.PAGERDUTY_EVENTS_URL!,
      STATE_TABLE_NAME: sandbox.env.STATE_TABLE_NAME!,
      PAGERDUTY_ROUTING_KEY_SECRET_ID: "vigil/bundle/pagerduty",
      ALERTS_TOPIC_ARN: topicArn,
    };

    const { stdout, stderr } = await run(
      process.execPath,
      ["--input-type=module", "-e", invoke, bundle, JSON.stringify(event)],
      {
        env,
        cwd: root,
        maxBuffer: 16 * 1024 * 1024,
      },
    );

    const result = JSON.parse(stdout.slice(stdout.indexOf("RESULT ") + 7));
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: "broken" }] });
    expect(sandbox.pagerDutyIncidents()).toMatchObject([
      { dedupKey: dedupKeyFor("bundle-critical"), status: "triggered", severity: "critical", eventCount: 1 },
    ]);
    const severities = sandbox
      .snsMessages()
      .map((message) => message.messageAttributes.severity?.StringValue);
    expect(severities.sort()).toEqual(["critical", "medium"]);
    expect(stderr).toContain('"messageId":"broken"');
    expect(stdout + stderr).not.toContain(ROUTING_KEY);
  });
});
