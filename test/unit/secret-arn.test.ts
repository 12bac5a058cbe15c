import { describe, expect, it } from "vitest";
import { secretNameOf, secretNameOfFullArn } from "../../lib/secret-arn.ts";

const CANONICAL = "arn:aws:secretsmanager:us-east-1:111122223333:secret:algo-trade/prod/db-backup";

describe("secretNameOf", () => {
  it("returns the name of a canonical ARN, keeping a name that ends in six characters after a dash", () => {
    expect(secretNameOf(CANONICAL)).toBe("algo-trade/prod/db-backup");
  });

  it("returns a plain name unchanged", () => {
    expect(secretNameOf("algo-trade/prod/ibkr")).toBe("algo-trade/prod/ibkr");
  });
});

describe("secretNameOfFullArn", () => {
  it("drops the six random characters Secrets Manager appends to a full ARN", () => {
    expect(secretNameOfFullArn(`${CANONICAL}-AbC123`)).toBe("algo-trade/prod/db-backup");
  });

  it("keeps a name with colons after the secret marker", () => {
    expect(
      secretNameOfFullArn("arn:aws:secretsmanager:eu-west-1:111122223333:secret:team:app/db-x1Y2z3"),
    ).toBe("team:app/db");
  });

  it("returns something that is not an ARN unchanged", () => {
    expect(secretNameOfFullArn("algo-trade/prod/db-backup")).toBe("algo-trade/prod/db-backup");
  });
});
