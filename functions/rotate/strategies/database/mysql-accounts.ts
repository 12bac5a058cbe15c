// MySQL/MariaDB accounts and their privileges: quoting, reading SHOW GRANTS, and the statements that
// make one account hold exactly another's grants (MySQL 5.7/8/9, MariaDB 10.4+).
import { TargetError } from "../../errors.ts";
import type { DatabaseSession, Row } from "./driver.ts";

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

/** One privilege (or role) held by an account, from SHOW GRANTS. */
export interface GrantItem {
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
export function columnText(value: unknown): string {
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

export async function mysqlDefaultRoles(
  session: DatabaseSession,
  user: string,
  host: string,
): Promise<string[]> {
  const rows = await session.run(
    "SELECT default roles",
    `SELECT DEFAULT_ROLE_USER AS user, DEFAULT_ROLE_HOST AS host FROM mysql.default_roles
     WHERE USER = ${quoteString(user)} AND HOST = ${quoteString(host)}`,
  );
  return rows.map((row) => account(columnText(row.user), columnText(row.host)));
}

/**
 * The REQUIRE clause that gives an account the TLS requirement of a mysql.user row (ssl_type and the
 * X.509 columns, the same in MySQL 5.7/8/9 and MariaDB).
 */
export function requireClause(row: Row): string {
  switch (columnText(row.type).toUpperCase()) {
    case "ANY":
      return "REQUIRE SSL";
    case "X509":
      return "REQUIRE X509";
    case "SPECIFIED": {
      const parts = (
        [
          ["ISSUER", columnText(row.issuer)],
          ["SUBJECT", columnText(row.subject)],
          ["CIPHER", columnText(row.cipher)],
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

export async function showGrants(session: DatabaseSession, user: string, host: string): Promise<string[]> {
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
export async function effectiveGrants(session: DatabaseSession, user: string): Promise<GrantItem[]> {
  const hosts = await session.run(
    "SELECT account hosts",
    `SELECT Host AS host FROM mysql.user WHERE User = ${quoteString(user)}`,
  );
  const items: GrantItem[] = [];
  for (const host of hosts.map((row) => columnText(row.host))) {
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
