import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mysqlDriver } from "../../functions/rotate/strategies/database/mysql.ts";
import { parseDatabaseSecret } from "../../functions/rotate/strategies/database/secret.ts";
import { refuseUncheckedPasswords } from "../../functions/rotate/strategies/database/steps.ts";
import { startMariaDb, type ThrowawayMariaDb } from "../../local/databases/mariadb.ts";
import { databaseRotationSuite } from "../helpers/rotate-database-suite.ts";
import { type RotationHarness, token } from "../helpers/rotate-harness.ts";

let server: ThrowawayMariaDb;
let admin: mysql.Connection;
let harness: RotationHarness;

async function connectAs(user: string, password: string) {
  const connection = await mysql.createConnection({
    host: server.host,
    port: server.port,
    user,
    password,
    ssl: { ca: server.tls!.caPem },
    connectTimeout: 5000,
  });
  connection.on("error", () => undefined);
  return connection;
}

async function grantsOf(user: string): Promise<string[]> {
  const [rows] = await admin.query("SHOW GRANTS FOR ?@'%'", [user]);
  return (rows as Record<string, string>[])
    .map((row) =>
      Object.values(row)[0]!
        .replace(/`[^`]*`@`%`/, "<grantee>")
        .replace(/ IDENTIFIED BY PASSWORD '[^']*'/, ""),
    )
    .sort();
}

const suite = databaseRotationSuite(
  {
    family: "mysql",
    engine: "mariadb",
    maxUsername: 80,
    async start() {
      server = await startMariaDb({ tls: true });
      admin = await server.connect();
      await admin.query("CREATE DATABASE appdb");
      await admin.query("CREATE TABLE appdb.orders (id INT, note TEXT)");
      return {
        caFile: server.tls!.caFile,
        stop: async () => {
          await admin.end();
          await server.stop();
        },
      };
    },
    target: () => ({ engine: "mariadb", host: server.host, port: server.port }),
    adminSecret: () => ({
      engine: "mariadb",
      host: server.host,
      port: server.port,
      username: server.adminUser,
      password: server.adminPassword,
    }),
    async createUser(username, password) {
      await admin.query("CREATE USER ?@'%' IDENTIFIED BY ?", [username, password]);
      await admin.query("GRANT SELECT, INSERT ON appdb.* TO ?@'%'", [username]);
    },
    async logsIn(username, password) {
      try {
        const connection = await connectAs(username, password);
        await connection.end();
        return true;
      } catch (error) {
        if ([1045, 4151].includes((error as { errno?: number }).errno ?? 0)) return false;
        throw error;
      }
    },
  },
  (ready) => {
    harness = ready;
  },
);

describe("mysql-alternating: grant synchronisation", () => {
  it("gives the clone exactly the grants of the current user, revokes included, on the same host (no % doubling)", async () => {
    const { arn, username } = await suite.newSecret("alternating");
    await admin.query("CREATE ROLE IF NOT EXISTS app_reader");
    await admin.query("GRANT SELECT ON appdb.* TO app_reader");
    await admin.query("GRANT app_reader TO ?@'%'", [username]);
    await admin.query("GRANT UPDATE (note) ON appdb.orders TO ?@'%' WITH GRANT OPTION", [username]);

    expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
    const clone = `${username}_clone`;
    expect(await grantsOf(clone)).toEqual(await grantsOf(username));
    const [hosts] = await admin.query("SELECT Host FROM mysql.user WHERE User = ?", [clone]);
    expect(hosts).toEqual([{ Host: "%" }]);

    // The source (now the clone, AWSCURRENT) loses INSERT and gains DELETE; the next rotation mirrors both.
    await admin.query("REVOKE INSERT ON appdb.* FROM ?@'%'", [clone]);
    await admin.query("GRANT DELETE ON appdb.* TO ?@'%'", [clone]);
    await admin.query("REVOKE app_reader FROM ?@'%'", [clone]);
    expect((await harness.rotate(arn, token(2))).status).toBe("succeeded");
    expect(await grantsOf(username)).toEqual(await grantsOf(clone));
    expect((await grantsOf(username)).join("\n")).not.toMatch(/INSERT|app_reader/);

    const { current } = await harness.versions(arn);
    const session = await connectAs(String(current.username), String(current.password));
    await session.query("DELETE FROM appdb.orders WHERE id = -1");
    await expect(session.query("INSERT INTO appdb.orders VALUES (1, 'x')")).rejects.toThrow(/denied/);
    await session.end();
  });

  it("converges when the database drops the admin connection in the middle of setSecret", async () => {
    const { arn } = await suite.newSecret("alternating");
    let killed = false;
    const { statementHooks } = await import("../../functions/rotate/strategies/database/driver.ts");
    const previous = statementHooks.afterStatement;
    statementHooks.afterStatement = async (event) => {
      await previous?.(event);
      if (!killed && event.label.startsWith("CREATE USER")) {
        killed = true;
        const [rows] = await admin.query(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
          [server.adminUser],
        );
        for (const { id } of rows as { id: number }[]) await admin.query(`KILL ${Number(id)}`);
      }
    };
    let record: Awaited<ReturnType<RotationHarness["rotate"]>>;
    try {
      record = await harness.rotate(arn, token(1));
    } finally {
      statementHooks.afterStatement = previous;
    }
    expect(killed).toBe(true);
    expect(record.status).toBe("failed");
    expect(record.failure?.step).toBe("setSecret");
    const { current } = await harness.versions(arn);
    expect(await suite.logsIn(String(current.username), String(current.password))).toBe(true);

    await harness.continueRotation(arn, token(1), "setSecret");
    const rotated = await harness.versions(arn);
    expect(rotated.current.username).toMatch(/_clone$/);
    expect(await suite.logsIn(String(rotated.current.username), String(rotated.current.password))).toBe(true);
  });

  it("quotes passwords with backslashes correctly when the server runs with NO_BACKSLASH_ESCAPES", async () => {
    const [modes] = await admin.query("SELECT @@GLOBAL.sql_mode AS mode");
    const globalMode = (modes as { mode: string }[])[0]!.mode;
    const original = harness.settings;
    // Long enough that the generated password surely contains a backslash.
    harness.settings = { ...original, excludeCharacters: "", passwordLength: 1500 };
    await admin.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')");
    try {
      for (const kind of ["single", "alternating"] as const) {
        const { arn } = await suite.newSecret(kind, { password: `Init\\pw'${kind}\\` });
        expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
        const { current } = await harness.versions(arn);
        expect(String(current.password)).toContain("\\");
        expect(await suite.logsIn(String(current.username), String(current.password))).toBe(true);
      }
    } finally {
      await admin.query("SET GLOBAL sql_mode = ?", [globalMode]);
      harness.settings = original;
    }
  });

  it("locks the other user's accounts on hosts the current user no longer has", async () => {
    const { arn, username } = await suite.newSecret("alternating");
    const clone = `${username}_clone`;
    await admin.query("CREATE USER ?@'10.9.9.%' IDENTIFIED BY 'Stale-Clone-Pw-1'", [clone]);
    await admin.query("GRANT SELECT ON appdb.* TO ?@'10.9.9.%'", [clone]);
    suite.trackPassword("Stale-Clone-Pw-1");
    expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
    const [rows] = await admin.query(
      `SELECT Host AS host, COALESCE(JSON_EXTRACT(Priv, '$.account_locked'), 'false') AS locked
       FROM mysql.global_priv WHERE User = ? ORDER BY Host`,
      [clone],
    );
    expect(rows).toEqual([
      { host: "%", locked: "false" },
      { host: "10.9.9.%", locked: "true" },
    ]);
  });

  it("gives the other user the current user's TLS requirement (REQUIRE), both ways", async () => {
    const requirement = async (user: string) => {
      const [rows] = await admin.query("SELECT ssl_type AS type FROM mysql.user WHERE User = ?", [user]);
      return (rows as { type: string }[]).map(({ type }) => type);
    };
    const { arn, username } = await suite.newSecret("alternating");
    const clone = `${username}_clone`;
    await admin.query("ALTER USER ?@'%' REQUIRE SSL", [username]);
    expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
    expect(await requirement(clone)).toEqual(["ANY"]);

    await admin.query("ALTER USER ?@'%' REQUIRE NONE", [clone]);
    expect((await harness.rotate(arn, token(2))).status).toBe("succeeded");
    expect(await requirement(username)).toEqual([""]);
  });

  it("copies grants when the server runs with ANSI sql_mode (SHOW GRANTS spells names with double quotes)", async () => {
    const [modes] = await admin.query("SELECT @@GLOBAL.sql_mode AS mode");
    const globalMode = (modes as { mode: string }[])[0]!.mode;
    await admin.query("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',ANSI')");
    try {
      const { arn, username } = await suite.newSecret("alternating");
      await admin.query("GRANT UPDATE (note) ON appdb.orders TO ?@'%'", [username]);
      const record = await harness.rotate(arn, token(1));
      expect(record.status, record.failure?.message).toBe("succeeded");
      expect(await grantsOf(`${username}_clone`)).toEqual(await grantsOf(username));
      expect((await grantsOf(`${username}_clone`)).join("\n")).toMatch(/SELECT, INSERT ON `appdb`/);
    } finally {
      await admin.query("SET GLOBAL sql_mode = ?", [globalMode]);
    }
  });

  it("gives every host's account of the clone the password at once, whatever step a crash interrupts", async () => {
    const accounts = async (user: string) => {
      const [rows] = await admin.query(
        `SELECT Host AS host, JSON_VALUE(Priv, '$.authentication_string') AS hash,
           COALESCE(JSON_EXTRACT(Priv, '$.account_locked'), 'false') AS locked
         FROM mysql.global_priv WHERE User = ? ORDER BY Host`,
        [user],
      );
      return rows as { host: string; hash: string; locked: string }[];
    };
    for (let crashAt = 1; ; crashAt++) {
      const { arn, username, password } = await suite.newSecret("alternating");
      await admin.query("CREATE USER ?@'10.0.0.%' IDENTIFIED BY ?", [username, password]);
      await admin.query("GRANT SELECT ON appdb.* TO ?@'10.0.0.%'", [username]);
      harness.resetEffects();
      harness.crashAfter = crashAt;
      const record = await harness.rotate(arn, token(1));
      const crashed = record.status === "failed";
      if (crashed) {
        expect(record.failure?.message).toMatch(/simulated crash/);
        await harness.continueRotation(arn, token(1), record.failure!.step as "createSecret");
      }
      const clone = await accounts(`${username}_clone`);
      expect(clone.map(({ host }) => host)).toEqual(["%", "10.0.0.%"]);
      expect(clone.map(({ locked }) => locked)).toEqual(["false", "false"]);
      expect(clone[0]!.hash).toBe(clone[1]!.hash);
      const { current } = await harness.versions(arn);
      expect(await suite.logsIn(String(current.username), String(current.password))).toBe(true);
      if (!crashed) break;
    }
    harness.resetEffects(); // the last, uninterrupted run left crashAfter armed
  });

  it("treats engine mysql the same against a MariaDB server", async () => {
    const username = `plainmysql_${Date.now() % 100000}`;
    await admin.query("CREATE USER ?@'%' IDENTIFIED BY 'Mysql-Engine-1'", [username]);
    suite.trackPassword("Mysql-Engine-1");
    const arn = await harness.createSecret(`vigil/mysql/engine-mysql-${username}`, {
      engine: "mysql",
      host: server.host,
      port: server.port,
      username,
      password: "Mysql-Engine-1",
    });
    const record = await harness.rotate(arn, token(1));
    expect(record.status, record.failure?.message).toBe("succeeded");
  });
});

describe("mysql-alternating: the admin never hands out more than the secret holds", () => {
  it("refuses a user with admin-level grants, held directly or through a role, before any change", async () => {
    const suffix = Date.now() % 100000;
    await admin.query(`CREATE ROLE grant_reader_${suffix}`);
    await admin.query(`GRANT SELECT ON mysql.* TO grant_reader_${suffix}`);
    for (const [username, grant] of [
      [`global_${suffix}`, "GRANT SELECT ON *.* TO ?@'%'"],
      [`via_role_${suffix}`, `GRANT grant_reader_${suffix} TO ?@'%'`],
    ] as const) {
      await admin.query("CREATE USER ?@'%' IDENTIFIED BY 'Admin-Level-Pw-1'", [username]);
      await admin.query(grant, [username]);
      const arn = await suite.boundSecret(username, "Admin-Level-Pw-1");

      const record = await harness.rotate(arn, token(1));

      expect(record.status).toBe("failed");
      expect(record.failure?.message).toMatch(
        new RegExp(`Refused .*user "${username}" holds admin-level privileges \\(SELECT ON`),
      );
      const [clone] = await admin.query("SELECT 1 FROM mysql.user WHERE User = ?", [`${username}_clone`]);
      expect(clone).toEqual([]);
    }
  });
});

describe("connection policy is not a refused password", () => {
  /** A single-user secret for a new user with a valid password, after `restrict` ran on it. */
  async function policySecret(username: string, host: string, extra: Record<string, unknown> = {}) {
    await admin.query("CREATE USER ?@? IDENTIFIED BY 'Policy-Password-1'", [username, host]);
    suite.trackPassword("Policy-Password-1");
    return harness.createSecret(`vigil/mysql/policy-${username}`, {
      engine: "mariadb",
      host: server.host,
      port: server.port,
      username,
      password: "Policy-Password-1",
      ...extra,
    });
  }

  it('reports a locked account as a policy refusal (high), never as "no working password"', async () => {
    const username = `locked_${Date.now() % 100000}`;
    const arn = await policySecret(username, "%");
    await admin.query("ALTER USER ?@'%' ACCOUNT LOCK", [username]);

    const record = await harness.rotate(arn, token(1));
    const error = await harness.step(arn, token(1), "setSecret").catch((e: unknown) => suite.remember(e));

    expect(record.status).toBe("failed");
    expect(record.failure?.message).toMatch(/connection by policy \(error 4151: the account is locked\)/);
    expect(record.failure?.message).not.toMatch(/Reset the password/);
    expect(error).toBeInstanceOf(suite.errors.ConnectionPolicyError);
    expect(error).toMatchObject({ severity: "high" });
  });

  // MariaDB answers 1045, as for a wrong password, so the message says what else it may mean.
  for (const [what, host, restrict, extra, caveat] of [
    [
      "REQUIRE SSL over a plaintext connection",
      "%",
      "REQUIRE SSL",
      { ssl: false },
      /requires TLS \(this secret says "ssl": false\)/,
    ],
    [
      "an account for another host",
      "10.9.9.%",
      "REQUIRE NONE",
      {},
      /does not allow the function's address as its host/,
    ],
  ] as const) {
    it(`says what else error 1045 may mean for ${what}`, async () => {
      const username = `restricted_${Date.now() % 100000}`;
      const arn = await policySecret(username, host, extra);
      await admin.query(`ALTER USER ?@? ${restrict}`, [username, host]);

      const record = await harness.rotate(arn, token(1));

      expect(record.status).toBe("failed");
      expect(record.failure?.message).toMatch(/refuses the AWSPENDING, AWSCURRENT and AWSPREVIOUS passwords/);
      expect(record.failure?.message).toMatch(caveat);
    });
  }
});

describe("refuseUncheckedPasswords", () => {
  it("passes on MariaDB, which refuses a wrong password even for an account that has none", async () => {
    const username = `no_password_${Date.now() % 100000}`;
    await admin.query("CREATE USER ?@'%'", [username]);
    const secret = parseDatabaseSecret(
      { engine: "mariadb", host: server.host, port: server.port, username, password: "unused" },
      "probe",
    );

    const probe = refuseUncheckedPasswords(mysqlDriver, secret, {
      settings: harness.settings,
      label: "AWSPENDING",
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 5_000,
      beforeStatement: () => 5_000,
    });

    await expect(probe).resolves.toBeUndefined();
    expect(await suite.logsIn(username, "")).toBe(true);
  });
});

describe("TLS", () => {
  let plain: ThrowawayMariaDb;
  let misnamed: ThrowawayMariaDb;
  beforeAll(async () => {
    // One after the other: two mariadb-install-db runs at once can trip over each other's temp files.
    plain = await startMariaDb({ tls: false });
    // Signed by a CA the function trusts, but issued to another host name.
    misnamed = await startMariaDb({ tls: true, certificateNames: ["DNS:db.elsewhere.invalid"] });
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), misnamed?.stop()]);
  });

  async function secretOn(db: ThrowawayMariaDb) {
    const username = `tls_${Math.random().toString(36).slice(2, 8)}`;
    const connection = await db.connect();
    await connection.query("CREATE USER ?@'%' IDENTIFIED BY 'Tls-Password-1'", [username]);
    await connection.end();
    suite.trackPassword("Tls-Password-1");
    const arn = await harness.createSecret(`vigil/mysql/tls-${username}`, {
      engine: "mariadb",
      host: db.host,
      port: db.port,
      username,
      password: "Tls-Password-1",
    });
    return { arn, username };
  }

  it("refuses a server without TLS unless the secret says ssl: false, and changes nothing", async () => {
    const { arn, username } = await secretOn(plain);
    const record = await harness.rotate(arn, token(1));
    expect(record.status).toBe("failed");
    expect(record.failure?.message).toMatch(/does not support secure connection/);
    const connection = await plain.connect({ user: username, password: "Tls-Password-1" });
    await connection.end();
  });

  it("verifies the host name: a certificate from a trusted CA issued to another name is refused", async () => {
    const { arn, username } = await secretOn(misnamed);
    const original = harness.settings;
    harness.settings = { ...original, caBundlePath: misnamed.tls!.caFile };
    try {
      const record = await harness.rotate(arn, token(1));
      expect(record.status).toBe("failed");
      expect(record.failure?.message).toMatch(/does not match certificate's altnames/);
    } finally {
      harness.settings = original;
    }
    const connection = await misnamed.connect({ user: username, password: "Tls-Password-1" });
    await connection.end();
  });
});

describe("statement timeouts", () => {
  it("bounds each statement by the time the deadline leaves", async () => {
    const secret = parseDatabaseSecret(
      {
        engine: "mariadb",
        host: server.host,
        port: server.port,
        username: server.adminUser,
        password: server.adminPassword,
      },
      "admin",
    );
    const session = await mysqlDriver.connect(secret, {
      settings: harness.settings,
      label: "admin (masterarn)",
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 60_000,
      beforeStatement: () => 200, // what is left before the deadline
    });
    try {
      await expect(session.run("sleep", "SELECT SLEEP(30)")).rejects.toThrow(/sleep failed .*timeout/i);
    } finally {
      await session.close(); // promptly too: a statement still running must not hold the step
    }
  }, 10_000);
});
