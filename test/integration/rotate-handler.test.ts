// The rotate function as Lambda runs it: the real handler (wiring, settings from the environment, the SDK's
// standard endpoint variables) driven by the sandbox's RotateSecret, in-process and as the built bundle in a
// fresh Node process whose environment holds only the standard AWS variables and DB_CA_BUNDLE_PATH.

import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_BINDING_TAG } from "../../functions/rotate/strategies/database/admin.ts";
import { startMariaDb, type ThrowawayMariaDb } from "../../local/databases/mariadb.ts";
import { startPostgres, type ThrowawayPostgres } from "../../local/databases/postgres.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const bundle = join(root, "dist", "rotate", "index.mjs");
const IN_PROCESS = "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate";
const BUNDLED = "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate-bundle";
const token = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** Newest modification time of the sources the bundle is built from. */
function newestSource(): number {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return Math.max(
    ...[join(root, "functions", "rotate"), join(root, "lib")].flatMap(files).map((f) => statSync(f).mtimeMs),
  );
}

// Lambda's invocation in a child process: import the bundle, call handler(event, context).
const invoke = `
const { handler } = await import(process.argv[1]);
await handler(JSON.parse(process.argv[2]), { getRemainingTimeInMillis: () => 30000, awsRequestId: "bundle-test" });
`;

let sandbox: Sandbox;
let client: SecretsManagerClient;
let postgres: ThrowawayPostgres;
let mariadb: ThrowawayMariaDb;
let dir: string;
let caBundle: string;
let queueUrl: string;
let output = "";

beforeAll(async () => {
  [postgres, mariadb] = await Promise.all([startPostgres({ tls: true }), startMariaDb({ tls: true })]);
  dir = await mkdtemp(join(tmpdir(), "vigil-rotate-handler-"));
  caBundle = join(dir, "ca-bundle.pem");
  await writeFile(caBundle, `${postgres.tls!.caPem}\n${mariadb.tls!.caPem}`);
  if (!existsSync(bundle) || statSync(bundle).mtimeMs < newestSource()) {
    await run(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root });
  }
  sandbox = await startSandbox({
    port: 0,
    rotationLambdas: {
      [IN_PROCESS]: async (event, context) => {
        const { handler } = await import("../../functions/rotate/handler.ts");
        await handler(event, context);
      },
      [BUNDLED]: async (event) => {
        try {
          const result = await run(
            process.execPath,
            ["--input-type=module", "-e", invoke, bundle, JSON.stringify(event)],
            {
              env: { PATH: process.env.PATH ?? "", ...sandbox.env, DB_CA_BUNDLE_PATH: caBundle },
            },
          );
          output += result.stdout + result.stderr;
        } catch (error) {
          const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
          output += stdout + stderr;
          throw new Error(
            `bundle failed at ${event.Step}: ${stderr.split("\n").filter(Boolean).at(-1) ?? ""}`,
          );
        }
      },
    },
  });
  queueUrl = sandbox.createQueue("vigil-findings");
  // The in-process handler reads its settings and endpoints from the environment at import, like Lambda.
  Object.assign(process.env, sandbox.env, { DB_CA_BUNDLE_PATH: caBundle, FINDINGS_QUEUE_URL: queueUrl });
  client = new SecretsManagerClient(sandbox.clientConfig());
});

afterAll(async () => {
  client?.destroy();
  await sandbox?.stop();
  await Promise.all([postgres?.stop(), mariadb?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function createSecret(name: string, value: Record<string, unknown>, tags: Record<string, string> = {}) {
  const created = await client.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: JSON.stringify(value),
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    }),
  );
  return created.ARN!;
}

async function rotate(arn: string, lambda: string, n: number) {
  await client.send(
    new RotateSecretCommand({ SecretId: arn, RotationLambdaARN: lambda, ClientRequestToken: token(n) }),
  );
  return sandbox.rotations().findLast((record) => record.versionId === token(n))!;
}

async function current(arn: string) {
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  return JSON.parse(SecretString!) as { username: string; password: string };
}

async function postgresLogsIn(user: string, password: string) {
  const connection = new pg.Client({
    host: postgres.host,
    port: postgres.port,
    user,
    password,
    database: "postgres",
    ssl: { ca: postgres.tls!.caPem },
  });
  try {
    await connection.connect();
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

async function mariadbLogsIn(user: string, password: string) {
  try {
    const connection = await mysql.createConnection({
      host: mariadb.host,
      port: mariadb.port,
      user,
      password,
      ssl: { ca: mariadb.tls!.caPem },
    });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

describe("handler (in-process, endpoints from the environment)", () => {
  it("rotates a postgres-alternating secret inferred from its JSON and announces secret.rotated", async () => {
    const admin = await postgres.connect();
    await admin.query("CREATE ROLE handler_app LOGIN PASSWORD 'Handler-App-Pw-1'");
    await admin.end();
    const adminArn = await createSecret(
      "vigil/handler/pg-admin",
      {
        engine: "postgres",
        host: postgres.host,
        port: postgres.port,
        username: postgres.superuser,
        password: postgres.superuserPassword,
      },
      { [ADMIN_BINDING_TAG]: "vigil/handler/pg-app" },
    );
    const arn = await createSecret("vigil/handler/pg-app", {
      engine: "postgres",
      host: postgres.host,
      port: postgres.port,
      username: "handler_app",
      password: "Handler-App-Pw-1",
      masterarn: adminArn,
    });

    const record = await rotate(arn, IN_PROCESS, 1);

    expect(record.status, record.failure?.message).toBe("succeeded");
    const value = await current(arn);
    expect(value.username).toBe("handler_app_clone");
    expect(await postgresLogsIn(value.username, value.password)).toBe(true);
    expect(await postgresLogsIn("handler_app", "Handler-App-Pw-1")).toBe(true);
    const bodies = sandbox
      .sqsQueues()
      .find((queue) => queue.url === queueUrl)!
      .messages.map((m) => JSON.parse(m.body));
    expect(bodies).toContainEqual(
      expect.objectContaining({
        type: "secret.rotated",
        secretArn: arn,
        versionId: token(1),
        strategy: "postgres-alternating",
      }),
    );
    expect(JSON.stringify(bodies)).not.toContain(value.password);
  });

  it("rides out Secrets Manager 5xx answers (the SDK retries each write)", async () => {
    const admin = await postgres.connect();
    await admin.query("CREATE ROLE handler_flaky LOGIN PASSWORD 'Handler-Flaky-Pw-1'");
    await admin.end();
    const arn = await createSecret("vigil/handler/pg-flaky", {
      engine: "aurora-postgresql",
      host: postgres.host,
      port: postgres.port,
      username: "handler_flaky",
      password: "Handler-Flaky-Pw-1",
    });
    for (const operation of ["PutSecretValue", "UpdateSecretVersionStage", "GetSecretValue"]) {
      sandbox.faults.inject({ target: "secretsmanager", operation, kind: "5xx", times: 1 });
    }
    const record = await rotate(arn, IN_PROCESS, 2);
    sandbox.faults.clear();
    expect(record.status, record.failure?.message).toBe("succeeded");
    const value = await current(arn);
    expect(await postgresLogsIn(value.username, value.password)).toBe(true);
    expect(await postgresLogsIn("handler_flaky", "Handler-Flaky-Pw-1")).toBe(false);
  });
});

describe("docs/rotation.md's retry after a failure", () => {
  /** Runs the AWS CLI against the sandbox with no profile from the machine; returns stdout. */
  async function aws(...args: string[]): Promise<string> {
    const { stdout } = await run("aws", ["--endpoint-url", sandbox.endpoint, ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        AWS_ACCESS_KEY_ID: "AKIAROTATERETRY00001",
        AWS_SECRET_ACCESS_KEY: "not-verified",
        AWS_DEFAULT_REGION: sandbox.region,
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        AWS_PAGER: "",
      },
    });
    return stdout.trim();
  }

  it("rotates again once the stale AWSPENDING label is removed, where a plain rotate-secret is refused", async () => {
    // Arrange: a role that may not log in, so setSecret stops by policy (SQLSTATE 28000) and changes nothing.
    const admin = await postgres.connect();
    await admin.query("CREATE ROLE retry_app NOLOGIN PASSWORD 'Retry-App-Pw-1'");
    const arn = await createSecret("vigil/handler/retry", {
      engine: "postgres",
      host: postgres.host,
      port: postgres.port,
      username: "retry_app",
      password: "Retry-App-Pw-1",
    });
    expect((await rotate(arn, IN_PROCESS, 7)).status).toBe("failed");
    await admin.query("ALTER ROLE retry_app LOGIN");
    await admin.end();

    // Act: the commands as the runbook gives them.
    const plain = await aws("secretsmanager", "rotate-secret", "--secret-id", arn).then(
      () => "accepted",
      (error: { stderr?: string }) => error.stderr ?? "",
    );
    const pending = await aws(
      "secretsmanager",
      "list-secret-version-ids",
      "--secret-id",
      arn,
      "--query",
      "Versions[?contains(VersionStages, 'AWSPENDING')].VersionId",
      "--output",
      "text",
    );
    await aws(
      "secretsmanager",
      "update-secret-version-stage",
      "--secret-id",
      arn,
      "--version-stage",
      "AWSPENDING",
      "--remove-from-version-id",
      pending,
    );
    await aws("secretsmanager", "rotate-secret", "--secret-id", arn);

    // Assert
    expect(plain).toMatch(/A previous rotation isn't complete/);
    expect(pending).toBe(token(7));
    const value = await current(arn);
    expect(value.password).not.toBe("Retry-App-Pw-1");
    expect(await postgresLogsIn("retry_app", value.password)).toBe(true);
  });
});

describe("dist/rotate/index.mjs (a fresh Node process per step, standard AWS variables only)", () => {
  it("rotates a PostgreSQL single-user secret", async () => {
    const admin = await postgres.connect();
    await admin.query("CREATE ROLE bundle_app LOGIN PASSWORD 'Bundle-App-Pw-1'");
    await admin.end();
    const arn = await createSecret("vigil/bundle/pg-app", {
      engine: "postgres",
      host: postgres.host,
      port: postgres.port,
      username: "bundle_app",
      password: "Bundle-App-Pw-1",
    });

    const record = await rotate(arn, BUNDLED, 1);

    expect(record.status, record.failure?.message).toBe("succeeded");
    const value = await current(arn);
    expect(await postgresLogsIn(value.username, value.password)).toBe(true);
    expect(await postgresLogsIn("bundle_app", "Bundle-App-Pw-1")).toBe(false);
    expect(output).toContain('"strategy":"postgres-single"');
    expect(output).not.toContain(value.password);
  });

  it("rotates a MariaDB alternating-users secret", async () => {
    const admin = await mariadb.connect();
    await admin.query("CREATE USER 'bundle_app'@'%' IDENTIFIED BY 'Bundle-Maria-Pw-1'");
    await admin.end();
    const adminArn = await createSecret(
      "vigil/bundle/maria-admin",
      {
        engine: "mariadb",
        host: mariadb.host,
        port: mariadb.port,
        username: mariadb.adminUser,
        password: mariadb.adminPassword,
      },
      { [ADMIN_BINDING_TAG]: "vigil/bundle/maria-app" },
    );
    const arn = await createSecret("vigil/bundle/maria-app", {
      engine: "mariadb",
      host: mariadb.host,
      port: mariadb.port,
      username: "bundle_app",
      password: "Bundle-Maria-Pw-1",
      masterarn: adminArn,
    });

    const record = await rotate(arn, BUNDLED, 1);

    expect(record.status, record.failure?.message).toBe("succeeded");
    const value = await current(arn);
    expect(value.username).toBe("bundle_app_clone");
    expect(await mariadbLogsIn(value.username, value.password)).toBe(true);
    expect(await mariadbLogsIn("bundle_app", "Bundle-Maria-Pw-1")).toBe(true);
    expect(output).not.toContain(value.password);
    expect(output).not.toContain(mariadb.adminPassword);
  });
});
