import { describe, expect, it } from "vitest";
import { inferStrategyName } from "../../functions/rotate/registry.ts";

describe("inferStrategyName", () => {
  it("infers single-user and alternating database strategies and ibkr", () => {
    expect(inferStrategyName({ engine: "aurora-postgresql" })).toBe("postgres-single");
    expect(inferStrategyName({ engine: "mariadb", masterarn: "arn:..." })).toBe("mysql-alternating");
    expect(inferStrategyName({ username: "u", password: "p", account: "DU1", host: "h", port: 4002 })).toBe(
      "ibkr",
    );
  });

  it("explains what is missing", () => {
    expect(inferStrategyName({ username: "u" })).toBe(
      'it has no "engine" (database) and lacks IBKR fields password, account, host, port',
    );
  });
});
