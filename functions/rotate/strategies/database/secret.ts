// The database secret (AWS RDS format): its engines, validation, user name rules and how it is named in messages.
import * as z from "zod/mini";
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

const nonEmpty = z.string().check(z.minLength(1));
const rdsSecretSchema = z.object({
  engine: z.enum(Object.keys(DATABASE_ENGINES) as [DatabaseEngine, ...DatabaseEngine[]]),
  host: nonEmpty,
  port: z.optional(
    z.union([z.number().check(z.int(), z.gte(1), z.lte(65_535)), z.string().check(z.regex(/^\d{1,5}$/))]),
  ),
  username: nonEmpty,
  password: nonEmpty,
  dbname: z.optional(z.nullable(z.string())),
  ssl: z.optional(z.union([z.boolean(), z.enum(["true", "false"])])),
  masterarn: z.optional(z.nullable(nonEmpty)),
});

const FIELD_RULES: Record<string, string> = {
  engine: `one of ${Object.keys(DATABASE_ENGINES).join(", ")}`,
  host: "a non-empty string",
  port: "an integer from 1 to 65535",
  username: "a non-empty string",
  password: "a non-empty string",
  dbname: "a string",
  ssl: "true or false",
  masterarn: "the ARN of the admin secret",
};

/**
 * Validates a database secret in the AWS RDS format. The error names every missing or wrong field and
 * what it must be, never the value it found.
 */
export function parseDatabaseSecret(json: SecretJson, where: string): DatabaseSecret {
  const result = rdsSecretSchema.safeParse(json);
  if (!result.success) {
    const problems = [...new Set(result.error.issues.map((issue) => String(issue.path[0] ?? "(root)")))].map(
      (field) =>
        json[field] === undefined || json[field] === null
          ? `missing "${field}"`
          : `"${field}" must be ${FIELD_RULES[field] ?? "valid"}`,
    );
    throw new SecretFormatError(`Secret ${where} is not a valid database secret: ${problems.join("; ")}`);
  }
  const value = result.data;
  const family = DATABASE_ENGINES[value.engine];
  const port = value.port === undefined ? DEFAULT_PORTS[family] : Number(value.port);
  if (port < 1 || port > 65_535) {
    throw new SecretFormatError(
      `Secret ${where} is not a valid database secret: "port" must be ${FIELD_RULES.port}`,
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
