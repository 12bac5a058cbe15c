import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  CreateSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import mysql from "mysql2/promise";
import pg from "pg";
import { ADMIN_BINDING_TAG } from "../functions/rotate/strategies/database/admin.ts";
import { startMariaDb } from "../local/databases/mariadb.ts";
import { startPostgres } from "../local/databases/postgres.ts";
import { startSandbox } from "../local/sandbox.ts";

export interface RotationMeasurement {
  strategy: string;
  rotations: number;
  /** Median end-to-end RotateSecret time (all four steps through the built bundle and the sandbox). */
  medianMs: number;
  /** Median of the bare minimum for the same change: log in, change the password, log in with it. */
  bareMinimumMs: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Rotates one secret per database strategy `rotations` times and times a bare password change beside it. */
export async function measureRotations(rotations = 5): Promise<RotationMeasurement[]> {
  const postgres = await startPostgres({ tls: true });
  const mariadb = await startMariaDb({ tls: true }).catch(async (error: unknown) => {
    await postgres.stop();
    throw error;
  });
  const sandbox = await startSandbox({
    rotationLambda: resolve("dist/rotate/index.mjs"),
    rotationTimeoutMs: 60_000,
  });
  const caBundle = join(tmpdir(), `vigil-bench-ca-${process.pid}.pem`);
  try {
    await writeFile(caBundle, `${postgres.tls!.caPem}\n${mariadb.tls!.caPem}`);
    Object.assign(process.env, sandbox.env, { DB_CA_BUNDLE_PATH: caBundle, LOG_LEVEL: "SILENT" });
    const sm = new SecretsManagerClient(sandbox.clientConfig());

    const pgAdmin = await postgres.connect();
    const maria = await mariadb.connect();
    for (const user of ["bench_single", "bench_alt", "bench_bare_single", "bench_bare_alt"]) {
      await pgAdmin.query(`CREATE ROLE ${user} LOGIN PASSWORD 'Bench-Password-0'`);
      await maria.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'Bench-Password-0'`);
    }
    await pgAdmin.end();
    await maria.end();

    const pgBase = { engine: "postgres", host: "127.0.0.1", port: postgres.port, dbname: "postgres" };
    const myBase = { engine: "mariadb", host: "127.0.0.1", port: mariadb.port };
    const pgMaster = await sm.send(
      new CreateSecretCommand({
        Name: "bench/pg-admin",
        Tags: [{ Key: ADMIN_BINDING_TAG, Value: "bench/postgres-alternating" }],
        SecretString: JSON.stringify({
          ...pgBase,
          username: postgres.superuser,
          password: postgres.superuserPassword,
        }),
      }),
    );
    const myMaster = await sm.send(
      new CreateSecretCommand({
        Name: "bench/maria-admin",
        Tags: [{ Key: ADMIN_BINDING_TAG, Value: "bench/mysql-alternating" }],
        SecretString: JSON.stringify({
          ...myBase,
          username: mariadb.adminUser,
          password: mariadb.adminPassword,
        }),
      }),
    );
    const secrets: [string, Record<string, unknown>][] = [
      ["postgres-single", { ...pgBase, username: "bench_single" }],
      ["postgres-alternating", { ...pgBase, username: "bench_alt", masterarn: pgMaster.ARN }],
      ["mysql-single", { ...myBase, username: "bench_single" }],
      ["mysql-alternating", { ...myBase, username: "bench_alt", masterarn: myMaster.ARN }],
    ];
    const results: RotationMeasurement[] = [];
    for (const [strategy, secret] of secrets) {
      const name = `bench/${strategy}`;
      await sm.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: JSON.stringify({ ...secret, password: "Bench-Password-0" }),
        }),
      );
      const samples: number[] = [];
      for (let run = 0; run < rotations; run++) {
        const started = performance.now();
        await sm.send(
          new RotateSecretCommand({
            SecretId: name,
            RotationLambdaARN: "arn:aws:lambda:us-east-1:111122223333:function:vigil-bench-rotate",
            RotationRules: { AutomaticallyAfterDays: 30 },
          }),
        );
        samples.push(performance.now() - started);
        const last = sandbox.rotations().at(-1);
        if (last?.status !== "succeeded")
          throw new Error(`${strategy} rotation failed: ${last?.failure?.message}`);
      }
      const bare = strategy.startsWith("postgres")
        ? await barePostgres(postgres.port, postgres.tls!.caPem, bareUser(strategy), rotations)
        : await bareMariaDb(mariadb.port, mariadb.tls!.caPem, bareUser(strategy), rotations);
      results.push({ strategy, rotations, medianMs: median(samples), bareMinimumMs: bare });
    }
    return results;
  } finally {
    await sandbox.stop();
    await mariadb.stop();
    await postgres.stop();
    await rm(caBundle, { force: true });
  }
}

// One user per strategy, so each bare run starts from the password it was created with.
const bareUser = (strategy: string) => (strategy.endsWith("single") ? "bench_bare_single" : "bench_bare_alt");

/** Median time of `runs` password changes by hand, each from the previous password to the next. */
async function timeBareChanges(
  runs: number,
  change: (from: string, to: string) => Promise<void>,
): Promise<number> {
  const samples: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    await change(`Bench-Password-${run}`, `Bench-Password-${run + 1}`);
    samples.push(performance.now() - started);
  }
  return median(samples);
}

function barePostgres(port: number, ca: string, user: string, runs: number): Promise<number> {
  const login = async (password: string) => {
    const client = new pg.Client({
      host: "127.0.0.1",
      port,
      user,
      password,
      database: "postgres",
      ssl: { ca },
    });
    await client.connect();
    return client;
  };
  return timeBareChanges(runs, async (from, to) => {
    const client = await login(from);
    await client.query(`ALTER ROLE ${user} PASSWORD '${to}'`);
    await client.end();
    await (await login(to)).end();
  });
}

function bareMariaDb(port: number, ca: string, user: string, runs: number): Promise<number> {
  const login = (password: string) =>
    mysql.createConnection({ host: "127.0.0.1", port, user, password, ssl: { ca } });
  return timeBareChanges(runs, async (from, to) => {
    const connection = await login(from);
    await connection.query("SET PASSWORD = PASSWORD(?)", [to]);
    await connection.end();
    await (await login(to)).end();
  });
}
