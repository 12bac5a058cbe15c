import { PassThrough } from "node:stream";
import {
  GetSecretValueCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { SCRIPTED_STAGE_OPTIONS, stageIbkrCredentials } from "../functions/rotate/strategies/ibkr/index.ts";
import { describeError } from "../lib/errors.ts";
import type { ThrowawayMariaDb } from "./databases/mariadb.ts";
import type { ThrowawayPostgres } from "./databases/postgres.ts";
import type { DemoRotation } from "./demo-report.ts";
import type { Sandbox } from "./sandbox.ts";

/**
 * The demo's rotations, driven the way Secrets Manager drives them (RotateSecret, then the four steps of
 * the real rotate bundle inside the sandbox), and what the demo checks after each.
 */

const ROTATION_LAMBDA_ARN = "arn:aws:lambda:us-east-1:111122223333:function:vigil-demo-rotate";
/** The paper-trading account the sandbox's IB Gateway lists and the demo's IBKR secret names. */
export const IBKR_ACCOUNT = "DU1234567";

type Say = (line: string) => void;

/** RotateSecret with the demo's rotation function; the sandbox drives the four steps before answering. */
async function rotate(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  secretId: string,
  strategy: DemoRotation["strategy"],
  expectFailure: boolean,
  say: Say,
): Promise<DemoRotation> {
  try {
    await admin.send(
      new RotateSecretCommand({
        SecretId: secretId,
        RotationLambdaARN: ROTATION_LAMBDA_ARN,
        RotationRules: { AutomaticallyAfterDays: 30 },
      }),
    );
  } catch (error) {
    say(`  ${secretId}: RotateSecret refused: ${describeError(error)}`);
  }
  await sandbox.rotationsSettled();
  const record = latestRotation(sandbox, secretId);
  const steps =
    record?.steps.map((step) => `${step.step} ${step.ok ? "✔" : "✘"} ${step.durationMs} ms`).join(", ") ?? "";
  const failure = record?.failure ? `failed at ${record.failure.step}: ${record.failure.message}` : undefined;
  say(`  ${secretId} (${strategy}): ${record?.status ?? "not started"}${steps ? `: ${steps}` : ""}`);
  if (failure) say(`    ${failure}`);
  const status = record?.status ?? "not started";
  return {
    secret: secretId,
    ...(record ? { secretArn: record.secretArn } : {}),
    strategy,
    status: status === "succeeded" || status === "failed" ? status : "not started",
    expected: status === (expectFailure ? "failed" : "succeeded"),
    steps,
    ...(failure ? { failure } : {}),
  };
}

/** The sandbox's record of the latest rotation of secretId (a name). */
function latestRotation(sandbox: Sandbox, secretId: string) {
  return sandbox
    .rotations()
    .filter((rotation) => rotation.secretArn.includes(`:secret:${secretId}-`))
    .at(-1);
}

/** Rotates a database secret, then checks which stored versions still log in. */
export async function rotateDatabase(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  secretId: string,
  strategy: "postgres-single" | "mysql-alternating",
  server: ThrowawayPostgres | ThrowawayMariaDb,
  say: Say,
): Promise<DemoRotation> {
  const rotation = await rotate(admin, sandbox, secretId, strategy, false, say);
  if (rotation.status !== "succeeded") return rotation;
  const current = JSON.parse(
    (await admin.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString ?? "{}",
  ) as { username: string; password: string };
  const previous = JSON.parse(
    (await admin.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: "AWSPREVIOUS" })))
      .SecretString ?? "{}",
  ) as { username: string; password: string };
  const logsIn = async (login: { username: string; password: string }) => {
    try {
      const connection = await server.connect({ user: login.username, password: login.password });
      await connection.end();
      return true;
    } catch {
      return false;
    }
  };
  const currentWorks = await logsIn(current);
  const previousWorks = await logsIn(previous);
  const expectedPrevious = strategy === "mysql-alternating";
  say(
    `    logs in with the current version (${current.username}): ${currentWorks ? "yes" : "NO"}; with the previous one (${previous.username}): ${previousWorks ? "yes" : "no"} (${expectedPrevious ? "kept until the next rotation" : "old password revoked"})`,
  );
  rotation.logins = { current: current.username, currentWorks, previous: previous.username, previousWorks };
  if (!currentWorks || previousWorks !== expectedPrevious) rotation.expected = false;
  return rotation;
}

/** The scheduled IBKR rotation with nothing staged: it stops on purpose and asks Trading Ops to act. */
export async function rotateIbkrUnstaged(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  secretId: string,
  say: Say,
): Promise<DemoRotation> {
  return { ...(await rotate(admin, sandbox, secretId, "ibkr", true, say)), attempt: "scheduled" };
}

/** What Trading Ops does next: `vigil ibkr stage` with the new password, which starts the rotation. */
export async function stageIbkr(
  admin: SecretsManagerClient,
  sandbox: Sandbox,
  secretId: string,
  say: Say,
): Promise<DemoRotation> {
  const input = new PassThrough();
  input.end("Portal-Changed-2026\n");
  const progress = new PassThrough();
  progress.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) say(`    ${line}`);
  });
  try {
    await stageIbkrCredentials(
      { ...SCRIPTED_STAGE_OPTIONS, secretId },
      {
        secretsManager: admin,
        input,
        output: progress,
        sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
        now: () => new Date(),
        operator: () => "trading-ops@demo",
        env: process.env,
      },
    );
  } catch (error) {
    say(`    vigil ibkr stage failed: ${describeError(error)}`);
  }
  await sandbox.rotationsSettled();
  const record = latestRotation(sandbox, secretId);
  const status =
    record?.status === "succeeded" || record?.status === "failed" ? record.status : "not started";
  return {
    secret: secretId,
    ...(record ? { secretArn: record.secretArn } : {}),
    strategy: "ibkr",
    attempt: "staged",
    status,
    expected: status === "succeeded",
    steps: record?.steps.map((step) => `${step.step} ${step.ok ? "✔" : "✘"}`).join(", ") ?? "",
    ...(record?.failure ? { failure: record.failure.message } : {}),
  };
}
