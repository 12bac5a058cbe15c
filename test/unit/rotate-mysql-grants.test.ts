import { describe, expect, it } from "vitest";
import { TargetError } from "../../functions/rotate/errors.ts";
import {
  account,
  adminLevelGrants,
  defaultRoleStatement,
  grantSyncStatements,
  parseGrants,
  quoteString,
  requireClause,
} from "../../functions/rotate/strategies/database/mysql-accounts.ts";

describe("quoteString", () => {
  it("doubles quotes and backslashes, and adds nothing else", () => {
    expect(quoteString(`a'b\\c"d%e?f`)).toBe(`'a''b\\\\c"d%e?f'`);
    expect(account("o'brien", "%")).toBe(`'o''brien'@'%'`);
  });
});

describe("parseGrants", () => {
  it("reads MariaDB's SHOW GRANTS, ignoring the password hash and USAGE", () => {
    const items = parseGrants(
      [
        "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*31AC65203D47A0C99B2BD585B8462E57F048713C'",
        "GRANT SELECT, INSERT ON `appdb`.* TO `app`@`%` WITH GRANT OPTION",
        "GRANT UPDATE (`note`, `id`) ON `appdb`.`orders` TO `app`@`%`",
        "GRANT `reader` TO `app`@`%`",
        "SET DEFAULT ROLE `reader` FOR `app`@`%`",
      ],
      "app",
      "%",
    );
    expect(items).toEqual([
      { kind: "privilege", object: "`appdb`.*", privilege: "SELECT" },
      { kind: "privilege", object: "`appdb`.*", privilege: "INSERT" },
      { kind: "privilege", object: "`appdb`.*", privilege: "GRANT OPTION" },
      { kind: "privilege", object: "`appdb`.`orders`", privilege: "UPDATE (`note`, `id`)" },
      { kind: "role", object: "", privilege: "`reader`", admin: false },
      { kind: "default-role", object: "", privilege: "`reader`" },
    ]);
    expect(JSON.stringify(items)).not.toContain("31AC65");
  });

  it("reads MySQL 8 dynamic privileges and roles with hosts, and MySQL 5.7 quoting", () => {
    expect(
      parseGrants(
        [
          "GRANT BACKUP_ADMIN,BINLOG_ADMIN ON *.* TO `app`@`10.0.%`",
          "GRANT `r1`@`%`,`r2`@`%` TO `app`@`10.0.%` WITH ADMIN OPTION",
        ],
        "app",
        "10.0.%",
      ),
    ).toEqual([
      { kind: "privilege", object: "*.*", privilege: "BACKUP_ADMIN" },
      { kind: "privilege", object: "*.*", privilege: "BINLOG_ADMIN" },
      { kind: "role", object: "", privilege: "`r1`@`%`", admin: true },
      { kind: "role", object: "", privilege: "`r2`@`%`", admin: true },
    ]);
    expect(parseGrants(["GRANT SELECT ON `db`.* TO 'app'@'%' REQUIRE SSL"], "app", "%")).toEqual([
      { kind: "privilege", object: "`db`.*", privilege: "SELECT" },
    ]);
  });

  it("refuses lines it cannot copy instead of skipping them, without quoting them", () => {
    const hash = "IDENTIFIED BY PASSWORD '*31AC65203D47A0C99B2BD585B8462E57F048713C'";
    // ANSI_QUOTES spelling, a MySQL 8 partial revoke, another account, an unknown statement.
    for (const line of [
      `GRANT SELECT ON "db".* TO "app"@"%" ${hash}`,
      "REVOKE SELECT ON `mysql`.* FROM `app`@`%`",
      `GRANT SELECT ON \`db\`.* TO \`other\`@\`%\` ${hash}`,
      "SET DEFAULT ROLE `r` FOR `other`@`%`",
      `CREATE USER \`app\`@\`%\` ${hash}`,
    ]) {
      const attempt = () => parseGrants([line], "app", "%");
      expect(attempt, line).toThrow(TargetError);
      expect(attempt, line).toThrow(/SHOW GRANTS for 'app'@'%' returned .* that Vigil cannot copy/);
      expect(attempt, line).not.toThrow(/31AC65|mysql/);
    }
  });

  it("finds awkward account names and objects containing ' ON ' and ' TO '", () => {
    expect(
      parseGrants(["GRANT SELECT ON `x ON y`.`a TO b` TO `o'b r\\x``t`@`%`"], "o'b r\\x`t", "%"),
    ).toEqual([{ kind: "privilege", object: "`x ON y`.`a TO b`", privilege: "SELECT" }]);
  });
});

describe("grantSyncStatements", () => {
  const grantee = account("app_clone", "%");
  const source = parseGrants(
    ["GRANT SELECT, DELETE ON `appdb`.* TO `app`@`%` WITH GRANT OPTION", "GRANT `reader` TO `app`@`%`"],
    "app",
    "%",
  );

  it("grants what the target lacks, on the source's host spelled once (no % doubling)", () => {
    expect(grantSyncStatements(source, [], grantee)).toEqual([
      "GRANT SELECT, DELETE ON `appdb`.* TO 'app_clone'@'%' WITH GRANT OPTION",
      "GRANT `reader` TO 'app_clone'@'%'",
    ]);
  });

  it("revokes what the source no longer has, before granting", () => {
    const target = parseGrants(
      [
        "GRANT SELECT, INSERT ON `appdb`.* TO `app_clone`@`%`",
        "GRANT ALL PRIVILEGES ON `other`.* TO `app_clone`@`%`",
        "GRANT `writer` TO `app_clone`@`%`",
      ],
      "app_clone",
      "%",
    );
    expect(grantSyncStatements(source, target, grantee)).toEqual([
      "REVOKE INSERT ON `appdb`.* FROM 'app_clone'@'%'",
      "REVOKE ALL PRIVILEGES ON `other`.* FROM 'app_clone'@'%'",
      "REVOKE `writer` FROM 'app_clone'@'%'",
      "GRANT DELETE ON `appdb`.* TO 'app_clone'@'%' WITH GRANT OPTION",
      "GRANT `reader` TO 'app_clone'@'%'",
    ]);
  });

  it("clears a default role the source no longer has before granting the new one (MariaDB)", () => {
    const target = parseGrants(
      ["GRANT `old` TO `app_clone`@`%`", "SET DEFAULT ROLE `old` FOR `app_clone`@`%`"],
      "app_clone",
      "%",
    );
    expect(grantSyncStatements([], target, grantee)).toEqual([
      "REVOKE `old` FROM 'app_clone'@'%'",
      "SET DEFAULT ROLE NONE FOR 'app_clone'@'%'",
    ]);
    const withDefault = parseGrants(
      ["GRANT `new` TO `app`@`%`", "SET DEFAULT ROLE `new` FOR `app`@`%`"],
      "app",
      "%",
    );
    expect(grantSyncStatements(withDefault, target, grantee)).toEqual([
      "REVOKE `old` FROM 'app_clone'@'%'",
      "SET DEFAULT ROLE NONE FOR 'app_clone'@'%'",
      "GRANT `new` TO 'app_clone'@'%'",
      "SET DEFAULT ROLE `new` FOR 'app_clone'@'%'",
    ]);
  });

  it("does nothing when the grants already match", () => {
    const same = parseGrants(
      [
        "GRANT SELECT, DELETE ON `appdb`.* TO `app_clone`@`%` WITH GRANT OPTION",
        "GRANT `reader` TO `app_clone`@`%`",
      ],
      "app_clone",
      "%",
    );
    expect(grantSyncStatements(source, same, grantee)).toEqual([]);
  });
});

describe("requireClause", () => {
  it("spells each mysql.user TLS requirement as a REQUIRE clause, quoting X.509 names", () => {
    expect(requireClause({ type: "" })).toBe("REQUIRE NONE");
    expect(requireClause({ type: "ANY", cipher: Buffer.alloc(0) })).toBe("REQUIRE SSL");
    expect(requireClause({ type: "X509" })).toBe("REQUIRE X509");
    expect(
      requireClause({
        type: "SPECIFIED",
        issuer: Buffer.from("/CN=O'Brien CA"),
        subject: "/CN=app\\ops",
        cipher: Buffer.alloc(0),
      }),
    ).toBe("REQUIRE ISSUER '/CN=O''Brien CA' AND SUBJECT '/CN=app\\\\ops'");
  });
});

describe("defaultRoleStatement (MySQL 8 mysql.default_roles)", () => {
  const grantee = account("app_clone", "%");

  it("sets the source's default roles on the target, or clears them, only when they differ", () => {
    const reader = account("reader", "%");
    const writer = account("writer", "%");
    expect(defaultRoleStatement([writer, reader], [], grantee)).toEqual([
      "SET DEFAULT ROLE 'reader'@'%', 'writer'@'%' TO 'app_clone'@'%'",
    ]);
    expect(defaultRoleStatement([], [reader], grantee)).toEqual(["SET DEFAULT ROLE NONE TO 'app_clone'@'%'"]);
    expect(defaultRoleStatement([reader, writer], [writer, reader], grantee)).toEqual([]);
  });
});

describe("adminLevelGrants", () => {
  it("finds global privileges, the mysql schema, PROXY and roles held WITH ADMIN OPTION", () => {
    // Arrange
    const items = parseGrants(
      [
        "GRANT SELECT, RELOAD ON *.* TO `u`@`%`",
        "GRANT INSERT ON `mysql`.`global_priv` TO `u`@`%`",
        "GRANT PROXY ON ''@'%' TO `u`@`%`",
        "GRANT `dba` TO `u`@`%` WITH ADMIN OPTION",
        "GRANT `reader` TO `u`@`%`",
        "GRANT SELECT, INSERT ON `appdb`.* TO `u`@`%` WITH GRANT OPTION",
        "GRANT UPDATE (`note`) ON `appdb`.`orders` TO `u`@`%`",
      ],
      "u",
      "%",
    );

    // Act
    const found = adminLevelGrants(items);

    // Assert
    expect(found).toEqual([
      "SELECT ON *.*",
      "RELOAD ON *.*",
      "INSERT ON `mysql`.`global_priv`",
      "PROXY ON ''@'%'",
      "`dba` WITH ADMIN OPTION",
    ]);
  });

  it("finds nothing in an application's schema and table grants", () => {
    const items = parseGrants(
      ["GRANT USAGE ON *.* TO `u`@`%`", "GRANT ALL PRIVILEGES ON `appdb`.* TO `u`@`%` WITH GRANT OPTION"],
      "u",
      "%",
    );
    expect(adminLevelGrants(items)).toEqual([]);
  });
});
