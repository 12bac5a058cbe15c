// Each function's CloudWatch metrics as Lambda would ship them: the built bundle, in a fresh Node process,
// against the sandbox, writes embedded-metric-format lines on stdout with the names lib/metrics.ts lists.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CreateSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { METRICS_NAMESPACE, type MetricName, metricCatalogue } from "../../lib/metrics.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { makeFinding, sqsRecord } from "../helpers/notify-fixtures.ts";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const ROTATE = "arn:aws:lambda:us-east-1:111122223333:function:vigil-metrics-rotate";

interface EmfLine {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

/** The EMF lines in a process's output. */
function emfLines(output: string): EmfLine[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{") && line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfLine);
}

/** The value(s) of one metric across the lines whose dimensions match `where`. */
function valuesOf(lines: EmfLine[], name: MetricName, where: Record<string, string> = {}): number[] {
  return lines
    .filter((line) => name in line && Object.entries(where).every(([key, value]) => line[key] === value))
    .flatMap((line) => line[name] as number | number[]);
}

/** Newest modification time of the files under `dirs`. */
function newest(dirs: string[]): number {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return Math.max(...dirs.flatMap(files).map((file) => statSync(file).mtimeMs));
}

// Lambda's invocation in a child process: import the bundle, call handler(event, context).
const invoke = `
const { handler } = await import(process.argv[1]);
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, awsRequestId: "metrics-test",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:111122223333:function:" + process.env.AWS_LAMBDA_FUNCTION_NAME,
  getRemainingTimeInMillis: () => 30000,
};
await handler(JSON.parse(process.argv[2]), context);
`;

let sandbox: Sandbox;
let client: SecretsManagerClient;
let output = "";

/** Runs a bundle's handler once in a fresh process; keeps its stdout whether it succeeds or throws. */
async function runBundle(fn: string, event: unknown, env: Record<string, string>): Promise<void> {
  const bundle = join(root, "dist", fn, "index.mjs");
  try {
    const result = await run(
      process.execPath,
      ["--input-type=module", "-e", invoke, bundle, JSON.stringify(event)],
      {
        env: {
          PATH: process.env.PATH ?? "",
          ...sandbox.env,
          AWS_LAMBDA_FUNCTION_NAME: `vigil-metrics-${fn}`,
          ...env,
        },
      },
    );
    output += result.stdout;
  } catch (error) {
    output += (error as { stdout?: string }).stdout ?? "";
    throw new Error(`${fn} bundle failed`);
  }
}

beforeAll(async () => {
  const sources = [join(root, "lib"), join(root, "functions")];
  const bundles = ["rotate", "notify", "audit-scan"].map((fn) => join(root, "dist", fn, "index.mjs"));
  if (bundles.some((file) => !existsSync(file) || statSync(file).mtimeMs < newest(sources))) {
    await run(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
  }
  sandbox = await startSandbox({
    port: 0,
    rotationLambdas: { [ROTATE]: (event) => runBundle("rotate", event, {}) },
  });
  client = new SecretsManagerClient(sandbox.clientConfig());
});

afterAll(async () => {
  client?.destroy();
  await sandbox?.stop();
});

beforeEach(() => {
  output = "";
});

describe("rotate bundle metrics", () => {
  it("counts the IBKR rotation-due stop as an operator stop, not a rotation failure", async () => {
    // Arrange
    await client.send(
      new CreateSecretCommand({
        Name: "algo-trade/metrics/ibkr",
        SecretString: JSON.stringify({
          username: "trader1",
          password: "0ldPassw0rd-2025",
          account: "DU1234567",
          host: "127.0.0.1",
          port: 4002,
        }),
        Tags: [{ Key: "vigil:rotation", Value: "ibkr" }],
      }),
    );

    // Act
    await client
      .send(new RotateSecretCommand({ SecretId: "algo-trade/metrics/ibkr", RotationLambdaARN: ROTATE }))
      .catch(() => undefined);

    // Assert
    const lines = emfLines(output);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line._aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
      expect(line.service).toBe("vigil-metrics-rotate");
    }
    expect(valuesOf(lines, "RotationSteps", { Strategy: "ibkr", Outcome: "operator-stop" })).toEqual([1]);
    expect(valuesOf(lines, "RotationFailures")).toEqual([0]);
    expect(valuesOf(lines, "RotationStepDuration", { Step: "createSecret" })).toHaveLength(1);
  });

  it("counts a step that fails against its database as a rotation failure", async () => {
    // Arrange: nothing listens on port 9 of the loopback.
    await client.send(
      new CreateSecretCommand({
        Name: "metrics/postgres",
        SecretString: JSON.stringify({
          engine: "postgres",
          host: "127.0.0.1",
          port: 9,
          username: "app",
          password: "not-a-real-password-1",
          ssl: false,
        }),
      }),
    );

    // Act
    await client
      .send(new RotateSecretCommand({ SecretId: "metrics/postgres", RotationLambdaARN: ROTATE }))
      .catch(() => undefined);

    // Assert
    const lines = emfLines(output);
    expect(valuesOf(lines, "RotationSteps", { Strategy: "postgres-single", Outcome: "failed" })).toEqual([1]);
    expect(valuesOf(lines, "RotationFailures").reduce((sum, value) => sum + value, 0)).toBe(1);
  });
});

describe("notify bundle metrics", () => {
  it("counts pages sent, the batch size and the grouping ratio", async () => {
    // Arrange
    await new SecretsManagerClient(sandbox.clientConfig()).send(
      new CreateSecretCommand({
        Name: "vigil/metrics/pagerduty",
        SecretString: JSON.stringify({ routing_key: "METRICSROUTINGKY0123456789abcdef" }),
      }),
    );
    const topicArn = sandbox.createTopic("vigil-metrics-alerts");
    const event = {
      Records: [
        sqsRecord(makeFinding({ groupKey: "metrics-critical", severity: "critical" }), "m-1"),
        sqsRecord(makeFinding({ groupKey: "metrics-critical", severity: "critical" }), "m-2"),
      ],
    };

    // Act
    await runBundle("notify", event, {
      PAGERDUTY_EVENTS_URL: sandbox.env.PAGERDUTY_EVENTS_URL ?? "",
      PAGERDUTY_ROUTING_KEY_SECRET_ID: "vigil/metrics/pagerduty",
      ALERTS_TOPIC_ARN: topicArn,
    });

    // Assert
    const lines = emfLines(output);
    expect(lines.every((line) => line.service === "vigil-metrics-notify")).toBe(true);
    expect(valuesOf(lines, "PagesSent")).toEqual([1]);
    expect(valuesOf(lines, "PagesFailed")).toEqual([0]);
    expect(valuesOf(lines, "BatchSize")).toEqual([2]);
    expect(valuesOf(lines, "GroupingRatio")).toEqual([2]);
    const emitted = lines.flatMap((line) => line._aws.CloudWatchMetrics.flatMap((set) => set.Metrics));
    for (const { Name } of emitted) expect(Object.keys(metricCatalogue)).toContain(Name);
  });
});

describe("audit-scan bundle metrics", () => {
  it("counts the events a lookup sweep processed and how far behind CloudTrail it is", async () => {
    // Arrange: a call the sandbox's CloudTrail records for the sweep to find.
    await client.send(new CreateSecretCommand({ Name: "metrics/scanned", SecretString: "{}" }));
    const queueUrl = sandbox.createQueue("vigil-metrics-findings");

    // Act
    await runBundle("audit-scan", { detail: { task: "lookup-sweep" } }, { FINDINGS_QUEUE_URL: queueUrl });

    // Assert
    const lines = emfLines(output);
    expect(lines.every((line) => line.service === "vigil-metrics-audit-scan")).toBe(true);
    expect(
      valuesOf(lines, "EventsProcessed", { Source: "lookup" }).reduce((sum, n) => sum + n, 0),
    ).toBeGreaterThan(0);
    expect(valuesOf(lines, "ScannerLagSeconds", { Source: "lookup" })).toHaveLength(1);
  });
});
