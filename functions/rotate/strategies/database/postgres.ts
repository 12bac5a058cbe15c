import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type pg from "pg";
import { ConnectionPolicyError, LoginRejectedError, TargetError } from "../../errors.ts";
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
import { describeTarget, ownerUsername } from "./secret.ts";

// invalid_password: the server checked the password (or the role does not exist, which it does not reveal).
const PASSWORD_REFUSED = "28P01";
// invalid_authorization_specification: refused before any password check (pg_hba.conf: no entry, e.g.
// TLS required or host not allowed, or a reject line; a role without LOGIN).
const REFUSED_BY_POLICY = "28000";

// Role attributes compared between the two users; all but CREATEDB make a role an administrator.
const ROLE_ATTRIBUTES = [
  ["SUPERUSER", "rolsuper"],
  ["CREATEROLE", "rolcreaterole"],
  ["CREATEDB", "rolcreatedb"],
  ["REPLICATION", "rolreplication"],
  ["BYPASSRLS", "rolbypassrls"],
] as const;
// Predefined roles that reach the server's files or run programs on it: as powerful as a superuser.
const SERVER_ACCESS_ROLES = ["pg_execute_server_program", "pg_read_server_files", "pg_write_server_files"];

/** A quoted identifier: any character, double quotes doubled (as pg's escapeIdentifier). */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A string literal valid whatever standard_conforming_strings says: quotes doubled, and an E'' literal
 * with doubled backslashes when it contains one (as pg's escapeLiteral).
 */
export function quoteLiteral(value: string): string {
  const body = value.replace(/'/g, "''");
  return value.includes("\\") ? `E'${body.replace(/\\/g, "\\\\")}'` : `'${body}'`;
}

// The driver is loaded on first use, so rotations that do not touch PostgreSQL never pay its start-up.
let driverModule: Promise<typeof pg> | undefined;
const loadPg = () => {
  driverModule ??= import("pg").then((module) => module.default);
  return driverModule;
};

/**
 * The SCRAM-SHA-256 verifier PostgreSQL would store for `password` (RFC 5802/7677, as libpq's
 * PQencryptPasswordConn builds it), so the plaintext never reaches the server, its logs or pg_stat_statements.
 * Undefined for non-ASCII passwords, whose SASLprep normalisation the server must do itself.
 */
export function scramVerifier(
  password: string,
  salt = randomBytes(16),
  iterations = 4096,
): string | undefined {
  if (!/^[\x20-\x7e]*$/.test(password)) return undefined;
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** The PASSWORD clause for `password`: a SCRAM verifier when possible, else the quoted plaintext. */
function passwordClause(password: string): string {
  return `PASSWORD ${quoteLiteral(scramVerifier(password) ?? password)}`;
}

class PostgresSession implements DatabaseSession {
  constructor(
    private readonly client: pg.Client,
    private readonly options: ConnectOptions,
    private readonly where: string,
  ) {}

  async run(label: string, sql: string, options: RunOptions = {}) {
    // The client-side bound shrinks with the deadline; statement_timeout was fixed at login.
    const query_timeout = this.options.beforeStatement();
    let result: pg.QueryResult | pg.QueryResult[];
    try {
      result = (await this.client.query({
        text: sql,
        query_timeout,
      } as pg.QueryConfig)) as pg.QueryResult | pg.QueryResult[];
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      // A statement that carries a credential may be echoed in the server's message: keep only its code.
      const detail = options.sensitive
        ? `SQLSTATE ${code ?? "unknown"}`
        : `${code ?? ""} ${message ?? ""}`.trim();
      throw new TargetError(`${label} failed on ${this.where}: ${detail}`);
    }
    await afterStatementHook(label, "postgres");
    const last = Array.isArray(result) ? result.at(-1) : result;
    return (last?.rows ?? []) as Row[];
  }

  async close() {
    await this.client.end().catch(() => undefined);
  }
}

/** PostgreSQL and Aurora PostgreSQL over `pg`. */
export const postgresDriver: DatabaseDriver = {
  family: "postgres",

  async connect(secret, options) {
    await statementHooks.beforeConnect?.({ label: options.label, family: "postgres" });
    const where = describeTarget(secret);
    const { Client } = await loadPg();
    const client = new Client({
      host: secret.host,
      port: secret.port,
      user: secret.username,
      password: secret.password,
      database: secret.dbname ?? "postgres",
      ssl: await tlsOptions(secret, options.settings),
      connectionTimeoutMillis: options.connectTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      query_timeout: options.statementTimeoutMs + 1_000,
      application_name: "vigil-rotate",
    });
    // A connection that dies later surfaces on the next query; never as an unhandled event.
    client.on("error", () => undefined);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      const { code, message } = error as { code?: string; message?: string };
      if (code === PASSWORD_REFUSED) {
        throw new LoginRejectedError(`${where} refused the ${options.label} credential (SQLSTATE ${code})`);
      }
      if (code === REFUSED_BY_POLICY) {
        throw new ConnectionPolicyError(
          `${where} refused the ${options.label} connection by policy before checking the password (SQLSTATE ${code}: ${message}); the stored password was not tested: check pg_hba.conf, TLS ("ssl" in the secret) and the address the function connects from`,
        );
      }
      throw new TargetError(`cannot connect to ${where} with the ${options.label} credential: ${message}`);
    }
    return new PostgresSession(client, options, where);
  },

  async changeOwnPassword(session, secret, newPassword) {
    await session.run(
      "ALTER ROLE (own password)",
      `ALTER ROLE ${quoteIdentifier(secret.username)} ${passwordClause(newPassword)}`,
      { sensitive: true },
    );
  },

  async prepareAlternateUser(admin, _source, target) {
    const owner = ownerUsername(target.username);
    if (target.username === owner) {
      // The owner role is the original user: it already holds every privilege and owns the objects.
      await admin.run(
        "ALTER ROLE (owner password)",
        `ALTER ROLE ${quoteIdentifier(owner)} LOGIN ${passwordClause(target.password)}`,
        { sensitive: true },
      );
      return;
    }
    // One implicit transaction: the clone is created NOLOGIN, made a member of the owner role that it
    // acts as (so objects either user creates belong to the owner and stay usable by both), and only
    // then gets LOGIN and its password. A clone that logs in with the pending password is complete.
    const clone = quoteIdentifier(target.username);
    const tag = `$vigil_${randomBytes(6).toString("hex")}$`;
    try {
      await admin.run(
        "CREATE/GRANT/ALTER ROLE (clone)",
        [
          `DO ${tag}BEGIN CREATE ROLE ${clone} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END${tag}`,
          `GRANT ${quoteIdentifier(owner)} TO ${clone}`,
          `ALTER ROLE ${clone} INHERIT`,
          `ALTER ROLE ${clone} SET role = ${quoteLiteral(owner)}`,
          `ALTER ROLE ${clone} LOGIN ${passwordClause(target.password)}`,
        ].join(";\n"),
        { sensitive: true },
      );
    } catch (error) {
      // The statements carry the password, so only the SQLSTATE is reported: name the usual cause.
      if (error instanceof TargetError && error.message.endsWith("SQLSTATE 42501")) {
        throw new TargetError(
          `${error.message} (insufficient privilege): the admin secret's user needs CREATEROLE and, on PostgreSQL 16+, ADMIN OPTION on role ${quoteIdentifier(owner)}; nothing was changed`,
          { cause: error },
        );
      }
      throw error;
    }
  },

  async excessPrivileges(admin, source, target) {
    // Effective privileges: each role's own attributes and those of every role it is a member of.
    const rows = await admin.run(
      "SELECT role privileges",
      `SELECT u.rolname::text AS name, ${ROLE_ATTRIBUTES.map(([attribute, column]) => `bool_or(m.${column}) AS "${attribute}"`).join(", ")},
         COALESCE(array_agg(m.rolname::text ORDER BY m.rolname) FILTER (WHERE m.oid <> u.oid), '{}') AS roles
       FROM pg_roles u JOIN pg_roles m ON pg_has_role(u.oid, m.oid, 'MEMBER')
       WHERE u.rolname IN (${quoteLiteral(source.username)}, ${quoteLiteral(target.username)})
       GROUP BY u.rolname`,
    );
    const held = (user: string) => {
      const row = rows.find((candidate) => candidate.name === user);
      if (!row) return { attributes: [] as string[], roles: [] as string[] };
      return {
        attributes: ROLE_ATTRIBUTES.map(([attribute]) => attribute).filter((a) => row[a] === true),
        roles: (row.roles as string[]) ?? [],
      };
    };
    for (const user of [source.username, target.username]) {
      const { attributes, roles } = held(user);
      const adminLevel = [
        ...attributes.filter((attribute) => attribute !== "CREATEDB"),
        ...roles
          .filter((role) => SERVER_ACCESS_ROLES.includes(role))
          .map((role) => `membership in "${role}"`),
      ];
      if (adminLevel.length > 0) {
        return `user "${user}" is admin-level (${adminLevel.join(", ")}, directly or through a role it belongs to); such a user is rotated single-user, never through the admin secret`;
      }
    }
    const have = held(source.username);
    const extra = held(target.username);
    const excess = [
      ...extra.attributes.filter((attribute) => !have.attributes.includes(attribute)),
      ...extra.roles
        .filter((role) => role !== source.username && !have.roles.includes(role))
        .map((role) => `membership in "${role}"`),
    ];
    if (excess.length === 0) return undefined;
    return `user "${target.username}" already holds ${excess.join(", ")}, which "${source.username}" lacks; setting its password would hand those to this secret`;
  },

  async checkSession(session, secret) {
    const rows = await session.run(
      "SELECT session_user",
      "SELECT session_user AS login, current_user AS acting",
    );
    if (rows[0]?.login !== secret.username) {
      throw new TargetError(`${describeTarget(secret)}: the session logged in as another user`);
    }
    // An alternate user must act as the owner role, or objects it creates are unusable by the other user.
    const owner = ownerUsername(secret.username);
    if (owner !== secret.username && rows[0]?.acting !== owner) {
      throw new TargetError(
        `${describeTarget(secret)}: user "${secret.username}" does not act as the owner role "${owner}" (its role setting is missing), so objects it creates would not be usable by "${owner}"`,
      );
    }
  },
};
