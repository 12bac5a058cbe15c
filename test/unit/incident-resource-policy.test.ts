import { describe, expect, it } from "vitest";
import { IncidentError } from "../../incident/errors.ts";
import {
  DENY_SID_PREFIX,
  deniedPrincipals,
  denySid,
  mergeDenyStatements,
  undoCommand,
  withoutDenyStatements,
} from "../../incident/resource-policy.ts";

const INTRUDER = "arn:aws:iam::111122223333:user/build-bot";
const OTHER = "arn:aws:iam::210987654321:root";
const existing = JSON.stringify({
  Version: "2012-10-17",
  Statement: {
    Sid: "AppReads",
    Effect: "Allow",
    Principal: { AWS: "arn:aws:iam::111122223333:role/trading-app" },
    Action: "secretsmanager:GetSecretValue",
    Resource: "*",
  },
});

describe("denySid", () => {
  it("is stable per principal, alphanumeric, and differs between principals", () => {
    expect(denySid(INTRUDER)).toBe(denySid(INTRUDER));
    expect(denySid(INTRUDER)).toMatch(new RegExp(`^${DENY_SID_PREFIX}[0-9a-f]{12}$`));
    expect(denySid(INTRUDER)).not.toBe(denySid(OTHER));
  });
});

describe("mergeDenyStatements", () => {
  it("keeps every existing statement and adds one Deny per principal", () => {
    const merged = mergeDenyStatements(existing, [INTRUDER, OTHER]);

    const document = JSON.parse(merged.policy);
    expect(document.Version).toBe("2012-10-17");
    expect(document.Statement).toEqual([
      JSON.parse(existing).Statement,
      {
        Sid: denySid(INTRUDER),
        Effect: "Deny",
        Principal: { AWS: INTRUDER },
        Action: "secretsmanager:*",
        Resource: "*",
      },
      {
        Sid: denySid(OTHER),
        Effect: "Deny",
        Principal: { AWS: OTHER },
        Action: "secretsmanager:*",
        Resource: "*",
      },
    ]);
    expect(merged.unchanged).toBe(false);
    expect(deniedPrincipals(merged.policy, [INTRUDER, OTHER])).toEqual([INTRUDER, OTHER]);
  });

  it("creates a policy when the secret has none", () => {
    const merged = mergeDenyStatements(undefined, [INTRUDER]);

    expect(JSON.parse(merged.policy)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: denySid(INTRUDER),
          Effect: "Deny",
          Principal: { AWS: INTRUDER },
          Action: "secretsmanager:*",
          Resource: "*",
        },
      ],
    });
  });

  it("changes nothing when run again", () => {
    const once = mergeDenyStatements(existing, [INTRUDER]).policy;

    const twice = mergeDenyStatements(once, [INTRUDER]);

    expect(twice.unchanged).toBe(true);
    expect(twice.policy).toBe(once);
  });

  it("refreshes an edited earlier statement where it stands", () => {
    const once = JSON.parse(mergeDenyStatements(existing, [INTRUDER]).policy);
    once.Statement[1].Action = "secretsmanager:GetSecretValue";
    once.Statement.push({
      Sid: "Later",
      Effect: "Allow",
      Principal: { AWS: OTHER },
      Action: "*",
      Resource: "*",
    });

    const merged = mergeDenyStatements(JSON.stringify(once), [INTRUDER]);

    const statements = JSON.parse(merged.policy).Statement;
    expect(statements.map((statement: { Sid: string }) => statement.Sid)).toEqual([
      "AppReads",
      denySid(INTRUDER),
      "Later",
    ]);
    expect(statements[1].Action).toBe("secretsmanager:*");
    expect(merged.unchanged).toBe(false);
  });

  it.each([
    ["not JSON", "{not json", /is not JSON/],
    ["not an object", "[1]", /not a policy document/],
    ["a statement that is not an object", '{"Statement": ["x"]}', /Statement that is not an object/],
  ])("refuses a policy that is %s, leaving it as it is", (_, policy, message) => {
    expect(() => mergeDenyStatements(policy, [INTRUDER])).toThrow(IncidentError);
    expect(() => mergeDenyStatements(policy, [INTRUDER])).toThrow(message);
  });
});

describe("withoutDenyStatements", () => {
  it("gives the policy as it was before the deny, or none when it held only the deny", () => {
    expect(withoutDenyStatements(existing, [INTRUDER])).toBe(existing);
    expect(
      JSON.parse(withoutDenyStatements(mergeDenyStatements(existing, [INTRUDER]).policy, [INTRUDER])!),
    ).toEqual({
      ...JSON.parse(existing),
      Statement: [JSON.parse(existing).Statement],
    });
    expect(
      withoutDenyStatements(mergeDenyStatements(undefined, [INTRUDER]).policy, [INTRUDER]),
    ).toBeUndefined();
    expect(withoutDenyStatements(undefined, [INTRUDER])).toBeUndefined();
  });
});

describe("undoCommand", () => {
  const secretArn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/ledger-AbCdEf";

  it("puts the saved pre-incident policy back", () => {
    expect(
      undoCommand({
        secretArn,
        region: "us-east-1",
        savedPolicyPath: "/tmp/my evidence/pre-incident-policy.json",
      }),
    ).toBe(
      `aws secretsmanager --region us-east-1 put-resource-policy --secret-id ${secretArn} --resource-policy 'file:///tmp/my evidence/pre-incident-policy.json'`,
    );
  });

  it("deletes the policy when there was none", () => {
    expect(undoCommand({ secretArn, region: "us-east-1", savedPolicyPath: undefined })).toBe(
      `aws secretsmanager --region us-east-1 delete-resource-policy --secret-id ${secretArn}`,
    );
  });
});
