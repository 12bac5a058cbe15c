// The database secret (AWS RDS format): its engines, validation, user name rules and how it is named in messages.
import { SecretFormatError } from "../../errors.ts";
import type { SecretJson } from "../../secrets.ts";

/** Engines of the AWS RDS secret format, by driver family. */
export const DATABASE_ENGINES = {
  postgres: "postgres",
  "aurora-postgresql": "postgres",
  mysql: "mysql",
  "aurora-mysql": "mysql",
  mariadb: "mysql",
} as const;
export type DatabaseEngine = keyof typeof DATABASE_ENGINES;
export type DatabaseFamily = (typeof DATABASE_ENGINES)[DatabaseEngine];

/** A database secret in the AWS RDS format, validated. */
export interface DatabaseSecret {
  engine: DatabaseEngine;
  host: string;
  port: number;
  username: string;
  password: string;
  dbname: string | undefined;
  /** False only when the secret says `ssl: false` explicitly; TLS is required otherwise. */
  ssl: boolean;
  masterarn: string | undefined;
}

const DEFAULT_PORTS: Record<DatabaseFamily, number> = { postgres: 5432, mysql: 3306 };

const nonEmpty = (value: unknown): value is string => typeof value === "string" && value !== "";

/**
 * What each field of the AWS RDS format must be, in the order problems are named, and how a problem says it.
 * Plain checks rather than a zod schema: building one cost each cold start about a twentieth of its
 * instructions (the schema, zod itself, and the parser zod compiles on first use). The checks are the
 * schema's exactly (test/unit/rotate-database.test.ts holds them against it); unknown fields are ignored.
 */
const RDS_FIELDS: Readonly<Record<string, { valid(value: unknown): boolean; rule: string }>> = {
  engine: {
    valid: (value) => typeof value === "string" && Object.hasOwn(DATABASE_ENGINES, value),
    rule: `one of ${Object.keys(DATABASE_ENGINES).join(", ")}`,
  },
  host: { valid: nonEmpty, rule: "a non-empty string" },
  // A number from 1 to 65535, or up to five digits (a text port past 65535 is refused after parsing).
  port: {
    valid: (value) =>
      value === undefined ||
      (Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= 65_535) ||
      (typeof value === "string" && /^\d{1,5}$/.test(value)),
    rule: "an integer from 1 to 65535",
  },
  username: { valid: nonEmpty, rule: "a non-empty string" },
  password: { valid: nonEmpty, rule: "a non-empty string" },
  dbname: {
    valid: (value) => value === undefined || value === null || typeof value === "string",
    rule: "a string",
  },
  ssl: {
    valid: (value) =>
      value === undefined || typeof value === "boolean" || value === "true" || value === "false",
    rule: "true or false",
  },
  masterarn: {
    valid: (value) => value === undefined || value === null || nonEmpty(value),
    rule: "the ARN of the admin secret",
  },
};

/** A validated AWS RDS secret's fields, as stored. */
interface RdsFields {
  engine: DatabaseEngine;
  host: string;
  port?: number | string;
  username: string;
  password: string;
  dbname?: string | null;
  ssl?: boolean | "true" | "false";
  masterarn?: string | null;
}

/**
 * Validates a database secret in the AWS RDS format. The error names every missing or wrong field and
 * what it must be, never the value it found.
 */
export function parseDatabaseSecret(json: SecretJson, where: string): DatabaseSecret {
  const isObject = typeof json === "object" && json !== null && !Array.isArray(json);
  const wrong = isObject
    ? Object.keys(RDS_FIELDS).filter((field) => !RDS_FIELDS[field]?.valid(json[field]))
    : ["(root)"];
  if (wrong.length > 0) {
    const problems = wrong.map((field) =>
      json[field] === undefined || json[field] === null
        ? `missing "${field}"`
        : `"${field}" must be ${RDS_FIELDS[field]?.rule ?? "valid"}`,
    );
    throw new SecretFormatError(`Secret ${where} is not a valid database secret: ${problems.join("; ")}`);
  }
  const value = json as unknown as RdsFields;
  const family = DATABASE_ENGINES[value.engine];
  const port = value.port === undefined ? DEFAULT_PORTS[family] : Number(value.port);
  if (port < 1 || port > 65_535) {
    throw new SecretFormatError(
      `Secret ${where} is not a valid database secret: "port" must be ${RDS_FIELDS.port?.rule}`,
    );
  }
  return {
    engine: value.engine,
    host: value.host,
    port,
    username: value.username,
    password: value.password,
    dbname: value.dbname ?? undefined,
    ssl: value.ssl !== false && value.ssl !== "false",
    masterarn: value.masterarn ?? undefined,
  };
}

/** The driver family of a validated secret. */
export function familyOf(secret: Pick<DatabaseSecret, "engine">): DatabaseFamily {
  return DATABASE_ENGINES[secret.engine];
}

/**
 * Longest user name each engine accepts: PostgreSQL NAMEDATALEN-1 = 63 bytes; MySQL 5.7.8+ 32
 * characters; MariaDB 80 characters up to 10.5 (128 from 10.6; 80 keeps every supported version safe).
 */
export const USERNAME_LIMITS: Record<DatabaseEngine, { max: number; unit: "bytes" | "characters" }> = {
  postgres: { max: 63, unit: "bytes" },
  "aurora-postgresql": { max: 63, unit: "bytes" },
  mysql: { max: 32, unit: "characters" },
  "aurora-mysql": { max: 32, unit: "characters" },
  mariadb: { max: 80, unit: "characters" },
};

/** Length of a user name in the unit its engine counts. */
export function usernameLength(engine: DatabaseEngine, username: string): number {
  return USERNAME_LIMITS[engine].unit === "bytes"
    ? Buffer.byteLength(username, "utf8")
    : [...username].length;
}

/** Suffix of the second user of an alternating pair (the AWS multi-user samples' convention). */
export const CLONE_SUFFIX = "_clone";

/** The alternating partner of `username`: `name` <-> `name_clone`. */
export function alternateUsername(username: string): string {
  return username.endsWith(CLONE_SUFFIX) ? username.slice(0, -CLONE_SUFFIX.length) : username + CLONE_SUFFIX;
}

/** The original user of an alternating pair (PostgreSQL: the role both users act as). */
export function ownerUsername(username: string): string {
  return username.endsWith(CLONE_SUFFIX) ? username.slice(0, -CLONE_SUFFIX.length) : username;
}

/** Describes a secret's target for messages: engine, host, port, database and user; never the password. */
export function describeTarget(secret: DatabaseSecret): string {
  return `${secret.engine} ${secret.host}:${secret.port}${secret.dbname ? `/${secret.dbname}` : ""} as "${secret.username}"`;
}

/** True when both secrets point at the same server (engine family, host, port). */
export function sameTarget(a: DatabaseSecret, b: DatabaseSecret): boolean {
  return familyOf(a) === familyOf(b) && a.host === b.host && a.port === b.port;
}
