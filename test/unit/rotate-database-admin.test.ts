import { describe, expect, it } from "vitest";
import {
  ADMIN_BINDING_TAG,
  boundSecrets,
  isBoundTo,
  userPair,
} from "../../functions/rotate/strategies/database/admin.ts";

const ADMIN = { arn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-admin-AbCdEf" };
const TARGET = {
  arn: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/orders/db-XyZ123",
  name: "prod/orders/db",
};

describe("boundSecrets", () => {
  it("reads every binding tag's space-separated entries and ignores other tags", () => {
    // Arrange
    const tags = [
      { Key: ADMIN_BINDING_TAG, Value: "prod/orders/db  prod/billing/db" },
      { Key: `${ADMIN_BINDING_TAG}-2`, Value: TARGET.arn },
      { Key: "vigil:rotation-admin", Value: "true" },
      { Key: "owner", Value: "prod/other/db" },
    ];

    // Act
    const entries = boundSecrets(tags);

    // Assert
    expect(entries).toEqual(["prod/orders/db", "prod/billing/db", TARGET.arn]);
  });

  it("is empty without tags", () => {
    expect(boundSecrets(undefined)).toEqual([]);
  });
});

describe("isBoundTo", () => {
  it("matches the target's name or its full ARN", () => {
    expect(isBoundTo(["prod/orders/db"], ADMIN, TARGET)).toBe(true);
    expect(isBoundTo([TARGET.arn], ADMIN, TARGET)).toBe(true);
  });

  it("never matches a prefix, another name, or a partial ARN", () => {
    expect(isBoundTo(["prod/orders", "prod/orders/", "prod/orders/db2"], ADMIN, TARGET)).toBe(false);
    expect(isBoundTo([TARGET.arn.slice(0, -7)], ADMIN, TARGET)).toBe(false);
  });

  it("matches a name only in the admin secret's own account and region", () => {
    const elsewhere = { ...TARGET, arn: TARGET.arn.replace("111122223333", "444455556666") };
    const otherRegion = { ...TARGET, arn: TARGET.arn.replace("eu-west-1", "us-east-1") };
    expect(isBoundTo(["prod/orders/db"], ADMIN, elsewhere)).toBe(false);
    expect(isBoundTo(["prod/orders/db"], ADMIN, otherRegion)).toBe(false);
    expect(isBoundTo([elsewhere.arn], ADMIN, elsewhere)).toBe(true);
  });
});

describe("userPair", () => {
  it("names both users of an alternating pair from either of them", () => {
    expect(userPair("app")).toEqual(["app", "app_clone"]);
    expect(userPair("app_clone")).toEqual(["app", "app_clone"]);
    expect(userPair("app_clone_clone")).toEqual(["app_clone", "app_clone_clone"]);
  });
});
