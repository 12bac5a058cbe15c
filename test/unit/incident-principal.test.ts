import { describe, expect, it } from "vitest";
import { IncidentInputError } from "../../incident/errors.ts";
import { checkDenyTarget, parseDenyPrincipal, roleOfSession } from "../../incident/principal.ts";

describe("parseDenyPrincipal", () => {
  it.each([
    ["arn:aws:iam::123456789012:user/build-bot", "user"],
    ["arn:aws:iam::123456789012:user/ci/deploy/build-bot", "user"],
    ["arn:aws:iam::123456789012:role/trading-app", "role"],
    ["arn:aws-us-gov:iam::123456789012:role/service-role/app+x=y,z.a@b-c", "role"],
    ["arn:aws:iam::210987654321:root", "root"],
    ["arn:aws-cn:sts::123456789012:assumed-role/trading-app/task-1", "assumed-role"],
  ])("accepts %s as a %s", (arn, kind) => {
    expect(parseDenyPrincipal(arn)).toEqual({ arn, account: arn.split(":")[4], kind });
  });

  it.each([
    "*",
    "arn:aws:iam::123456789012:role/*",
    "arn:aws:iam::12345678901:role/app",
    "arn:aws:iam::123456789012:group/admins",
    "arn:aws:s3:::bucket",
    "arn:aws:iam:us-east-1:123456789012:role/app",
    "arn:aws:sts::123456789012:assumed-role/app",
    "arn:aws:iam::123456789012:role/",
    "role/trading-app",
    "",
  ])("refuses %j with one line naming --deny and the accepted forms", (text) => {
    expect(() => parseDenyPrincipal(text)).toThrow(IncidentInputError);
    expect(() => parseDenyPrincipal(text)).toThrow(
      /^--deny: expected an IAM user, role or account ARN .* got "/,
    );
  });
});

describe("roleOfSession", () => {
  it("gives the role behind an assumed-role session and nothing for other ARNs", () => {
    expect(roleOfSession("arn:aws:sts::123456789012:assumed-role/responder/alice")).toBe(
      "arn:aws:iam::123456789012:role/responder",
    );
    expect(roleOfSession("arn:aws:iam::123456789012:user/alice")).toBeUndefined();
  });
});

describe("checkDenyTarget", () => {
  const context = {
    callerArn: "arn:aws:sts::123456789012:assumed-role/responder/alice",
    secretAccount: "123456789012",
  };

  it("refuses to deny the caller's own role or session, which would lock it out of the undo", () => {
    for (const arn of [
      "arn:aws:iam::123456789012:role/responder",
      "arn:aws:sts::123456789012:assumed-role/responder/alice",
      "arn:aws:sts::123456789012:assumed-role/responder/bob",
    ]) {
      expect(() => checkDenyTarget(parseDenyPrincipal(arn), context)).toThrow(
        /is the identity running this command/,
      );
    }
  });

  it("refuses the secret's own account root, which would deny everyone in it", () => {
    expect(() => checkDenyTarget(parseDenyPrincipal("arn:aws:iam::123456789012:root"), context)).toThrow(
      /every principal in it/,
    );
  });

  it("allows another principal of the account and a foreign account", () => {
    expect(() =>
      checkDenyTarget(parseDenyPrincipal("arn:aws:iam::123456789012:user/build-bot"), context),
    ).not.toThrow();
    expect(() =>
      checkDenyTarget(parseDenyPrincipal("arn:aws:iam::210987654321:root"), context),
    ).not.toThrow();
  });
});
