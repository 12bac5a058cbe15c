import type mysql from "mysql2/promise";
import { AccountLockedError, ConnectionPolicyError, LoginRejectedError, TargetError } from "../../errors.ts";
import {
  afterStatementHook,
  type ConnectOptions,
  type DatabaseDriver,
  type DatabaseSession,
  describeTarget,
  type Row,
  type RunOptions,
  statementHooks,
  tlsOptions,
} from "./steps.ts";

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

/**
 * A string literal valid whatever the session's sql_mode, provided backslash escapes are on (the
 * session turns NO_BACKSLASH_ESCAPES off before it sends a literal containing a backslash).
 */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** An account name, `'user'@'host'`. */
export function account(user: string, host: string): string {
  return `${quoteString(user)}@${quoteString(host)}`;
}

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

/** One privilege (or role) held by an account, from SHOW GRANTS. */
interface GrantItem {
  /** The object (`db`.`table`, *.*, a proxied account) or "" for a role. */
  object: string;
  /** A privilege (`SELECT`, `SELECT (col)`, `GRANT OPTION`, `PROXY`) or a role name. */
  privilege: string;
  kind: "privilege" | "role" | "default-role";
  /** Roles only: granted WITH ADMIN OPTION. */
  admin?: boolean;
}

/** Splits at top-level commas (outside backticks, quotes and parentheses). */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === quote && text[i + 1] === quote)
        i++; // a doubled quote is an escaped one
      else if (char === quote) quote = undefined;
      continue;
    }
    if (char === "`" || char === "'" || char === '"') quote = char;
    else if (char === "(") depth++;
    else if (char === ")") depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i).trim());
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((part) => part !== "");
}

/** The ways SHOW GRANTS spells an account (MySQL 8 / MariaDB: backticks; MySQL 5.7: single quotes). */
function grantSpellings(user: string, host: string): string[] {
  const tick = (value: string) => `\`${value.replace(/`/g, "``")}\``;
  return [
    `${tick(user)}@${tick(host)}`,
    `'${user.replace(/'/g, "\\'")}'@'${host.replace(/'/g, "\\'")}'`,
    `'${user.replace(/'/g, "''")}'@'${host.replace(/'/g, "''")}'`,
  ];
}

/**
 * Parses SHOW GRANTS of `user`@`host` into privilege items. Account attributes on the USAGE line
 * (IDENTIFIED BY PASSWORD, REQUIRE, resource limits) are ignored: they are not privileges, and copying
 * the password hash would hand the target the source's password. A line it cannot read (a MySQL 8
 * partial revoke, an account spelled some other way) is an error rather than skipped: skipping would
 * give the target fewer privileges, or more, than the source, and the error never quotes the line
 * (its USAGE line carries the password hash).
 */
export function parseGrants(lines: readonly string[], user: string, host: string): GrantItem[] {
  return parseGrantLines(lines, grantSpellings(user, host), account(user, host));
}

/** parseGrants for a grantee spelled as SHOW GRANTS prints it (`spellings`), named `grantee` in errors. */
function parseGrantLines(
  lines: readonly string[],
  spellings: readonly string[],
  grantee: string,
): GrantItem[] {
  const unreadable = (what: string) =>
    new TargetError(
      `SHOW GRANTS for ${grantee} returned ${what} that Vigil cannot copy; copy that account's privileges to its alternate user by hand, or remove them`,
    );
  const items: GrantItem[] = [];
  for (const line of lines) {
    if (line.startsWith("SET DEFAULT ROLE ")) {
      const cut = spellings.map((s) => line.lastIndexOf(` FOR ${s}`)).find((index) => index > 0);
      if (cut === undefined) throw unreadable("a SET DEFAULT ROLE line");
      items.push({ kind: "default-role", object: "", privilege: line.slice(17, cut).trim() });
      continue;
    }
    if (line.startsWith("REVOKE ")) throw unreadable("a partial revoke (REVOKE line)");
    if (!line.startsWith("GRANT ")) throw unreadable("a line");
    let head: string | undefined;
    let tail = "";
    for (const spelling of spellings) {
      const index = line.lastIndexOf(` TO ${spelling}`);
      if (index > 0) {
        head = line.slice(6, index);
        tail = line.slice(index + 4 + spelling.length);
        break;
      }
    }
    if (head === undefined) throw unreadable("a GRANT line for another spelling of the account");
    const on = splitTopLevel(head, " ON ");
    if (on.length >= 2) {
      const object = on.slice(1).join(" ON ");
      for (const privilege of splitTopLevel(on[0]!, ",")) {
        if (privilege.toUpperCase() !== "USAGE") items.push({ kind: "privilege", object, privilege });
      }
      if (/\bWITH GRANT OPTION\b/i.test(tail)) {
        items.push({ kind: "privilege", object, privilege: "GRANT OPTION" });
      }
    } else {
      const admin = /\bWITH ADMIN OPTION\b/i.test(tail);
      for (const role of splitTopLevel(head, ","))
        items.push({ kind: "role", object: "", privilege: role, admin });
    }
  }
  return items;
}

/**
 * The statements that make `target` hold exactly the privileges and roles of `source` (from their
 * parsed SHOW GRANTS): revokes first, so a privilege narrowed on the source is narrowed on the target.
 */
export function grantSyncStatements(source: GrantItem[], target: GrantItem[], grantee: string): string[] {
  const key = (item: GrantItem) =>
    `${item.kind}\u0000${item.object}\u0000${item.privilege}\u0000${item.admin}`;
  const sourceKeys = new Set(source.map(key));
  const targetKeys = new Set(target.map(key));
  const missing = source.filter((item) => !targetKeys.has(key(item)));
  const extra = target.filter((item) => !sourceKeys.has(key(item)));
  const byObject = (items: GrantItem[]) => {
    const groups = new Map<string, string[]>();
    for (const item of items.filter((i) => i.kind === "privilege")) {
      groups.set(item.object, [...(groups.get(item.object) ?? []), item.privilege]);
    }
    return groups;
  };
  const statements: string[] = [];
  for (const [object, privileges] of byObject(extra)) {
    statements.push(`REVOKE ${privileges.join(", ")} ON ${object} FROM ${grantee}`);
  }
  for (const item of extra) {
    if (item.kind === "role") statements.push(`REVOKE ${item.privilege} FROM ${grantee}`);
    // MariaDB only prints SET DEFAULT ROLE lines; a default role the source no longer has is cleared
    // (a different one is set below).
    if (item.kind === "default-role") statements.push(`SET DEFAULT ROLE NONE FOR ${grantee}`);
  }
  for (const [object, privileges] of byObject(missing)) {
    const plain = privileges.filter((privilege) => privilege.toUpperCase() !== "GRANT OPTION");
    const withGrantOption = plain.length < privileges.length;
    statements.push(
      `GRANT ${plain.length > 0 ? plain.join(", ") : "USAGE"} ON ${object} TO ${grantee}${withGrantOption ? " WITH GRANT OPTION" : ""}`,
    );
  }
  for (const item of missing) {
    if (item.kind === "role") {
      statements.push(`GRANT ${item.privilege} TO ${grantee}${item.admin ? " WITH ADMIN OPTION" : ""}`);
    }
    if (item.kind === "default-role") statements.push(`SET DEFAULT ROLE ${item.privilege} FOR ${grantee}`);
  }
  return statements;
}

/** A column value as text (mysql2 returns binary-collated columns as Buffers). */
function text(value: unknown): string {
  if (value === null || value === undefined) return "";
  return Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
}

/**
 * MySQL 8+ keeps default roles in mysql.default_roles, not in SHOW GRANTS: the statement that gives
 * `grantee` the source's default roles (each `'role'@'host'`), or none when they already match.
 */
export function defaultRoleStatement(source: string[], target: string[], grantee: string): string[] {
  const want = [...source].sort();
  const have = [...target].sort();
  if (want.join("\n") === have.join("\n")) return [];
  return [`SET DEFAULT ROLE ${want.length > 0 ? want.join(", ") : "NONE"} TO ${grantee}`];
}

async function mysqlDefaultRoles(session: DatabaseSession, user: string, host: string): Promise<string[]> {
  const rows = await session.run(
    "SELECT default roles",
    `SELECT DEFAULT_ROLE_USER AS user, DEFAULT_ROLE_HOST AS host FROM mysql.default_roles
     WHERE USER = ${quoteString(user)} AND HOST = ${quoteString(host)}`,
  );
  return rows.map((row) => account(text(row.user), text(row.host)));
}

/**
 * The REQUIRE clause that gives an account the TLS requirement of a mysql.user row (ssl_type and the
 * X.509 columns, the same in MySQL 5.7/8/9 and MariaDB).
 */
export function requireClause(row: Row): string {
  switch (text(row.type).toUpperCase()) {
    case "ANY":
      return "REQUIRE SSL";
    case "X509":
      return "REQUIRE X509";
    case "SPECIFIED": {
      const parts = (
        [
          ["ISSUER", text(row.issuer)],
          ["SUBJECT", text(row.subject)],
          ["CIPHER", text(row.cipher)],
        ] as const
      ).filter(([, value]) => value !== "");
      return parts.length === 0
        ? "REQUIRE SSL"
        : `REQUIRE ${parts.map(([name, value]) => `${name} ${quoteString(value)}`).join(" AND ")}`;
    }
    default:
      return "REQUIRE NONE";
  }
}

async function showGrants(session: DatabaseSession, user: string, host: string): Promise<string[]> {
  const rows = await session.run("SHOW GRANTS", `SHOW GRANTS FOR ${account(user, host)}`);
  return rows.map((row) => String(Object.values(row)[0]));
}

/**
 * The admin-level grants in `items`: any privilege on *.* or on the `mysql` schema (both reach the grant
 * tables), PROXY, and a role held WITH ADMIN OPTION. Privileges on other schemas, tables and columns
 * (WITH GRANT OPTION included) are an application's.
 */
export function adminLevelGrants(items: readonly GrantItem[]): string[] {
  const found: string[] = [];
  for (const item of items) {
    if (item.kind === "role" && item.admin) found.push(`${item.privilege} WITH ADMIN OPTION`);
    if (item.kind !== "privilege") continue;
    const schema = item.object.split(".", 1)[0]!.replace(/[`"]/g, "").toLowerCase();
    if (item.object === "*.*" || schema === "mysql" || item.privilege.toUpperCase() === "PROXY") {
      found.push(`${item.privilege} ON ${item.object}`);
    }
  }
  return found;
}

/** Every grant `user` holds on any host, its roles' grants included (roles of roles too). */
async function effectiveGrants(session: DatabaseSession, user: string): Promise<GrantItem[]> {
  const hosts = await session.run(
    "SELECT account hosts",
    `SELECT Host AS host FROM mysql.user WHERE User = ${quoteString(user)}`,
  );
  const items: GrantItem[] = [];
  for (const host of hosts.map((row) => text(row.host))) {
    items.push(...parseGrants(await showGrants(session, user, host), user, host));
  }
  // A role is spelled as SHOW GRANTS printed it: `role` (MariaDB) or `role`@`host` (MySQL 8).
  const seen = new Set<string>();
  for (let index = 0; index < items.length; index++) {
    const item = items[index]!;
    if (item.kind !== "role" || seen.has(item.privilege)) continue;
    seen.add(item.privilege);
    const rows = await session.run("SHOW GRANTS (role)", `SHOW GRANTS FOR ${item.privilege}`);
    items.push(
      ...parseGrantLines(
        rows.map((row) => String(Object.values(row)[0])),
        [item.privilege],
        `role ${item.privilege}`,
      ),
    );
  }
  return items;
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
