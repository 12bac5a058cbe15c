import { describe, expect, it } from "vitest";
import {
  ibkrPasswordProblems,
  paperPortProblem,
  parseIbkrSecret,
} from "../../functions/rotate/strategies/ibkr/secret.ts";

describe("ibkrPasswordProblems", () => {
  it("accepts 6 to 40 characters with a letter and a digit", () => {
    expect(ibkrPasswordProblems("abc123")).toEqual([]);
    expect(ibkrPasswordProblems(`a1${"x".repeat(38)}`)).toEqual([]);
    expect(ibkrPasswordProblems("Tr4de!ng#Ops")).toEqual([]);
  });

  it("refuses passwords shorter than 6 or longer than 40 characters", () => {
    expect(ibkrPasswordProblems("ab12c")).toEqual(["must be 6–40 characters long (it has 5)"]);
    expect(ibkrPasswordProblems(`a1${"x".repeat(39)}`)).toEqual(["must be 6–40 characters long (it has 41)"]);
  });

  it("requires at least one letter and one digit", () => {
    expect(ibkrPasswordProblems("12345678")).toEqual(["must contain at least one letter"]);
    expect(ibkrPasswordProblems("abcdefgh")).toEqual(["must contain at least one digit"]);
  });

  it("refuses spaces and control characters", () => {
    expect(ibkrPasswordProblems("abc 1234")).toEqual(["must not contain spaces or control characters"]);
    expect(ibkrPasswordProblems("abc\t1234")).toEqual(["must not contain spaces or control characters"]);
  });

  it("never repeats the password in what it reports", () => {
    const password = "n0t a-valid password that is far too long to be accepted";

    expect(ibkrPasswordProblems(password).join(" ")).not.toContain("valid password");
  });
});

describe("paperPortProblem", () => {
  it("refuses paper: true on a live port", () => {
    expect(paperPortProblem({ paper: true, port: 4001 })).toMatch(
      /paper: true but port 4001 is the standard IB Gateway \(live\) port/,
    );
    expect(paperPortProblem({ paper: true, port: 7496 })).toMatch(/TWS \(live\)/);
  });

  it("refuses paper: false on a paper port", () => {
    expect(paperPortProblem({ paper: false, port: 4002 })).toMatch(/paper: false but port 4002/);
    expect(paperPortProblem({ paper: false, port: 7497 })).toMatch(/TWS \(paper\)/);
  });

  it("accepts matching, non-standard, or undeclared ports", () => {
    expect(paperPortProblem({ paper: true, port: 4002 })).toBeUndefined();
    expect(paperPortProblem({ paper: false, port: 4001 })).toBeUndefined();
    expect(paperPortProblem({ paper: true, port: 14002 })).toBeUndefined();
    expect(paperPortProblem({ port: 4001 })).toBeUndefined();
  });
});

describe("parseIbkrSecret", () => {
  it("accepts the application's secret and keeps unknown fields", () => {
    const secret = {
      username: "trader1",
      password: "abc123",
      account: "DU1234567",
      host: "ib-gateway.internal",
      port: 4002,
      paper: true,
      client_id: 1,
      extra: "kept",
    };

    expect(parseIbkrSecret(secret)).toEqual({ ok: true, secret });
  });

  it("names each missing or wrong field without echoing values", () => {
    const result = parseIbkrSecret({ username: "trader1", password: "s3cretvalue", host: "h", port: "4002" });

    expect(result.ok).toBe(false);
    const problems = (result as { problems: string[] }).problems.join("; ");
    expect(problems).toMatch(/account/);
    expect(problems).toMatch(/port/);
    expect(problems).not.toContain("s3cretvalue");
  });
});
