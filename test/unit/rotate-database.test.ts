import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { SecretFormatError } from "../../functions/rotate/errors.ts";
import { selectStrategy } from "../../functions/rotate/registry.ts";
import { tlsOptions } from "../../functions/rotate/strategies/database/driver.ts";
import {
  quoteIdentifier,
  quoteLiteral,
  scramVerifier,
} from "../../functions/rotate/strategies/database/postgres.ts";
import {
  alternateUsername,
  DATABASE_ENGINES,
  ownerUsername,
  parseDatabaseSecret,
  USERNAME_LIMITS,
  usernameLength,
} from "../../functions/rotate/strategies/database/secret.ts";

const rds = {
  engine: "postgres",
  host: "db.cluster-abc.eu-west-1.rds.amazonaws.com",
  port: 5432,
  username: "app",
  password: "Sup3r-Secret-Value!",
  dbname: "orders",
};

describe("parseDatabaseSecret", () => {
  it("accepts an AWS RDS secret unchanged, TLS on by default", () => {
    expect(parseDatabaseSecret(rds, "s")).toEqual({ ...rds, ssl: true, masterarn: undefined });
  });

  it("accepts every RDS engine, a port given as a string and a default port", () => {
    for (const engine of ["postgres", "aurora-postgresql", "mysql", "aurora-mysql", "mariadb"]) {
      expect(parseDatabaseSecret({ ...rds, engine }, "s").engine).toBe(engine);
    }
    expect(parseDatabaseSecret({ ...rds, port: "6543" }, "s").port).toBe(6543);
    expect(parseDatabaseSecret({ ...rds, port: undefined }, "s").port).toBe(5432);
    expect(parseDatabaseSecret({ ...rds, engine: "mariadb", port: undefined }, "s").port).toBe(3306);
  });

  it("turns TLS off only for an explicit ssl: false", () => {
    expect(parseDatabaseSecret({ ...rds, ssl: false }, "s").ssl).toBe(false);
    expect(parseDatabaseSecret({ ...rds, ssl: "false" }, "s").ssl).toBe(false);
    expect(parseDatabaseSecret({ ...rds, ssl: true }, "s").ssl).toBe(true);
    expect(() => parseDatabaseSecret({ ...rds, ssl: "no" }, "s")).toThrow(/"ssl" must be true or false/);
  });

  it("names every missing field", () => {
    const { host: _host, password: _password, ...rest } = rds;
    expect(() => parseDatabaseSecret(rest, "arn:x")).toThrow(
      new SecretFormatError(
        'Secret arn:x is not a valid database secret: missing "host"; missing "password"',
      ),
    );
  });

  it("names wrong fields and what they must be, never the value found", () => {
    const attempt = () =>
      parseDatabaseSecret({ ...rds, engine: "oracle-secret-engine", port: 99999, username: 42 }, "s");
    expect(attempt).toThrow(
      /"engine" must be one of postgres, aurora-postgresql, mysql, aurora-mysql, mariadb/,
    );
    expect(attempt).toThrow(/"port" must be an integer from 1 to 65535/);
    expect(attempt).toThrow(/"username" must be a non-empty string/);
    const wrongPassword = () =>
      parseDatabaseSecret({ ...rds, password: 12345678, engine: "oracle-secret-engine" }, "s");
    expect(wrongPassword).toThrow(/"password" must be a non-empty string/);
    expect(wrongPassword).not.toThrow(/oracle-secret-engine|12345678/);
  });
});

// The zod schema parseDatabaseSecret validated with until it checked the fields itself (zod cost the rotate
// function's cold start more than the rest of the validation): the checks must stay exactly these.
const nonEmpty = z.string().check(z.minLength(1));
const formerRdsSchema = z.object({
  engine: z.enum(["postgres", "aurora-postgresql", "mysql", "aurora-mysql", "mariadb"]),
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

describe("parseDatabaseSecret's checks", () => {
  // Values near every rule's edges, of every JSON type (and undefined, as an absent field reads).
  const value = fc.constantFrom<unknown>(
    undefined,
    null,
    "",
    " ",
    "x",
    "postgres",
    "aurora-postgresql",
    "mysql",
    "aurora-mysql",
    "mariadb",
    "Postgres",
    "constructor",
    "__proto__",
    "true",
    "false",
    "0",
    "1",
    "5432",
    "65535",
    "99999",
    "123456",
    "1.5",
    " 5432",
    "-1",
    0,
    1,
    -1,
    5432,
    65_535,
    65_536,
    1.5,
    Number.MAX_SAFE_INTEGER + 1,
    Number.POSITIVE_INFINITY,
    Number.NaN,
    true,
    false,
    [],
    ["postgres"],
    {},
    { engine: "postgres" },
  );
  const fields = ["engine", "host", "port", "username", "password", "dbname", "ssl", "masterarn", "extra"];
  const secret = fc.record(Object.fromEntries(fields.map((field) => [field, value])), { requiredKeys: [] });

  it("accepts and refuses exactly what the former zod schema did, with the same result or message", () => {
    fc.assert(
      fc.property(secret, (json) => {
        const expected = formerRdsSchema.safeParse(json);
        const outcome = (() => {
          try {
            return { value: parseDatabaseSecret(json, "s") };
          } catch (error) {
            return { error: (error as Error).message };
          }
        })();
        if (!expected.success) {
          const wrong = [...new Set(expected.error.issues.map((issue) => String(issue.path[0])))];
          expect(outcome.error).toBe(
            `Secret s is not a valid database secret: ${wrong
              .map((field) =>
                json[field] === undefined || json[field] === null
                  ? `missing "${field}"`
                  : `"${field}" must be ${
                      {
                        engine: `one of ${Object.keys(DATABASE_ENGINES).join(", ")}`,
                        port: "an integer from 1 to 65535",
                        dbname: "a string",
                        ssl: "true or false",
                        masterarn: "the ARN of the admin secret",
                      }[field] ?? "a non-empty string"
                    }`,
              )
              .join("; ")}`,
          );
          return;
        }
        const port = expected.data.port;
        if (port !== undefined && (Number(port) < 1 || Number(port) > 65_535)) {
          expect(outcome.error).toMatch(/"port" must be an integer from 1 to 65535$/);
          return;
        }
        expect(outcome.value).toEqual({
          engine: expected.data.engine,
          host: expected.data.host,
          port:
            port === undefined
              ? DATABASE_ENGINES[expected.data.engine] === "postgres"
                ? 5432
                : 3306
              : Number(port),
          username: expected.data.username,
          password: expected.data.password,
          dbname: expected.data.dbname ?? undefined,
          ssl: expected.data.ssl !== false && expected.data.ssl !== "false",
          masterarn: expected.data.masterarn ?? undefined,
        });
      }),
      { numRuns: 5_000 },
    );
  });

  it("accepts the secrets the former schema accepted (a valid secret with one field varied)", () => {
    const valid = {
      engine: "postgres",
      host: "h",
      port: 5432,
      username: "u",
      password: "p",
    } as Record<string, unknown>;
    fc.assert(
      fc.property(fc.constantFrom(...fields), value, (field, replacement) => {
        const json = { ...valid, [field]: replacement };
        const accepted = (() => {
          try {
            parseDatabaseSecret(json, "s");
            return true;
          } catch {
            return false;
          }
        })();
        const port = formerRdsSchema.safeParse(json).data?.port;
        expect(accepted).toBe(
          formerRdsSchema.safeParse(json).success &&
            (port === undefined || (Number(port) >= 1 && Number(port) <= 65_535)),
        );
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("alternating user names", () => {
  it("alternates username and username_clone, and names the owner role", () => {
    expect(alternateUsername("app")).toBe("app_clone");
    expect(alternateUsername("app_clone")).toBe("app");
    expect(ownerUsername("app_clone")).toBe("app");
    expect(ownerUsername("app")).toBe("app");
  });

  it("counts PostgreSQL names in bytes and MySQL/MariaDB names in characters", () => {
    expect(usernameLength("postgres", "Ünïcode")).toBe(9);
    expect(usernameLength("mysql", "Ünïcode")).toBe(7);
    expect(USERNAME_LIMITS.postgres.max).toBe(63);
    expect(USERNAME_LIMITS.mysql.max).toBe(32);
    expect(USERNAME_LIMITS["aurora-mysql"].max).toBe(32);
    expect(USERNAME_LIMITS.mariadb.max).toBe(80);
  });
});

describe("tlsOptions", () => {
  const secret = parseDatabaseSecret(rds, "s");

  it("verifies against the shipped Amazon RDS CA bundle by default", async () => {
    const options = await tlsOptions(secret, { caBundlePath: undefined });
    expect(options).not.toBe(false);
    if (!options) return;
    expect(options.rejectUnauthorized).toBe(true);
    expect(Array.isArray(options.ca) && options.ca.length).toBeGreaterThan(100);
    expect(String(options.ca)).toContain("BEGIN CERTIFICATE");
  });

  it("uses the bundle named by DB_CA_BUNDLE_PATH instead", async () => {
    const path = new URL("../../package.json", import.meta.url).pathname;
    const options = await tlsOptions(secret, { caBundlePath: path });
    expect(options).toEqual({ ca: readFileSync(path, "utf8"), rejectUnauthorized: true });
  });

  it("is off only when the secret says ssl: false", async () => {
    expect(await tlsOptions({ ...secret, ssl: false }, { caBundlePath: undefined })).toBe(false);
  });
});

describe("scramVerifier", () => {
  it("builds the verifier PostgreSQL stores, so the plaintext never reaches the server", () => {
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    const verifier = scramVerifier("pencil", salt, 4096);
    // Stored and server keys for RFC 7677's example (user "user", password "pencil").
    expect(verifier).toBe(
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
    );
  });

  it("leaves non-ASCII passwords to the server (SASLprep)", () => {
    expect(scramVerifier("pässwörd-123")).toBeUndefined();
    expect(scramVerifier("a b'c\"d\\e`f$g")).toMatch(/^SCRAM-SHA-256\$4096:/);
  });
});

describe("strategy selection for database secrets", () => {
  const arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf";

  it("infers single-user from engine and alternating from engine + masterarn", () => {
    expect(selectStrategy(arn, undefined, rds).name).toBe("postgres-single");
    expect(selectStrategy(arn, undefined, { ...rds, masterarn: "arn:admin" }).name).toBe(
      "postgres-alternating",
    );
    expect(selectStrategy(arn, undefined, { ...rds, masterarn: null }).name).toBe("postgres-single");
    expect(selectStrategy(arn, undefined, { ...rds, engine: "mariadb" }).name).toBe("mysql-single");
    expect(
      selectStrategy(arn, undefined, { ...rds, engine: "aurora-mysql", masterarn: "arn:admin" }).name,
    ).toBe("mysql-alternating");
  });

  it("follows the vigil:rotation tag over the JSON", () => {
    const tags = [{ Key: "vigil:rotation", Value: "postgres-alternating" }];
    expect(selectStrategy(arn, tags, rds).name).toBe("postgres-alternating");
  });
});

describe("PostgreSQL quoting", () => {
  it("quotes identifiers and literals like pg's escapeIdentifier / escapeLiteral", () => {
    expect(quoteIdentifier("Own\"er 'x")).toBe('"Own""er \'x"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral("back\\slash's")).toBe("E'back\\\\slash''s'");
  });
});
