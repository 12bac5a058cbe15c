// docs/deploy.md's `sh sandbox` blocks, run as written, in order, by bash with the AWS CLI, against a
// sandbox standing in for a deployed `dev` stack: its findings queue consumed by the real notifier, its
// alerts topic, a rotation function, and an existing secret. A command that no longer works, or a test
// finding that does not reach SNS and resolve, fails here.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { LambdaHandler } from "../../local/lambda.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

const exec = promisify(execFile);
const guide = readFileSync(new URL("../../docs/deploy.md", import.meta.url), "utf8");
const standInRotation = fileURLToPath(new URL("../helpers/sandbox-rotation-handler.ts", import.meta.url));
const ROTATE = "arn:aws:lambda:us-east-1:111122223333:function:vigil-dev-rotate";

/** The guide's `sh sandbox` blocks, in order. */
function sandboxBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh sandbox\n([\s\S]*?)^```$/gm)].map(([, body = ""]) => body);
}

let sandbox: Sandbox;
let client: SecretsManagerClient;
let workDir: string;

beforeAll(async () => {
  // The real notifier, imported at its first batch (its cold start), configured as serverless.yml does.
  const notify: LambdaHandler = async (event, context) =>
    (await import("../../functions/notify/handler.ts")).handler(event, context as never);
  sandbox = await startSandbox({
    rotationLambdas: { [ROTATE]: standInRotation },
    snsTopics: ["vigil-dev-alerts"],
    queueConsumers: [{ queue: "vigil-dev-findings", functionName: "vigil-dev-notify", handler: notify }],
  });
  // The functions build their SDK clients and settings from the environment, as a Lambda would.
  for (const [name, value] of Object.entries(sandbox.env)) vi.stubEnv(name, value);
  vi.stubEnv("ALERTS_TOPIC_ARN", sandbox.createTopic("vigil-dev-alerts"));
  vi.stubEnv("PAGERDUTY_ROUTING_KEY_SECRET_ID", "vigil/dev/pagerduty");
  client = new SecretsManagerClient(sandbox.clientConfig());
  await client.send(
    new CreateSecretCommand({
      Name: "algo-trade/prod/orders-db",
      SecretString: JSON.stringify({
        engine: "postgres",
        host: "db",
        port: 5432,
        username: "orders",
        password: "old",
      }),
    }),
  );
  workDir = await mkdtemp(join(tmpdir(), "vigil-deploy-guide-"));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  client?.destroy();
  await sandbox?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("docs/deploy.md", () => {
  it("has sandbox blocks for configuration, attaching rotation, the test finding and stopping rotation", () => {
    // Arrange
    const blocks = sandboxBlocks(guide).join("\n");

    // Act
    const commands = [...blocks.matchAll(/^aws (\S+ \S+)/gm)].map(([, command]) => command);

    // Assert
    expect(commands).toEqual(
      expect.arrayContaining([
        "secretsmanager create-secret",
        "secretsmanager rotate-secret",
        "sqs send-message",
        "secretsmanager cancel-rotate-secret",
      ]),
    );
  });

  it("runs every sandbox block as written against the sandbox", async () => {
    // Arrange
    // --endpoint-url rather than AWS_ENDPOINT_URL alone: AWS CLI v1 sends SQS calls in us-east-1 to its
    // legacy endpoint whatever the environment says.
    // A reader waits for the first message before resolving; the harness waits for the notifier to
    // empty the queue, so that the two findings arrive in separate batches as they would.
    const waitForNotifier = [
      'until [ "$(aws sqs get-queue-attributes --queue-url "$QUEUE_URL" --attribute-names All \\',
      "  --query 'to_string(sum([Attributes.ApproximateNumberOfMessages, Attributes.ApproximateNumberOfMessagesNotVisible][].to_number(@)))' \\",
      '  --output text)" = "0" ]; do sleep 0.2; done',
    ].join("\n");
    const script = [
      "set -euo pipefail",
      'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }',
      ...sandboxBlocks(guide).flatMap((block) =>
        block.includes("test-finding-resolved.json") ? [waitForNotifier, block] : [block],
      ),
    ].join("\n");

    // Act
    const { stdout } = await exec("bash", ["-c", script], {
      cwd: workDir,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: workDir,
        AWS_ENDPOINT_URL: sandbox.endpoint,
        AWS_ACCESS_KEY_ID: sandbox.env.AWS_ACCESS_KEY_ID ?? "",
        AWS_SECRET_ACCESS_KEY: sandbox.env.AWS_SECRET_ACCESS_KEY ?? "",
        AWS_DEFAULT_REGION: sandbox.region,
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        AWS_PAGER: "",
      },
    });

    // Assert: the routing-key secret exists, the secret rotated once and its rotation is cancelled again.
    expect(stdout).toContain("aws-cli/");
    const key = await client.send(new GetSecretValueCommand({ SecretId: "vigil/dev/pagerduty" }));
    expect(JSON.parse(key.SecretString ?? "{}").routing_key).toHaveLength(32);
    const secret = await client.send(new DescribeSecretCommand({ SecretId: "algo-trade/prod/orders-db" }));
    expect(secret.Tags).toEqual(
      expect.arrayContaining([{ Key: "vigil:rotation", Value: "postgres-single" }]),
    );
    expect(secret.RotationEnabled).toBe(false);
    expect(sandbox.rotations().filter((rotation) => rotation.secretArn === secret.ARN)).toHaveLength(1);
    // The notifier took both test findings off the queue: SNS got the finding, then its resolution, and
    // the paging service got nothing (a low finding).
    await vi.waitFor(() => expect(sandbox.snsMessages()).toHaveLength(2), { timeout: 30_000, interval: 200 });
    const [firing, resolved] = sandbox.snsMessages();
    expect(firing?.subject).toContain("Vigil deployment test");
    expect(resolved?.message).toMatch(/resolved/i);
    const triggers = sandbox
      .pagerDutyEvents()
      .filter((event) => JSON.stringify(event.body).includes('"event_action":"trigger"'));
    expect(triggers).toEqual([]);
  });
});
