import { createServer } from "node:net";
import { Readable } from "node:stream";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  IbkrStageError,
  type IbkrStageOptions,
  SCRIPTED_STAGE_OPTIONS,
  stageIbkrCredentials,
} from "../../functions/rotate/strategies/ibkr/index.ts";
import { stagedValue } from "../../functions/rotate/strategies/ibkr/staging.ts";
import type { RotationLambda, Sandbox } from "../../local/sandbox.ts";
import { startSandbox } from "../../local/sandbox.ts";
import { type CapturedOutput, captureOutput, textSink } from "../helpers/output.ts";

const ACCOUNT = "DU1234567";
const OLD_PASSWORD = "0ldPassw0rd-2025";
const LAMBDA = "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate";
// Every password a test stages; none may appear in any output.
const STAGED = [
  "N3wPassw0rd-2026",
  "Sec0ndPassw0rd-77",
  "Th1rdPassw0rd-88",
  "F0urthPassw0rd-99",
  "shrt1",
  "F1fthPassw0rd-55",
  "S1xthPassw0rd-66",
  "Sev3nthPassw0rd-77",
];

let sandbox: Sandbox;
let client: SecretsManagerClient;
let topicArn: string;
let handler: RotationLambda;
/** When true, the sandbox's "Lambda" runs every step twice, like a Secrets Manager retry after a timeout. */
let replayEachStep = false;
/** What the CLI printed, besides the captured stdout/stderr. */
let output: string[] = [];
let captured: CapturedOutput;
let secretCounter = 0;

beforeAll(async () => {
  sandbox = await startSandbox({
    ibGateway: { accounts: [ACCOUNT, "DU7654321"] },
    rotationLambda: async (event, context) => {
      await handler(event, context);
      if (replayEachStep) await handler(event, context);
    },
  });
  topicArn = sandbox.createTopic("vigil-rotation-events");
  // The real rotate handler, configured the way the deployment configures it.
  Object.assign(process.env, sandbox.env, {
    ROTATION_EVENTS_TOPIC_ARN: topicArn,
    IBKR_VERIFY_TIMEOUT_MS: "3000",
    LOG_LEVEL: "INFO",
  });
  handler = (await import("../../functions/rotate/handler.ts")).handler as RotationLambda;
  client = new SecretsManagerClient(sandbox.clientConfig());
});

afterAll(async () => {
  await sandbox?.stop();
});

beforeEach(() => {
  replayEachStep = false;
  sandbox.ibGateway!.setAccounts([ACCOUNT, "DU7654321"]);
  output = [];
  captured = captureOutput();
});

afterEach(() => {
  vi.restoreAllMocks();
  sandbox.faults.clear();
  // Everything any part wrote: logs of the rotate handler, the CLI's output, CloudTrail, SNS.
  const everything = [
    captured.text(),
    ...output,
    JSON.stringify(sandbox.cloudTrailRecords()),
    JSON.stringify(sandbox.snsMessages()),
  ].join("\n");
  for (const password of [...STAGED, OLD_PASSWORD]) expect(everything).not.toContain(password);
});

/** Creates an IBKR secret with rotation configured (not yet run), pointing at the sandbox's gateway. */
async function ibkrSecret(overrides: Record<string, unknown> = {}): Promise<string> {
  secretCounter += 1;
  const name = `algo-trade/test${secretCounter}/ibkr`;
  await client.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: JSON.stringify({
        username: "trader1",
        password: OLD_PASSWORD,
        account: ACCOUNT,
        host: sandbox.ibGateway!.host,
        port: sandbox.ibGateway!.port,
        paper: true,
        client_id: 1,
        ...overrides,
      }),
      Tags: [{ Key: "vigil:rotation", Value: "ibkr" }],
    }),
  );
  await client.send(
    new RotateSecretCommand({
      SecretId: name,
      RotationLambdaARN: LAMBDA,
      RotationRules: { AutomaticallyAfterDays: 30 },
      RotateImmediately: false,
    }),
  );
  return name;
}

/** Runs `vigil ibkr stage --stdin` in-process; returns what it printed. */
async function stage(
  secretId: string,
  stdin: string,
  options: Partial<IbkrStageOptions> = {},
): Promise<{ printed: string; error?: unknown }> {
  const sink = textSink();
  try {
    await stageIbkrCredentials(
      { ...SCRIPTED_STAGE_OPTIONS, secretId, ...options },
      {
        secretsManager: client,
        input: Readable.from([stdin]),
        output: sink,
        sleep: async () => {},
        now: () => new Date(),
        operator: () => "ops@test",
        env: {},
      },
    );
    return { printed: sink.text() };
  } catch (error) {
    return { printed: sink.text(), error };
  } finally {
    output.push(sink.text());
  }
}

async function currentValue(name: string): Promise<Record<string, unknown>> {
  const response = await client.send(
    new GetSecretValueCommand({ SecretId: name, VersionStage: "AWSCURRENT" }),
  );
  return JSON.parse(response.SecretString!) as Record<string, unknown>;
}

async function stagesOf(name: string): Promise<Record<string, string[]>> {
  return (await client.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
}

async function stagingExists(name: string): Promise<boolean> {
  try {
    await client.send(new DescribeSecretCommand({ SecretId: `${name}/vigil-staging` }));
    return true;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return false;
    throw error;
  }
}

function findingsFor(name: string): Record<string, unknown>[] {
  return sandbox
    .snsMessages()
    .map((message) => JSON.parse(message.message) as Record<string, unknown>)
    .filter((message) => String(message.secretArn ?? "").includes(`:secret:${name}-`));
}

describe("IBKR rotation through the sandbox", () => {
  it("fails an unstaged scheduled rotation with the instruction, notifies at low severity, then rotates once staged", async () => {
    const name = await ibkrSecret();

    await client.send(new RotateSecretCommand({ SecretId: name }));

    const failed = sandbox.rotations().at(-1)!;
    expect(failed.status).toBe("failed");
    expect(failed.failure?.step).toBe("createSecret");
    expect(failed.failure?.message).toContain(`then run \`vigil ibkr stage --secret-id ${name}\``);
    const due = findingsFor(name).find((message) => message.rule === "ibkr.rotation-due");
    expect(due).toMatchObject({ severity: "low", status: "firing", details: { step: "createSecret" } });
    expect(Object.values(await stagesOf(name))).toEqual([["AWSCURRENT"]]);
    // The handler's own log lines are captured, so the no-password check below is not vacuous.
    expect(captured.text()).toContain('"level":"WARN","message":"rotation step stopped"');

    const { printed, error } = await stage(name, `${STAGED[0]}\n`);

    expect(error).toBeUndefined();
    expect(printed).toContain("✔ finishSecret");
    expect((await currentValue(name)).password).toBe(STAGED[0]);
    expect(findingsFor(name).at(-1)).toMatchObject({ type: "secret.rotated", strategy: "ibkr" });
  });

  it("rotates a staged password and api_key through the four steps and deletes the staging secret", async () => {
    const name = await ibkrSecret({ api_key: "old-key-123456" });

    const { printed, error } = await stage(name, `${STAGED[1]}\nnew-key-654321\n`, { apiKey: true });

    expect(error).toBeUndefined();
    expect(printed.match(/✔ \w+/g)).toEqual([
      "✔ createSecret",
      "✔ setSecret",
      "✔ testSecret",
      "✔ finishSecret",
    ]);
    expect(printed).toContain(`Rotated: ${name} AWSCURRENT is now version`);
    const value = await currentValue(name);
    expect(value).toMatchObject({
      password: STAGED[1],
      api_key: "new-key-654321",
      account: ACCOUNT,
      client_id: 1,
    });
    const previous = await client.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: "AWSPREVIOUS" }),
    );
    expect(JSON.parse(previous.SecretString!).password).toBe(OLD_PASSWORD);
    expect(Object.values(await stagesOf(name)).flat()).not.toContain("AWSPENDING");
    expect(await stagingExists(name)).toBe(false);
    expect(sandbox.ibGateway!.connections()).toBe(0);
  });

  it("fails testSecret when the gateway does not list the account, and resumes once it does", async () => {
    const name = await ibkrSecret();
    sandbox.ibGateway!.setAccounts(["DU0000001"]);

    const first = await stage(name, `${STAGED[2]}\n`);

    expect(first.error).toBeInstanceOf(IbkrStageError);
    expect((first.error as Error).message).toContain("failed at testSecret");
    expect(first.printed).toContain(
      `✘ testSecret: IB Gateway at ${sandbox.ibGateway!.host}:${sandbox.ibGateway!.port}`,
    );
    expect(first.printed).toContain(`does not manage account ${ACCOUNT}`);
    expect((await currentValue(name)).password).toBe(OLD_PASSWORD);

    sandbox.ibGateway!.setAccounts([ACCOUNT]);
    const resumed = await stage(name, "", { resume: true });

    expect(resumed.error).toBeUndefined();
    expect((await currentValue(name)).password).toBe(STAGED[2]);
    expect(await stagingExists(name)).toBe(false);
  });

  it("fails testSecret with the next step when the gateway is unreachable", async () => {
    const closedPort = await freePort();
    const name = await ibkrSecret({ port: closedPort });

    const { printed, error } = await stage(name, `${STAGED[3]}\n`);

    expect(error).toBeInstanceOf(IbkrStageError);
    expect(printed).toContain(`✘ testSecret: IB Gateway check failed`);
    expect(printed).toContain(`is unreachable (ECONNREFUSED)`);
    expect((error as Error).message).toContain(`vigil ibkr stage --secret-id ${name} --resume`);
    expect((await currentValue(name)).password).toBe(OLD_PASSWORD);
  });

  it("fails testSecret when the gateway has lost its IBKR connection (error 1100) or drops the client", async () => {
    const name = await ibkrSecret();
    sandbox.faults.inject({ target: "ibgateway", operation: "connect", kind: "5xx", times: 1 });

    const lost = await stage(name, `${STAGED[7]}\n`);

    expect(lost.error).toBeInstanceOf(IbkrStageError);
    expect(lost.printed).toContain("1100 Connectivity between IB and Trader Workstation has been lost.");

    sandbox.faults.inject({ target: "ibgateway", operation: "connect", kind: "drop", times: 1 });
    const dropped = await stage(name, "", { resume: true });

    expect(dropped.error).toBeInstanceOf(IbkrStageError);
    expect(dropped.printed).toContain("closed the connection before the version negotiation");

    const resumed = await stage(name, "", { resume: true });
    expect(resumed.error).toBeUndefined();
    expect((await currentValue(name)).password).toBe(STAGED[7]);
  });

  it("rejects a password that breaks IBKR's rules before anything is written", async () => {
    const name = await ibkrSecret();
    const callsBefore = sandbox.cloudTrailRecords().length;

    const { error } = await stage(name, `${STAGED[4]}\n`);

    expect(error).toBeInstanceOf(IbkrStageError);
    expect((error as Error).message).toMatch(
      /^Nothing was written: the new password must be 6–40 characters long/,
    );
    const writes = sandbox
      .cloudTrailRecords()
      .slice(callsBefore)
      .map((record) => record.eventName)
      .filter((event) => !["DescribeSecret", "GetSecretValue"].includes(event));
    expect(writes).toEqual([]);
    expect(await stagingExists(name)).toBe(false);
  });

  it("replaces an earlier staging that was never rotated (--no-rotate, then staged again)", async () => {
    const name = await ibkrSecret();

    const first = await stage(name, `${STAGED[5]}\n`, { rotate: false });
    const second = await stage(name, `${STAGED[6]}\n`);

    expect(first.error).toBeUndefined();
    expect(first.printed).toContain("Not rotating (--no-rotate)");
    expect(second.error).toBeUndefined();
    expect((await currentValue(name)).password).toBe(STAGED[6]);
    expect(await stagingExists(name)).toBe(false);
  });

  it("refuses a staging made before the secret changed, with a medium finding, and blocks nothing", async () => {
    const name = await ibkrSecret();
    await stage(name, `${STAGED[5]}\n`, { rotate: false });
    const changed = { ...(await currentValue(name)), host: "127.0.0.1" };
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify(changed) }));

    await client.send(new RotateSecretCommand({ SecretId: name }));

    expect(sandbox.rotations().at(-1)!.failure?.message).toContain("the secret changed since");
    expect(findingsFor(name).at(-1)).toMatchObject({ rule: "ibkr.staging-invalid", severity: "medium" });
    expect(Object.values(await stagesOf(name)).flat()).not.toContain("AWSPENDING");
    const again = await stage(name, `${STAGED[6]}\n`);
    expect(again.error).toBeUndefined();
    expect((await currentValue(name)).password).toBe(STAGED[6]);
  });

  it("refuses a staging secret planted under another KMS key: nothing promoted, a high finding", async () => {
    const name = await ibkrSecret();
    const metadata = await client.send(new DescribeSecretCommand({ SecretId: name }));
    const currentVersion = Object.entries(metadata.VersionIdsToStages ?? {}).find(([, stages]) =>
      stages.includes("AWSCURRENT"),
    )![0];
    await client.send(
      new CreateSecretCommand({
        Name: `${name}/vigil-staging`,
        KmsKeyId: "alias/attacker",
        SecretString: JSON.stringify(
          stagedValue({
            targetArn: metadata.ARN!,
            basedOnVersionId: currentVersion,
            password: STAGED[7]!,
            stagedAt: new Date().toISOString(),
          }),
        ),
        Tags: [
          { Key: "vigil:staging-for", Value: metadata.ARN! },
          { Key: "vigil:purpose", Value: "ibkr-staging" },
        ],
      }),
    );

    await client.send(new RotateSecretCommand({ SecretId: name }));

    expect(sandbox.rotations().at(-1)!.failure?.message).toContain(
      "it is encrypted with KMS key alias/attacker, not the expected aws/secretsmanager",
    );
    expect(findingsFor(name).at(-1)).toMatchObject({ rule: "ibkr.staging-untrusted", severity: "high" });
    expect(findingsFor(name).filter((message) => message.type === "secret.rotated")).toEqual([]);
    expect((await currentValue(name)).password).toBe(OLD_PASSWORD);
    expect(Object.values(await stagesOf(name)).flat()).not.toContain("AWSPENDING");
    expect(await stagingExists(name)).toBe(true);
  });

  it("survives a replay of every step during the rotation and after it", async () => {
    const name = await ibkrSecret();
    replayEachStep = true;

    const { error } = await stage(name, `${STAGED[0]}x\n`);

    expect(error).toBeUndefined();
    expect((await currentValue(name)).password).toBe(`${STAGED[0]}x`);
    const stagesAfter = await stagesOf(name);
    const token = Object.entries(stagesAfter).find(([, stages]) => stages.includes("AWSCURRENT"))![0];
    const rotatedEvents = () =>
      findingsFor(name).filter((message) => message.type === "secret.rotated").length;
    expect(rotatedEvents()).toBe(1);

    replayEachStep = false;
    for (const step of ["createSecret", "setSecret", "testSecret", "finishSecret"]) {
      await handler(
        { SecretId: name, ClientRequestToken: token, Step: step },
        { getRemainingTimeInMillis: () => 30_000, functionName: "vigil-rotate", awsRequestId: step },
      );
    }

    expect(await stagesOf(name)).toEqual(stagesAfter);
    expect(rotatedEvents()).toBe(1);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
