import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { promisify } from "node:util";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { ECSClient } from "@aws-sdk/client-ecs";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type IncidentCommandDependencies,
  type IncidentOptions,
  incident,
} from "../../cli/commands/incident.ts";
import { consumingServices, restartConsumers } from "../../functions/rotate/consumers.ts";
import { IncidentInputError, IncidentStepError } from "../../incident/index.ts";
import { denySid } from "../../incident/resource-policy.ts";
import { type RotationLambda, type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { ensureBuilt } from "../helpers/built.ts";
import { textSink } from "../helpers/output.ts";

const run = promisify(execFile);
const APP_KEY = "ASIATRADINGAPP000001";
const INTRUDER_KEY = "AKIAINTRUDER00000001";
const RESPONDER_KEY = "ASIARESPONDER0000001";
const ROTATOR_KEY = "ASIAVIGILROTATE00001";
// Values that must never reach the evidence, the output or the record.
const KNOWN_PASSWORD = "Kn0wn-Ledger-Passw0rd-2026";
const ROTATED_PASSWORD = "R0tated-Ledger-Passw0rd-2027";
const ROTATE_LAMBDA = "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate";
const LAZY_ROTATE_LAMBDA = "arn:aws:lambda:us-east-1:111122223333:function:no-restart-rotate";
const ROUTING_KEY_SECRET = "vigil/local/pagerduty-routing-key";
const IB_ACCOUNT = "DU3333333";
const IBKR_OLD_PASSWORD = "0ldIbkrPassw0rd-9";
const IBKR_NEW_PASSWORD = "N3wIbkrPassw0rd-10";
const APP_POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    {
      Sid: "AppReads",
      Effect: "Allow",
      Principal: { AWS: "arn:aws:iam::111122223333:role/trading-app" },
      Action: "secretsmanager:GetSecretValue",
      Resource: "*",
    },
  ],
});

let sandbox: Sandbox;
let dir: string;
let topicArn: string;
const intruderArn = "arn:aws:iam::111122223333:user/build-bot";

/** The four steps as the rotate function does them, restarting the consumers after finishSecret (or not). */
function rotation(restart: boolean, on: () => Sandbox = () => sandbox): RotationLambda {
  return async (event) => {
    const client = new SecretsManagerClient(on().clientConfig(ROTATOR_KEY));
    if (event.Step === "createSecret") {
      await client.send(
        new PutSecretValueCommand({
          SecretId: event.SecretId,
          ClientRequestToken: event.ClientRequestToken,
          SecretString: JSON.stringify({ username: "ledger", password: ROTATED_PASSWORD }),
          VersionStages: ["AWSPENDING"],
        }),
      );
    }
    if (event.Step === "finishSecret") {
      const described = await client.send(new DescribeSecretCommand({ SecretId: event.SecretId }));
      const stages = described.VersionIdsToStages ?? {};
      await client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: event.SecretId,
          VersionStage: "AWSCURRENT",
          MoveToVersionId: event.ClientRequestToken,
          RemoveFromVersionId: Object.keys(stages).find((id) => stages[id]?.includes("AWSCURRENT")),
        }),
      );
      await client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: event.SecretId,
          VersionStage: "AWSPENDING",
          RemoveFromVersionId: event.ClientRequestToken,
        }),
      );
      if (restart) {
        const ecs = new ECSClient(on().clientConfig(ROTATOR_KEY));
        await restartConsumers(ecs, consumingServices(described.Tags).services);
      }
    }
  };
}

const admin = () => new SecretsManagerClient(sandbox.clientConfig());

async function createSecret(
  name: string,
  options: { lambda?: string; policy?: string; tags?: Record<string, string> },
) {
  const created = await admin().send(
    new CreateSecretCommand({
      Name: name,
      SecretString: JSON.stringify({ username: "ledger", password: KNOWN_PASSWORD }),
      Tags: Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  if (options.lambda) {
    await admin().send(
      new RotateSecretCommand({
        SecretId: created.ARN,
        RotationLambdaARN: options.lambda,
        RotateImmediately: false,
      }),
    );
  }
  if (options.policy) {
    await admin().send(
      new PutResourcePolicyCommand({ SecretId: created.ARN, ResourcePolicy: options.policy }),
    );
  }
  return created.ARN!;
}

function dependencies(): IncidentCommandDependencies & { output: ReturnType<typeof textSink> } {
  return {
    clients: () => ({
      secretsManager: new SecretsManagerClient(sandbox.clientConfig(RESPONDER_KEY)),
      cloudTrail: new CloudTrailClient({ ...sandbox.clientConfig(RESPONDER_KEY), maxAttempts: 1 }),
      ecs: new ECSClient(sandbox.clientConfig(RESPONDER_KEY)),
      sns: new SNSClient(sandbox.clientConfig(RESPONDER_KEY)),
      sts: new STSClient(sandbox.clientConfig(RESPONDER_KEY)),
    }),
    output: textSink(),
    prompts: textSink(),
    input: Object.assign(textSink(), { isTTY: false }) as unknown as IncidentCommandDependencies["input"],
    env: {
      PAGERDUTY_ROUTING_KEY_SECRET_ID: ROUTING_KEY_SECRET,
      PAGERDUTY_EVENTS_URL: sandbox.env.PAGERDUTY_EVENTS_URL,
      ALERTS_TOPIC_ARN: topicArn,
    },
    fetch: globalThis.fetch,
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    operator: () => "alice@laptop",
    pollMs: 50,
    consumersWaitMs: 300,
  };
}

function options(secretId: string, overrides: Partial<IncidentOptions> = {}): IncidentOptions {
  return {
    secretId,
    deny: [],
    since: "30d",
    trail: [],
    out: undefined,
    policyPath: undefined,
    rotate: true,
    record: true,
    yes: true,
    dryRun: false,
    timeoutSeconds: 30,
    region: undefined,
    ...overrides,
  };
}

/** What the sandbox holds that the command may change: policies, versions, rotations, deployments, pages. */
async function snapshot(secretArn: string) {
  const sm = admin();
  return {
    policy: (await sm.send(new GetResourcePolicyCommand({ SecretId: secretArn }))).ResourcePolicy,
    stages: (await sm.send(new DescribeSecretCommand({ SecretId: secretArn }))).VersionIdsToStages,
    rotations: sandbox.rotations().length,
    deployments: sandbox.ecsDeployments().length,
    pages: sandbox.pagerDutyEvents().length,
    messages: sandbox.snsMessages().length,
  };
}

async function filesIn(folder: string): Promise<Record<string, string>> {
  const names = await readdir(folder);
  return Object.fromEntries(
    await Promise.all(names.map(async (name) => [name, await readFile(join(folder, name), "utf8")])),
  );
}

beforeAll(async () => {
  sandbox = await startSandbox({
    rotationLambdas: {
      "vigil-rotate": rotation(true),
      "no-restart-rotate": rotation(false),
      "failing-rotate": async (event) => {
        if (event.Step === "testSecret") throw new Error("cannot log in with the pending password");
      },
      // Vigil's own rotate handler, for the IBKR flow (staging secret, IB Gateway handshake, promotion).
      "vigil-ibkr-rotate": async (event, context) =>
        (await import("../../functions/rotate/handler.ts")).handler(event, context),
    },
    ibGateway: { accounts: [IB_ACCOUNT] },
    ecsServices: ["trading/ledger-api", "trading/risk"],
    identities: [
      { accessKeyId: ROTATOR_KEY, type: "AssumedRole", name: "vigil-rotate", sessionName: "rotation" },
      {
        accessKeyId: APP_KEY,
        type: "AssumedRole",
        name: "trading-app",
        sessionName: "task-1",
        sourceIp: "10.0.1.15",
      },
      { accessKeyId: INTRUDER_KEY, type: "IAMUser", name: "build-bot", sourceIp: "192.0.2.44" },
      { accessKeyId: RESPONDER_KEY, type: "AssumedRole", name: "responder", sessionName: "alice" },
    ],
  });
  // Vigil's rotate handler reads its configuration (and the sandbox's endpoint) from the environment.
  Object.assign(process.env, sandbox.env, { LOG_LEVEL: "SILENT", POWERTOOLS_METRICS_DISABLED: "true" });
  topicArn = sandbox.createTopic("vigil-local-alerts");
  await admin().send(
    new CreateSecretCommand({ Name: ROUTING_KEY_SECRET, SecretString: "VIGILLOCALSANDBOXROUTINGKEY00001" }),
  );
  dir = await mkdtemp(join(tmpdir(), "vigil-incident-"));
});

afterAll(async () => {
  await sandbox?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("vigil incident against the sandbox", () => {
  it("writes a verifiable evidence bundle, merges an undoable deny, rotates, restarts consumers and records it once", async () => {
    const arn = await createSecret("prod/ledger-db", {
      lambda: ROTATE_LAMBDA,
      policy: APP_POLICY,
      tags: { "vigil:rotation": "postgres-single", "vigil:ecs-services": "trading/ledger-api" },
    });
    const app = new SecretsManagerClient(sandbox.clientConfig(APP_KEY));
    for (let read = 0; read < 3; read++) await app.send(new GetSecretValueCommand({ SecretId: arn }));
    await new SecretsManagerClient(sandbox.clientConfig(INTRUDER_KEY)).send(
      new GetSecretValueCommand({ SecretId: "prod/ledger-db" }),
    );
    const out = join(dir, "ledger");
    const deps = dependencies();
    const rotationsBefore = sandbox.rotations().length;

    const log = await incident(options("prod/ledger-db", { deny: [intruderArn], out }), deps);

    // Every step succeeded, in order, by the identity the credentials belong to.
    expect(log?.steps.map((step) => [step.step, step.status])).toEqual([
      ["evidence", "ok"],
      ["contain", "ok"],
      ["rotate", "ok"],
      ["restart", "ok"],
      ["record", "ok"],
    ]);
    expect(log?.by.callerArn).toBe("arn:aws:sts::111122223333:assumed-role/responder/alice");
    // The bundle verifies with sha256sum, and holds who read the secret.
    const checked = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: out });
    expect(checked.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "evidence.json: OK",
      "pre-incident-policy.json: OK",
      "response.json: OK",
      "timeline.md: OK",
    ]);
    const evidence = JSON.parse(await readFile(join(out, "evidence.json"), "utf8"));
    expect(
      evidence.access
        .filter((row: { eventName: string }) => row.eventName === "GetSecretValue")
        .map((row: { principal: string; count: number }) => [row.principal, row.count]),
    ).toEqual([
      ["arn:aws:iam::111122223333:role/trading-app", 3],
      [intruderArn, 1],
    ]);
    expect(evidence.secret.tags["vigil:ecs-services"]).toBe("trading/ledger-api");
    expect(evidence.resourcePolicy).toEqual(JSON.parse(APP_POLICY));
    expect(await readFile(join(out, "timeline.md"), "utf8")).toContain("| record | ok |");
    // The deny is merged into the existing policy ...
    const merged = JSON.parse(
      (await admin().send(new GetResourcePolicyCommand({ SecretId: arn }))).ResourcePolicy ?? "{}",
    );
    expect(merged.Statement.map((statement: { Sid: string }) => statement.Sid)).toEqual([
      "AppReads",
      denySid(intruderArn),
    ]);
    // ... the rotation completed and the consumer rolled after it ...
    expect(sandbox.rotations().slice(rotationsBefore)).toMatchObject([{ status: "succeeded" }]);
    const rotated = log?.steps.find((step) => step.step === "rotate")?.data as { versionId: string };
    const stages =
      (await admin().send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages ?? {};
    expect(stages[rotated.versionId]).toEqual(["AWSCURRENT"]);
    expect(sandbox.ecsDeployments().filter((deployment) => deployment.service === "ledger-api")).toHaveLength(
      1,
    );
    expect(log?.steps.find((step) => step.step === "restart")?.detail).toMatch(
      /trading\/ledger-api rolled at .* by the rotation/,
    );
    // ... one PagerDuty incident and one SNS message, saying who did what and where the evidence is.
    const pages = sandbox
      .pagerDutyEvents()
      .filter((event) => JSON.stringify(event).includes("incident.response"));
    expect(pages).toHaveLength(1);
    expect(JSON.stringify(pages[0])).toContain("assumed-role/responder/alice");
    const messages = sandbox
      .snsMessages()
      .filter((message) => message.messageAttributes.rule?.StringValue === "incident.response");
    expect(messages).toHaveLength(1);
    expect(messages[0]?.message).toContain(out);
    // No secret value anywhere: files, output, prompts, page, message.
    const everything = [
      ...Object.values(await filesIn(out)),
      deps.output.text(),
      JSON.stringify(pages),
      JSON.stringify(messages),
    ].join("\n");
    expect(everything).not.toContain(KNOWN_PASSWORD);
    expect(everything).not.toContain(ROTATED_PASSWORD);
    expect(everything).not.toContain("VIGILLOCALSANDBOXROUTINGKEY00001");

    // The printed undo puts the policy back exactly as it was.
    const undo = /Undo the deny: (.+)\n/.exec(deps.output.text())?.[1];
    expect(undo).toBe(log?.undo);
    await run("sh", ["-c", undo!], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        AWS_ENDPOINT_URL: sandbox.endpoint,
        AWS_ACCESS_KEY_ID: RESPONDER_KEY,
        AWS_SECRET_ACCESS_KEY: "not-verified",
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        AWS_PAGER: "",
      },
    });
    const restored = (await admin().send(new GetResourcePolicyCommand({ SecretId: arn }))).ResourcePolicy;
    expect(JSON.parse(restored ?? "{}")).toEqual(JSON.parse(APP_POLICY));
  });

  it("restarts consumers itself when the rotation did not, and deletes the policy on undo when there was none", async () => {
    const arn = await createSecret("prod/risk-db", {
      lambda: LAZY_ROTATE_LAMBDA,
      tags: { "vigil:ecs-services": "trading/risk" },
    });
    const deps = dependencies();

    const log = await incident(options(arn, { deny: [intruderArn], out: join(dir, "risk") }), deps);

    expect(log?.steps.find((step) => step.step === "restart")?.detail).toMatch(
      /trading\/risk rolled at .* restarted by this command/,
    );
    expect(sandbox.ecsDeployments().filter((deployment) => deployment.service === "risk")).toMatchObject([
      { cluster: "trading", forceNewDeployment: true },
    ]);
    expect(log?.undo).toBe(`aws secretsmanager --region us-east-1 delete-resource-policy --secret-id ${arn}`);
  });

  it("reports a rotation already in progress instead of forcing it, still records, and exits naming the step", async () => {
    const arn = await createSecret("prod/stuck-db", {
      lambda: ROTATE_LAMBDA,
      tags: { "vigil:ecs-services": "trading/risk" },
    });
    await admin().send(
      new PutSecretValueCommand({
        SecretId: arn,
        SecretString: '{"password":"half-rotated"}',
        VersionStages: ["AWSPENDING"],
      }),
    );
    const before = await snapshot(arn);
    const deps = dependencies();

    const error = await incident(options(arn, { out: join(dir, "stuck") }), deps).catch(
      (caught: unknown) => caught,
    );

    expect(error).toBeInstanceOf(IncidentStepError);
    expect((error as IncidentStepError).step).toBe("rotate");
    expect((error as Error).message).toMatch(
      /failed at rotate: a rotation is already in progress or unfinished \(version .* is AWSPENDING\); not forced.* State: rotate: AWSCURRENT unchanged; pending version .* left as it is; evidence in /,
    );
    const after = await snapshot(arn);
    expect(after).toMatchObject({
      stages: before.stages,
      rotations: before.rotations,
      deployments: before.deployments,
    });
    expect(after.pages).toBe(before.pages + 1);
    expect(deps.output.text()).toMatch(/skipped restart: not run: there is no new credential/);
  });

  it("prints the plan with --dry-run and changes nothing", async () => {
    const arn = await createSecret("prod/dry-db", { lambda: ROTATE_LAMBDA, policy: APP_POLICY });
    const before = await snapshot(arn);
    const out = join(dir, "dry");
    const deps = dependencies();

    const log = await incident(options(arn, { deny: [intruderArn], out, dryRun: true, yes: false }), deps);

    expect(log).toBeUndefined();
    expect(deps.output.text()).toMatch(/^Incident response plan for arn:aws:secretsmanager:.*prod\/dry-db/);
    expect(deps.output.text()).toMatch(
      / {2}2\. contain: add an explicit Deny of secretsmanager:\* for arn:aws:iam::111122223333:user\/build-bot/,
    );
    expect(deps.output.text()).toContain("Dry run: nothing was changed or written.");
    expect(await snapshot(arn)).toEqual(before);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it("refuses to run without a terminal to confirm on unless --yes, before reading anything", async () => {
    const arn = await createSecret("prod/unattended-db", { lambda: ROTATE_LAMBDA });
    const before = await snapshot(arn);
    const calls = sandbox.cloudTrailRecords().length;

    const error = await incident(
      options(arn, { yes: false, out: join(dir, "unattended") }),
      dependencies(),
    ).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(IncidentInputError);
    expect((error as Error).message).toBe(
      "no terminal to confirm each action on: add --yes (automation) or --dry-run (the plan only)",
    );
    expect(sandbox.cloudTrailRecords()).toHaveLength(calls);
    expect(await snapshot(arn)).toEqual(before);
  });

  it("answers bad input with one line and exit code 2, changing and writing nothing", async () => {
    const cli = await ensureBuilt("dist/cli/main.mjs", ["cli", "functions", "incident", "lib"]);
    const arn = await createSecret("prod/untouched-db", { lambda: ROTATE_LAMBDA, policy: APP_POLICY });
    const before = await snapshot(arn);
    const cwd = await mkdtemp(join(tmpdir(), "vigil-incident-bad-"));
    const vigil = (env: Record<string, string>, ...args: string[]) =>
      run(process.execPath, [join(cli, "..", "vigil.mjs"), "incident", "--yes", ...args], {
        cwd,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: cwd,
          AWS_CONFIG_FILE: join(cwd, "none"),
          AWS_SHARED_CREDENTIALS_FILE: join(cwd, "none"),
          AWS_EC2_METADATA_DISABLED: "true",
          ...env,
        },
      }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    const configured: Record<string, string> = {
      ...sandbox.env,
      PAGERDUTY_ROUTING_KEY_SECRET_ID: ROUTING_KEY_SECRET,
      ALERTS_TOPIC_ARN: topicArn,
    };
    const { AWS_ACCESS_KEY_ID: _key, AWS_SECRET_ACCESS_KEY: _secret, ...noCredentials } = configured;

    const help = await run(process.execPath, [join(cli, "..", "vigil.mjs"), "incident", "--help"]);
    const unknown = await vigil(configured, "--secret", "prod/no-such-secret", "--deny", intruderArn);
    const malformed = await vigil(configured, "--secret", arn, "--deny", "arn:aws:iam::111122223333:role/*");
    const anonymous = await vigil(noCredentials, "--secret", arn, "--deny", intruderArn);
    const selfDeny = await vigil(
      configured,
      "--secret",
      arn,
      "--deny",
      "arn:aws:iam::111122223333:user/sandbox-developer",
    );

    expect(help.stdout).toMatch(/^Usage: vigil incident \[options\]/);
    for (const option of [
      "--secret",
      "--deny",
      "--since",
      "--trail",
      "--out",
      "--dry-run",
      "--yes",
      "--no-rotate",
    ]) {
      expect(help.stdout).toContain(option);
    }
    expect(help.stdout).toContain("docs/incident-response.md");
    expect(unknown).toMatchObject({
      code: 2,
      stderr:
        'vigil: --secret: no secret "prod/no-such-secret" in this account and region (check --secret and --region)\n',
    });
    expect(malformed).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /^vigil: --deny: expected an IAM user, role or account ARN .*got "arn:aws:iam::111122223333:role\/\*"\n$/,
      ),
    });
    expect(anonymous).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^vigil: no usable AWS credentials .*\n$/),
    });
    expect(selfDeny).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^vigil: --deny: .* is the identity running this command/),
    });
    for (const result of [unknown, malformed, anonymous, selfDeny]) {
      expect((result as { stderr: string }).stderr.split("\n")).toHaveLength(2);
    }
    expect(await snapshot(arn)).toEqual(before);
    expect(await readdir(cwd)).toEqual([]);
    await rm(cwd, { recursive: true, force: true });
  });
  it("stops before rotating when the deny fails, still records, and says the policy is unchanged", async () => {
    const arn = await createSecret("prod/deny-fails-db", { lambda: ROTATE_LAMBDA, policy: APP_POLICY });
    const before = await snapshot(arn);
    sandbox.faults.inject({ target: "secretsmanager", operation: "PutResourcePolicy", kind: "5xx" });

    const error = await incident(
      options(arn, { deny: [intruderArn], out: join(dir, "deny-fails") }),
      dependencies(),
    )
      .catch((caught: unknown) => caught)
      .finally(() => sandbox.faults.clear());

    expect(error).toBeInstanceOf(IncidentStepError);
    expect((error as Error).message).toMatch(
      /failed at contain: PutResourcePolicy failed: InternalServiceError: .*State: contain: resource policy unchanged; evidence in /,
    );
    const after = await snapshot(arn);
    expect(after).toMatchObject({
      policy: before.policy,
      stages: before.stages,
      rotations: before.rotations,
    });
    expect(after.pages).toBe(before.pages + 1);
    const response = JSON.parse(await readFile(join(dir, "deny-fails", "response.json"), "utf8"));
    expect(
      response.steps.map((step: { step: string; status: string }) => `${step.step}:${step.status}`),
    ).toEqual(["evidence:ok", "contain:failed", "rotate:skipped", "restart:skipped", "record:ok"]);
    expect(response.steps[2].detail).toMatch(/would hand it the new value/);
  });

  it("changes nothing, pages nobody and writes nothing when the evidence cannot be collected", async () => {
    const arn = await createSecret("prod/no-evidence-db", { lambda: ROTATE_LAMBDA, policy: APP_POLICY });
    const before = await snapshot(arn);
    const out = join(dir, "no-evidence");
    sandbox.faults.inject({ target: "secretsmanager", operation: "ListSecretVersionIds", kind: "5xx" });

    const error = await incident(options(arn, { deny: [intruderArn], out }), dependencies())
      .catch((caught: unknown) => caught)
      .finally(() => sandbox.faults.clear());

    expect((error as IncidentStepError).step).toBe("evidence");
    expect((error as Error).message).toMatch(
      /failed at evidence: InternalServiceError: .*State: nothing changed$/,
    );
    expect(await snapshot(arn)).toEqual(before);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it("reports a failed rotation with Secrets Manager's reason and leaves AWSCURRENT where it was", async () => {
    const arn = await createSecret("prod/failing-db", {
      lambda: "arn:aws:lambda:us-east-1:111122223333:function:failing-rotate",
    });
    const current = (await snapshot(arn)).stages;

    const error = await incident(
      options(arn, { out: join(dir, "failing"), record: false }),
      dependencies(),
    ).catch((caught: unknown) => caught);

    expect((error as IncidentStepError).step).toBe("rotate");
    expect((error as Error).message).toMatch(
      /failed at rotate: the rotation failed \(Secrets Manager: Error when executing lambda .* during testSecret step\); AWSCURRENT is unchanged/,
    );
    const stages = (await snapshot(arn)).stages ?? {};
    const currentId = Object.keys(current ?? {}).find((id) => current?.[id]?.includes("AWSCURRENT"));
    expect(stages[currentId!]).toEqual(["AWSCURRENT"]);
  });

  it("reads trail files with --trail, and rotates and records nothing with --no-rotate --no-record", async () => {
    const arn = await createSecret("prod/trail-db", { lambda: ROTATE_LAMBDA });
    await new SecretsManagerClient(sandbox.clientConfig(INTRUDER_KEY)).send(
      new GetSecretValueCommand({ SecretId: arn }),
    );
    // A busy reader: a thousand reads, so the command reports its progress through the records.
    const app = new SecretsManagerClient(sandbox.clientConfig(APP_KEY));
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let read = 0; read < 50; read++) await app.send(new GetSecretValueCommand({ SecretId: arn }));
      }),
    );
    const trail = join(dir, "trail-files");
    await sandbox.writeTrailFiles(trail);
    const before = await snapshot(arn);
    const deps = dependencies();

    const log = await incident(
      options(arn, { trail: [trail], out: join(dir, "trail"), rotate: false, record: false }),
      deps,
    );

    expect(log?.steps.map((step) => `${step.step}:${step.status}`)).toEqual([
      "evidence:ok",
      "contain:skipped",
      "rotate:skipped",
      "restart:skipped",
      "record:skipped",
    ]);
    const evidence = JSON.parse(await readFile(join(dir, "trail", "evidence.json"), "utf8"));
    expect(evidence.window.source).toBe(`1 trail file(s) from ${trail}`);
    expect(
      evidence.access.map(
        (row: { principal: string; eventName: string }) => `${row.principal} ${row.eventName}`,
      ),
    ).toContain(`${intruderArn} GetSecretValue`);
    expect(
      evidence.events.filter((event: { principal: string }) => event.principal.endsWith("role/trading-app")),
    ).toHaveLength(1_000);
    expect(deps.output.text()).toContain("  … 1000 CloudTrail records read\n");
    expect(await snapshot(arn)).toEqual(before);
  });

  describe("an IBKR secret", () => {
    const ibkrValue = () =>
      JSON.stringify({
        username: "trader3",
        password: IBKR_OLD_PASSWORD,
        account: IB_ACCOUNT,
        host: sandbox.ibGateway!.host,
        port: sandbox.ibGateway!.port,
        paper: true,
      });

    async function ibkrSecret(name: string): Promise<string> {
      const created = await admin().send(
        new CreateSecretCommand({
          Name: name,
          SecretString: ibkrValue(),
          Tags: [
            { Key: "vigil:rotation", Value: "ibkr" },
            { Key: "vigil:ecs-services", Value: "trading/risk" },
          ],
        }),
      );
      await admin().send(
        new RotateSecretCommand({
          SecretId: created.ARN,
          RotationLambdaARN: "arn:aws:lambda:us-east-1:111122223333:function:vigil-ibkr-rotate",
          RotateImmediately: false,
        }),
      );
      return created.ARN!;
    }

    it("says what Trading Ops must do when nobody is at a terminal, and rotates nothing", async () => {
      const arn = await ibkrSecret("algo-trade/test/ibkr");
      const before = await snapshot(arn);
      const deps = dependencies();

      const error = await incident(
        options(arn, { out: join(dir, "ibkr-unattended"), record: false }),
        deps,
      ).catch((caught: unknown) => caught);

      expect((error as IncidentStepError).step).toBe("rotate");
      expect((error as Error).message).toMatch(
        /nobody at a terminal to stage the new IBKR password\. IBKR has no API to change a password: Trading Ops must change it in the IBKR portal .*`vigil ibkr stage --secret-id algo-trade\/test\/ibkr`/,
      );
      expect(await snapshot(arn)).toMatchObject({ stages: before.stages, rotations: before.rotations });
    });

    it("runs the vigil ibkr stage flow with the person at the terminal, then sees the consumers roll", async () => {
      const arn = await ibkrSecret("algo-trade/staged/ibkr");
      // The schedule fired with nothing staged: the rotation failed on purpose ("IBKR rotation due").
      await admin().send(new RotateSecretCommand({ SecretId: arn }));
      expect(sandbox.rotations().at(-1)).toMatchObject({ secretArn: arn, status: "failed" });
      const terminal = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => terminal });
      // Answers each password question when it is asked, as a person would.
      const prompts = new Writable({
        write(chunk, _encoding, done) {
          if (/password/i.test(String(chunk))) setImmediate(() => terminal.write(`${IBKR_NEW_PASSWORD}\r`));
          done();
        },
      });
      const deps = { ...dependencies(), input: terminal, prompts };
      const deploymentsBefore = sandbox.ecsDeployments().length;

      const log = await incident(options(arn, { out: join(dir, "ibkr-staged"), record: false }), deps);

      expect(log?.steps.map((step) => `${step.step}:${step.status}`)).toEqual([
        "evidence:ok",
        "contain:skipped",
        "rotate:ok",
        "restart:ok",
        "record:skipped",
      ]);
      const current = await admin().send(new GetSecretValueCommand({ SecretId: arn }));
      expect(JSON.parse(current.SecretString ?? "{}").password).toBe(IBKR_NEW_PASSWORD);
      expect(sandbox.ecsDeployments().slice(deploymentsBefore)).toMatchObject([
        { cluster: "trading", service: "risk" },
      ]);
      expect(deps.output.text()).toContain("Trading Ops must change it in the IBKR portal");
      const files = Object.values(await filesIn(join(dir, "ibkr-staged"))).join("\n");
      for (const text of [files, deps.output.text()]) {
        expect(text).not.toContain(IBKR_NEW_PASSWORD);
        expect(text).not.toContain(IBKR_OLD_PASSWORD);
      }
    });
  });
});

describe("vigil incident against a sandbox that rotates asynchronously, as AWS does", () => {
  it("follows the rotation until AWSCURRENT moves, showing its progress", async () => {
    const slow = await startSandbox({
      rotateAsynchronously: true,
      rotationLambda: async (event, context) => {
        // Long enough for the command to see the pending version before finishSecret moves AWSCURRENT.
        if (event.Step === "setSecret") await new Promise((resolve) => setTimeout(resolve, 300));
        await rotation(false, () => slow)(event, context);
      },
    });
    try {
      const client = new SecretsManagerClient(slow.clientConfig());
      const created = await client.send(
        new CreateSecretCommand({ Name: "prod/async-db", SecretString: KNOWN_PASSWORD }),
      );
      await client.send(
        new RotateSecretCommand({
          SecretId: created.ARN,
          RotationLambdaARN: ROTATE_LAMBDA,
          RotateImmediately: false,
        }),
      );
      const deps = {
        ...dependencies(),
        clients: () => ({
          secretsManager: new SecretsManagerClient(slow.clientConfig()),
          cloudTrail: new CloudTrailClient({ ...slow.clientConfig(), maxAttempts: 1 }),
          ecs: new ECSClient(slow.clientConfig()),
          sns: new SNSClient(slow.clientConfig()),
          sts: new STSClient(slow.clientConfig()),
        }),
      };

      const log = await incident(options(created.ARN!, { out: join(dir, "async"), record: false }), deps);

      const rotated = log?.steps.find((step) => step.step === "rotate");
      expect(rotated?.status).toBe("ok");
      const versionId = String((rotated?.data as { versionId?: string } | undefined)?.versionId);
      expect(deps.output.text()).toContain(`  … version ${versionId}: AWSPENDING\n`);
      expect(deps.output.text()).toContain(`  ✔ finishSecret: AWSCURRENT is version ${versionId}`);
      const described = await client.send(new DescribeSecretCommand({ SecretId: created.ARN }));
      expect(described.VersionIdsToStages?.[versionId]).toEqual(["AWSCURRENT"]);
    } finally {
      await slow.stop();
    }
  });
});
