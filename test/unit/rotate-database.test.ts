import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
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
