import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresDriver } from "../../functions/rotate/strategies/database/postgres.ts";
import { parseDatabaseSecret } from "../../functions/rotate/strategies/database/secret.ts";
import { startPostgres, type ThrowawayPostgres } from "../../local/databases/postgres.ts";
import { databaseRotationSuite } from "../helpers/rotate-database-suite.ts";
import type { RotationHarness } from "../helpers/rotate-harness.ts";
import { token } from "../helpers/rotate-harness.ts";

let server: ThrowawayPostgres;
let admin: pg.Client;

async function connectAs(user: string, password: string) {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user,
    password,
    database: "postgres",
    ssl: { ca: server.tls!.caPem },
    connectionTimeoutMillis: 5000,
  });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

let harness: RotationHarness;
const suite = databaseRotationSuite(
  {
    family: "postgres",
    engine: "postgres",
    maxUsername: 63,
    async start() {
      server = await startPostgres({ tls: true });
      admin = await server.connect();
      await admin.query("CREATE DATABASE app");
      return {
        caFile: server.tls!.caFile,
        stop: async () => {
          await admin.end();
          await server.stop();
        },
      };
    },
    target: () => ({ engine: "postgres", host: server.host, port: server.port, dbname: "postgres" }),
    adminSecret: () => ({
      engine: "postgres",
      host: server.host,
      port: server.port,
      username: server.superuser,
      password: server.superuserPassword,
      dbname: "postgres",
    }),
    async createUser(username, password) {
      await admin.query(
        `CREATE ROLE ${pg.escapeIdentifier(username)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`,
      );
    },
    async logsIn(username, password) {
      try {
        const client = await connectAs(username, password);
        await client.end();
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === "28P01") return false;
        throw error;
      }
    },
  },
  (ready) => {
    harness = ready;
  },
);

describe("postgres-alternating: one owner role", () => {
  it("makes objects created by either user usable by the other (awkward owner name)", async () => {
    const { arn, username, password } = await suite.newSecret("alternating", {
      username: `Own"er 'Mixed ${Date.now() % 100000}`,
    });
    await admin.query(
      `CREATE SCHEMA ${pg.escapeIdentifier(`${username}_s`)} AUTHORIZATION ${pg.escapeIdentifier(username)}`,
    );
    const schema = pg.escapeIdentifier(`${username}_s`);
    const original = await connectAs(username, password);
    await original.query(`CREATE TABLE ${schema}.made_by_original (id int)`);
    await original.end();

    expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
    const { current } = await harness.versions(arn);
    const clone = await connectAs(String(current.username), String(current.password));
    await clone.query(`INSERT INTO ${schema}.made_by_original VALUES (1)`);
    await clone.query(`CREATE TABLE ${schema}.made_by_clone (id int)`);
    await clone.query(`ALTER TABLE ${schema}.made_by_original ADD COLUMN note text`);
    await clone.end();

    const back = await connectAs(username, password);
    await back.query(`INSERT INTO ${schema}.made_by_clone VALUES (2)`);
    await back.query(`DROP TABLE ${schema}.made_by_clone`);
    await back.end();
  });
});

describe("postgres-alternating: testSecret", () => {
  it("refuses a clone that does not act as the owner role", async () => {
    const { arn, username } = await suite.newSecret("alternating", {
      username: `acting_${Date.now() % 100000}`,
    });
    expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
    const { current } = await harness.versions(arn);
    await admin.query(`ALTER ROLE ${pg.escapeIdentifier(String(current.username))} RESET role`);

    const clone = parseDatabaseSecret(
      { ...current, engine: "postgres", host: server.host, port: server.port },
      "clone",
    );
    const session = await postgresDriver.connect(clone, {
      settings: harness.settings,
      label: "AWSPENDING",
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 5_000,
      beforeStatement: () => 5_000,
    });
    try {
      await expect(postgresDriver.checkSession(session, clone)).rejects.toThrow(
        `does not act as the owner role "${username}"`,
      );
    } finally {
      await session.close();
    }
  });
});

describe("postgres-alternating: admin privileges", () => {
  it("names the missing privilege when the admin may not create roles, and changes nothing", async () => {
    const suffix = Date.now() % 100000;
    const weakAdmin = `weak_admin_${suffix}`;
    const username = `weak_app_${suffix}`;
    await admin.query(`CREATE ROLE ${weakAdmin} LOGIN PASSWORD 'Weak-Admin-Pw-1'`);
    await admin.query(`CREATE ROLE ${username} LOGIN PASSWORD 'Weak-App-Pw-1'`);
    suite.trackPassword("Weak-Admin-Pw-1");
    suite.trackPassword("Weak-App-Pw-1");
    const target = { engine: "postgres", host: server.host, port: server.port, dbname: "postgres" };
    const masterarn = await suite.boundAdmin(`vigil/postgres/${username}`, {
      ...target,
      username: weakAdmin,
      password: "Weak-Admin-Pw-1",
    });
    const arn = await harness.createSecret(`vigil/postgres/${username}`, {
      ...target,
      username,
      password: "Weak-App-Pw-1",
      masterarn,
    });

    const record = await harness.rotate(arn, token(1));

    expect(record.status).toBe("failed");
    expect(record.failure?.message).toMatch(
      /SQLSTATE 42501 \(insufficient privilege\): the admin secret's user needs CREATEROLE/,
    );
    expect(await suite.logsIn(username, "Weak-App-Pw-1")).toBe(true);
    const clone = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [`${username}_clone`]);
    expect(clone.rowCount).toBe(0);
  });
});

describe("postgres-alternating: the admin never hands out more than the secret holds", () => {
  it("refuses an admin-level user (CREATEROLE, or through a role it belongs to) before any change", async () => {
    const suffix = Date.now() % 100000;
    await admin.query(`CREATE ROLE role_maker_${suffix} NOLOGIN CREATEROLE`);
    for (const [username, grant] of [
      [`direct_${suffix}`, "CREATEROLE"],
      [`member_${suffix}`, `IN ROLE role_maker_${suffix}`],
    ] as const) {
      await admin.query(`CREATE ROLE ${username} LOGIN PASSWORD 'Admin-Level-Pw-1' ${grant}`);
      const arn = await suite.boundSecret(username, "Admin-Level-Pw-1");

      const record = await harness.rotate(arn, token(1));

      expect(record.status).toBe("failed");
      expect(record.failure?.message).toMatch(
        new RegExp(`Refused .*user "${username}" is admin-level \\(CREATEROLE`),
      );
      const clone = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [`${username}_clone`]);
      expect(clone.rowCount).toBe(0);
    }
  });

  it("refuses to set the password of an existing clone that holds more than the user (CREATEDB, a membership)", async () => {
    const suffix = Date.now() % 100000;
    const username = `modest_${suffix}`;
    await admin.query(`CREATE ROLE billing_${suffix} NOLOGIN`);
    await admin.query(`CREATE ROLE ${username} LOGIN PASSWORD 'Modest-Pw-1'`);
    await admin.query(
      `CREATE ROLE ${username}_clone LOGIN PASSWORD 'Clone-Pw-1' CREATEDB IN ROLE billing_${suffix}`,
    );
    suite.trackPassword("Clone-Pw-1");
    const arn = await suite.boundSecret(username, "Modest-Pw-1");

    const record = await harness.rotate(arn, token(1));

    expect(record.status).toBe("failed");
    expect(record.failure?.message).toMatch(
      `user "${username}_clone" already holds CREATEDB, membership in "billing_${suffix}", which "${username}" lacks`,
    );
    expect(await suite.logsIn(`${username}_clone`, "Clone-Pw-1")).toBe(true);
  });
});

describe("TLS", () => {
  let plain: ThrowawayPostgres;
  beforeAll(async () => {
    plain = await startPostgres({ tls: false });
  });
  afterAll(async () => plain?.stop());

  async function plainSecret(extra: Record<string, unknown>) {
    const client = await plain.connect();
    const username = `plain_${Math.random().toString(36).slice(2, 8)}`;
    await client.query(`CREATE ROLE ${username} LOGIN PASSWORD 'Plain-Password-1'`);
    await client.end();
    suite.trackPassword("Plain-Password-1");
    return harness.createSecret(`vigil/postgres/plain-${username}`, {
      engine: "postgres",
      host: plain.host,
      port: plain.port,
      username,
      password: "Plain-Password-1",
      ...extra,
    });
  }

  it("refuses a server without TLS unless the secret says ssl: false, and changes nothing", async () => {
    const arn = await plainSecret({});
    const record = await harness.rotate(arn, token(1));
    expect(record.status).toBe("failed");
    expect(record.failure?.message).toMatch(/does not support SSL/);
    expect((await harness.versions(arn)).current.password).toBe("Plain-Password-1");
  });

  it("rotates over plaintext only when the secret says ssl: false", async () => {
    const arn = await plainSecret({ ssl: false });
    expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
  });

  it("verifies the server certificate: a CA that did not sign it is refused", async () => {
    const { arn } = await suite.newSecret("single");
    const original = harness.settings;
    harness.settings = { ...original, caBundlePath: undefined }; // the shipped RDS bundle
    try {
      const record = await harness.rotate(arn, token(1));
      expect(record.status).toBe("failed");
      expect(record.failure?.message).toMatch(/certificate/);
    } finally {
      harness.settings = original;
    }
    await harness.continueRotation(arn, token(1), "setSecret");
  });
});

describe("pg_hba.conf: a policy refusal or trust is never taken for a password check", () => {
  let strict: ThrowawayPostgres;
  beforeAll(async () => {
    // TLS required for everyone; one user rejected outright.
    strict = await startPostgres({
      tls: true,
      hba: [
        "host all policy_rejected 127.0.0.1/32 reject",
        "host all policy_trusted 127.0.0.1/32 trust",
        "hostssl all all 127.0.0.1/32 scram-sha-256",
      ],
    });
  });
  afterAll(async () => strict?.stop());

  /** A single-user secret (ssl: false) on the strict cluster for a user that exists with its password. */
  async function strictSecret(username: string) {
    const client = await strict.connect();
    await client.query(`CREATE ROLE ${username} LOGIN PASSWORD 'Policy-Password-1'`);
    await client.end();
    suite.trackPassword("Policy-Password-1");
    return harness.createSecret(`vigil/postgres/policy-${username}`, {
      engine: "postgres",
      host: strict.host,
      port: strict.port,
      username,
      password: "Policy-Password-1",
      ssl: false,
    });
  }

  for (const [username, cause] of [
    ["policy_plain", /no pg_hba\.conf entry for host "127\.0\.0\.1", user "policy_plain".*no encryption/],
    ["policy_rejected", /pg_hba\.conf rejects connection/],
  ] as const) {
    it(`reports ${username === "policy_plain" ? "TLS required (no hostssl entry)" : "a reject line"} as a policy refusal (high), never as "no working password"`, async () => {
      const arn = await strictSecret(username);

      const record = await harness.rotate(arn, token(1));
      const error = await harness.step(arn, token(1), "setSecret").catch((e: unknown) => suite.remember(e));

      expect(record.status).toBe("failed");
      expect(record.failure?.step).toBe("setSecret");
      expect(record.failure?.message).toMatch(
        /connection by policy before checking the password \(SQLSTATE 28000/,
      );
      expect(record.failure?.message).toMatch(cause);
      expect(record.failure?.message).not.toMatch(/Reset the password/);
      expect(error).toBeInstanceOf(suite.errors.ConnectionPolicyError);
      expect(error).toMatchObject({ severity: "high" });
      const stillValid = await strict.connect({ user: username, password: "Policy-Password-1" }).then(
        async (client) => {
          await client.end();
          return true;
        },
        () => false,
      );
      expect(stillValid).toBe(username === "policy_plain");
    });
  }

  describe("trust authentication", () => {
    it("refuses a user the server trusts instead of promoting a password the database never received", async () => {
      const arn = await strictSecret("policy_trusted");

      const record = await harness.rotate(arn, token(1));
      const error = await harness.step(arn, token(1), "setSecret").catch((e: unknown) => suite.remember(e));

      expect(record.status).toBe("failed");
      expect(record.failure?.step).toBe("setSecret");
      expect(record.failure?.message).toMatch(/also accepts a deliberately wrong password \(trust or ident/);
      expect(error).toBeInstanceOf(suite.errors.PasswordNotCheckedError);
      const { current, stages } = await harness.versions(arn);
      expect(current.password).toBe("Policy-Password-1");
      expect(stages[token(1)]).not.toContain("AWSCURRENT");
    });
  });
});

describe("statement timeouts", () => {
  it("bounds each statement by the time the deadline leaves, not the bound fixed at login", async () => {
    const admin = parseDatabaseSecret(
      {
        engine: "postgres",
        host: server.host,
        port: server.port,
        username: server.superuser,
        password: server.superuserPassword,
      },
      "admin",
    );
    const session = await postgresDriver.connect(admin, {
      settings: harness.settings,
      label: "admin (masterarn)",
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 60_000,
      beforeStatement: () => 200, // what is left before the deadline
    });
    try {
      await expect(session.run("sleep", "SELECT pg_sleep(30)")).rejects.toThrow(/sleep failed .*timeout/);
    } finally {
      await session.close(); // promptly too: a statement still running must not hold the step
    }
  }, 10_000);
});
