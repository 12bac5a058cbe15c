import type mysql from "mysql2/promise";
import { AccountLockedError, ConnectionPolicyError, LoginRejectedError, TargetError } from "../../errors.ts";
import {
  afterStatementHook,
  type ConnectOptions,
  type DatabaseDriver,
  type DatabaseSession,
  type Row,
  type RunOptions,
  statementHooks,
  tlsOptions,
} from "./driver.ts";
import { describeTarget } from "./secret.ts";

// Access denied (1045, and 1698, which MariaDB also gives for a user that does not exist, so as not to
// reveal it) and password expired (1862): the credential is refused. MySQL and MariaDB also answer 1045
// for an account that does not allow the client's host or requires TLS the connection lacks.
const LOGIN_REJECTED = new Set([1045, 1698, 1862]);
// Refused by policy, whatever the password: the reason for each.
const REFUSED_BY_POLICY: Record<number, string> = {
  1129: "the client's host is blocked after too many connection errors (FLUSH HOSTS)",
  1130: "no account allows connections from the client's host",
  3118: "the account is locked",
  3159: "the server requires TLS (require_secure_transport)",
  4151: "the account is locked",
};
// MySQL 8.0.13+ with password_require_current: the statement must name the current password.
const ER_MISSING_CURRENT_PASSWORD = 3892;

// The driver is loaded on first use, so rotations that do not touch MySQL never pay its start-up.
let driverModule: Promise<typeof mysql> | undefined;
const loadMysql = () => {
  driverModule ??= import("mysql2/promise").then((module) => module.default);
  return driverModule;
};

import {
  account,
  adminLevelGrants,
  defaultRoleStatement,
  effectiveGrants,
  grantSyncStatements,
  mysqlDefaultRoles,
  parseGrants,
  quoteString,
  requireClause,
  showGrants,
} from "./mysql-accounts.ts";

class MysqlSession implements DatabaseSession {
  private plainSqlMode = false;
  /** Set when a statement failed: one that timed out may still hold the connection, so close() destroys it. */
  private failed = false;

  constructor(
    private readonly connection: mysql.Connection,
    private readonly options: ConnectOptions,
    private readonly where: string,
  ) {}

  /** The server's version string: from the handshake (no round trip), else from VERSION(). */
  private async serverVersion(): Promise<string> {
    const inner = (
      this.connection as unknown as { connection?: { _handshakePacket?: { serverVersion?: string } } }
    ).connection;
    return (
      inner?._handshakePacket?.serverVersion ??
      String((await this.execute("SELECT VERSION()", "SELECT VERSION() AS version", {}))[0]?.version ?? "")
    );
  }

  /** True when the server is MariaDB. */
  async isMariaDb(): Promise<boolean> {
    return /mariadb/i.test(await this.serverVersion());
  }

  /**
   * Resets the session's sql_mode (once): under NO_BACKSLASH_ESCAPES a doubled backslash would stay
   * doubled inside a literal, and under ANSI_QUOTES (alone or implied by ANSI, ORACLE, ...) SHOW GRANTS
   * spells names with double quotes. NO_AUTO_CREATE_USER stays where it exists (MySQL 5.7, MariaDB;
   * MySQL 8 removed it and never auto-creates), so a GRANT can never create a passwordless account.
   */
  async usePlainSqlMode(): Promise<void> {
    if (this.plainSqlMode) return;
    const version = await this.serverVersion();
    const mode = /mariadb/i.test(version) || /^5\./.test(version) ? "NO_AUTO_CREATE_USER" : "";
    await this.execute("SET sql_mode", `SET SESSION sql_mode = '${mode}'`, {});
    this.plainSqlMode = true;
  }

  async run(label: string, sql: string, options: RunOptions = {}) {
    if (sql.includes("\\")) await this.usePlainSqlMode();
    return this.execute(label, sql, options);
  }

  private async execute(label: string, sql: string, options: RunOptions) {
    const timeout = this.options.beforeStatement();
    let rows: unknown;
    try {
      [rows] = await this.connection.query({ sql, timeout });
    } catch (error) {
      this.failed = true;
      // mysql2 errors carry the statement (error.sql) and the server may echo part of it: keep the code only
      // for statements that carry a credential, and never forward the driver error itself.
      const { errno, code, message } = error as { errno?: number; code?: string; message?: string };
      const detail = options.sensitive
        ? `${code ?? "error"} ${errno ?? ""}`.trim()
        : `${code ?? ""} ${message ?? ""}`.trim();
      throw Object.assign(new TargetError(`${label} failed on ${this.where}: ${detail}`), { errno });
    }
    await afterStatementHook(label, "mysql");
    return Array.isArray(rows) ? (rows as Row[]) : [];
  }

  async close() {
    // end() waits for the statement in progress, which after a client-side timeout may run on and on.
    if (this.failed) this.connection.destroy();
    else await this.connection.end().catch(() => this.connection.destroy());
  }
}

/** MySQL, Aurora MySQL and MariaDB over `mysql2`. */
export const mysqlDriver: DatabaseDriver = {
  family: "mysql",

  async connect(secret, options) {
    await statementHooks.beforeConnect?.({ label: options.label, family: "mysql" });
    const where = describeTarget(secret);
    const tls = await tlsOptions(secret, options.settings);
    let connection: mysql.Connection;
    try {
      const { createConnection } = await loadMysql();
      connection = await createConnection({
        host: secret.host,
        port: secret.port,
        user: secret.username,
        password: secret.password,
        ...(secret.dbname ? { database: secret.dbname } : {}),
        ...(tls ? { ssl: { ...tls, verifyIdentity: true } } : {}),
        connectTimeout: options.connectTimeoutMs,
        charset: "utf8mb4",
      });
    } catch (error) {
      const { errno, message } = error as { errno?: number; message?: string };
      if (errno !== undefined && LOGIN_REJECTED.has(errno)) {
        throw new LoginRejectedError(`${where} refused the ${options.label} credential (error ${errno})`);
      }
      const policy = errno === undefined ? undefined : REFUSED_BY_POLICY[errno];
      if (policy) {
        const Refusal = errno === 3118 || errno === 4151 ? AccountLockedError : ConnectionPolicyError;
        throw new Refusal(
          `${where} refused the ${options.label} connection by policy (error ${errno}: ${policy}); the stored password was not the reason`,
        );
      }
      throw new TargetError(`cannot connect to ${where} with the ${options.label} credential: ${message}`);
    }
    connection.on("error", () => undefined);
    return new MysqlSession(connection, options, where);
  },

  refusalCaveat(secret) {
    return `MySQL and MariaDB give the same answer (error 1045) when the account does not allow the function's address as its host, or requires TLS${secret.ssl ? "" : ' (this secret says "ssl": false)'}, so check those before resetting the password`;
  },

  async changeOwnPassword(session, secret, newPassword) {
    const own = session as MysqlSession;
    // MariaDB's SET PASSWORD takes a hash (PASSWORD() computes it for the account's plugin);
    // MySQL 5.7.6+/8/9 take the plaintext (PASSWORD() is gone from 8.0).
    if (await own.isMariaDb()) {
      await own.run("SET PASSWORD (own)", `SET PASSWORD = PASSWORD(${quoteString(newPassword)})`, {
        sensitive: true,
      });
      return;
    }
    try {
      await own.run("SET PASSWORD (own)", `SET PASSWORD = ${quoteString(newPassword)}`, { sensitive: true });
    } catch (error) {
      if ((error as { errno?: number }).errno !== ER_MISSING_CURRENT_PASSWORD) throw error;
      await own.run(
        "SET PASSWORD (own, REPLACE current)",
        `SET PASSWORD = ${quoteString(newPassword)} REPLACE ${quoteString(secret.password)}`,
        { sensitive: true },
      );
    }
  },

  async prepareAlternateUser(admin, source, target) {
    await (admin as MysqlSession).usePlainSqlMode();
    const mariadb = await (admin as MysqlSession).isMariaDb();
    const accounts = await admin.run(
      "SELECT account hosts",
      `SELECT Host AS host, ssl_type AS type, ssl_cipher AS cipher, x509_issuer AS issuer,
         x509_subject AS subject FROM mysql.user WHERE User = ${quoteString(source.username)}`,
    );
    const hosts = accounts.map((row) => String(row.host));
    if (hosts.length === 0) {
      throw new TargetError(
        `${describeTarget(source)}: the source user does not exist; cannot copy its grants`,
      );
    }
    // An account of the other user on a host the user no longer has would keep its old password and
    // grants there for good: lock it (reversible, unlike DROP USER).
    const targetHosts = await admin.run(
      "SELECT alternate user hosts",
      `SELECT Host AS host FROM mysql.user WHERE User = ${quoteString(target.username)}`,
    );
    const stale = targetHosts.map((row) => String(row.host)).filter((host) => !hosts.includes(host));
    if (stale.length > 0) {
      await admin.run(
        "ALTER USER (lock hosts the user no longer has)",
        `ALTER USER ${stale.map((host) => account(target.username, host)).join(", ")} ACCOUNT LOCK`,
      );
    }
    const password = quoteString(target.password);
    for (const [index, host] of hosts.entries()) {
      const grantee = account(target.username, host);
      // Locked until its grants match and its password is set (ACCOUNT LOCK: MySQL 5.7.6+, MariaDB 10.4.2+).
      await admin.run(
        "CREATE USER IF NOT EXISTS (locked)",
        `CREATE USER IF NOT EXISTS ${grantee} IDENTIFIED BY ${password} ACCOUNT LOCK`,
        { sensitive: true },
      );
      const sourceGrants = parseGrants(await showGrants(admin, source.username, host), source.username, host);
      const targetGrants = parseGrants(await showGrants(admin, target.username, host), target.username, host);
      const statements = grantSyncStatements(sourceGrants, targetGrants, grantee);
      // Roles exist on MySQL from 8.0 (mysql.default_roles with them); MariaDB's are in SHOW GRANTS.
      if (!mariadb && [...sourceGrants, ...targetGrants].some((item) => item.kind === "role")) {
        statements.push(
          ...defaultRoleStatement(
            await mysqlDefaultRoles(admin, source.username, host),
            await mysqlDefaultRoles(admin, target.username, host),
            grantee,
          ),
        );
      }
      for (const statement of statements) {
        await admin.run(statement.split(" ", 1)[0]!, statement);
      }
      // The TLS requirement too: a clone without the user's REQUIRE SSL/X509 would accept plaintext logins.
      await admin.run("ALTER USER (REQUIRE)", `ALTER USER ${grantee} ${requireClause(accounts[index]!)}`);
    }
    // Every host's account gets the password in one statement, last: setSecret counts a pending user
    // that logs in as complete, so a crash between per-host statements would leave the other hosts'
    // accounts on their old password (or locked) for good.
    await admin.run(
      "ALTER USER (password, unlock)",
      `ALTER USER ${hosts.map((host) => `${account(target.username, host)} IDENTIFIED BY ${password}`).join(", ")} ACCOUNT UNLOCK`,
      { sensitive: true },
    );
  },

  async excessPrivileges(admin, source, target) {
    await (admin as MysqlSession).usePlainSqlMode();
    // The target's own grants need no comparison: prepareAlternateUser replaces them with the source's.
    for (const user of [source.username, target.username]) {
      const adminLevel = adminLevelGrants(await effectiveGrants(admin, user));
      if (adminLevel.length > 0) {
        return `user "${user}" holds admin-level privileges (${[...new Set(adminLevel)].join(", ")}); such a user is rotated single-user, never through the admin secret`;
      }
    }
    return undefined;
  },

  async checkSession(session, secret) {
    const rows = await session.run("SELECT USER()", "SELECT USER() AS login");
    const login = String(rows[0]?.login ?? "");
    if (login.slice(0, login.lastIndexOf("@")) !== secret.username) {
      throw new TargetError(`${describeTarget(secret)}: the session logged in as another user`);
    }
  },
};
