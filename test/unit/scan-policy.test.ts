import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PolicyError } from "../../functions/audit-scan/errors.ts";
import {
  defaultPolicy,
  inBusinessHours,
  ipInCidrs,
  isSuppressed,
  principalMatches,
  secretPolicyFor,
} from "../../functions/audit-scan/policy.ts";
import { loadPolicy, readPolicyFile } from "../../functions/audit-scan/policy-file.ts";

const ISSUE_EXAMPLE = `version: 1
learningDays: 14
rotationRoles: [arn:aws:iam::123456789012:role/vigil-prod-rotate]
businessHours: { timezone: America/New_York, days: [mon, tue, wed, thu, fri], from: "07:00", to: "19:00" }
secrets:
  - match: algo-trade/production/*
    sensitivity: critical
    readers: [arn:aws:iam::123456789012:role/trading-app]
    writers: []
    origins: { vpcEndpoints: [vpce-0a1b2c3d4e5f67890], cidrs: [10.0.0.0/8] }
    maxRotationDays: 90
  - match: algo-trade/canary/*
    canary: true
suppressions:
  - { rule: first-seen-reader, principal: arn:aws:iam::123456789012:role/backup, until: 2027-01-31, reason: quarterly backup }
`;
const ARN = (name: string) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}`;

describe("loadPolicy", () => {
  it("accepts the documented example and applies defaults", () => {
    const policy = loadPolicy(ISSUE_EXAMPLE, "policy.yaml");

    expect(policy.learningDays).toBe(14);
    expect(policy.secrets).toHaveLength(2);
    expect(policy.suppressions[0]?.until).toBe("2027-01-31");
  });

  it("loads the annotated policy.example.yaml at the repository root", () => {
    const text = readFileSync(new URL("../../policy.example.yaml", import.meta.url), "utf8");

    expect(() => loadPolicy(text, "policy.example.yaml")).not.toThrow();
  });

  it("rejects unknown keys with their path", () => {
    const text = "version: 1\nlearningdays: 3\nsecrets:\n  - match: x\n    sensitivty: high\n";

    expect(() => loadPolicy(text, "p.yaml")).toThrow(
      "p.yaml: secrets[0].sensitivty: unknown key; learningdays: unknown key",
    );
  });

  it("rejects wrong types with the path, what was expected and what was given", () => {
    expect(() => loadPolicy("version: 1\nlearningDays: ten\n", "p.yaml")).toThrow(
      'p.yaml: learningDays: expected number, got string "ten"',
    );
    expect(() =>
      loadPolicy("version: 1\nsecrets:\n  - match: x\n    sensitivity: extreme\n", "p.yaml"),
    ).toThrow("p.yaml: secrets[0].sensitivity: expected one of critical, high, normal");
  });

  it("rejects malformed CIDRs, endpoints, times and zones", () => {
    const text =
      "version: 1\nbusinessHours: {timezone: Mars/Base, days: [mon], from: '7:00', to: '19:00'}\nsecrets:\n  - match: x\n    origins: {cidrs: [10.0.0.0/33], vpcEndpoints: [abc]}\n";

    const error = (() => {
      try {
        loadPolicy(text, "p.yaml");
      } catch (caught) {
        return caught as Error;
      }
    })();

    expect(error).toBeInstanceOf(PolicyError);
    expect(error?.message).toContain("businessHours.timezone: expected an IANA time zone");
    expect(error?.message).toContain('businessHours.from: expected a 24-hour time "HH:MM"');
    expect(error?.message).toContain("secrets[0].origins.cidrs[0]: expected a CIDR");
    expect(error?.message).toContain("secrets[0].origins.vpcEndpoints[0]: expected a VPC endpoint id");
  });

  it("says so when the file is empty, not YAML, or not a mapping", () => {
    expect(() => loadPolicy("", "p.yaml")).toThrow("p.yaml: the policy file is empty");
    expect(() => loadPolicy("[1,", "p.yaml")).toThrow(/^p\.yaml: not valid YAML: /);
    expect(() => loadPolicy("- a\n", "p.yaml")).toThrow(
      "p.yaml: (top level): expected a mapping, got a list",
    );
  });

  it("requires version 1", () => {
    expect(() => loadPolicy("version: 2\n", "p.yaml")).toThrow("p.yaml: version: expected one of 1");
  });
});

describe("readPolicyFile", () => {
  it("gives the built-in defaults without a path, and reads the annotated example", async () => {
    expect(await readPolicyFile(undefined)).toEqual(defaultPolicy());
    const example = new URL("../../policy.example.yaml", import.meta.url).pathname;
    expect((await readPolicyFile(example)).source).toBe(example);
  });

  it("names a missing file and where to start from", async () => {
    const read = readPolicyFile("/nonexistent/policy.yaml");

    await expect(read).rejects.toThrow(PolicyError);
    await expect(read).rejects.toThrow(
      "--policy: no such file: /nonexistent/policy.yaml (start from policy.example.yaml; docs/policy.md)",
    );
  });
});

describe("secretPolicyFor", () => {
  it("takes the first entry whose name glob matches", () => {
    const policy = loadPolicy(
      "version: 1\nsecrets:\n  - match: algo-trade/production/*\n    sensitivity: critical\n  - match: algo-trade/*\n    sensitivity: high\n",
      "p.yaml",
    );

    expect(secretPolicyFor(policy, ARN("algo-trade/production/ibkr")).sensitivity).toBe("critical");
    expect(secretPolicyFor(policy, ARN("algo-trade/staging/ibkr")).sensitivity).toBe("high");
    expect(secretPolicyFor(policy, ARN("other")).match).toBeUndefined();
  });

  it("matches a full ARN entry with or without the random suffix", () => {
    const policy = loadPolicy(
      `version: 1\nsecrets:\n  - match: "${ARN("db/app")}-Ab12Cd"\n    sensitivity: high\n`,
      "p.yaml",
    );

    expect(secretPolicyFor(policy, ARN("db/app")).sensitivity).toBe("high");
  });

  it("defaults to normal sensitivity, no allow-lists and 90 days", () => {
    expect(secretPolicyFor(defaultPolicy(), ARN("x"))).toEqual({
      sensitivity: "normal",
      writers: [],
      maxRotationDays: 90,
      canary: false,
    });
  });

  it("treats a canary as critical", () => {
    const policy = loadPolicy(ISSUE_EXAMPLE, "p.yaml");

    expect(secretPolicyFor(policy, ARN("algo-trade/canary/x"))).toMatchObject({
      canary: true,
      sensitivity: "critical",
    });
  });
});

describe("principalMatches", () => {
  it("matches exact ARNs and globs", () => {
    expect(principalMatches(["arn:aws:iam::1:role/app-*"], "arn:aws:iam::1:role/app-blue")).toBe(true);
    expect(principalMatches(["arn:aws:iam::1:role/app"], "arn:aws:iam::1:role/app2")).toBe(false);
  });
});

describe("isSuppressed", () => {
  it("suppresses through the whole `until` day and not after", () => {
    const policy = loadPolicy(ISSUE_EXAMPLE, "p.yaml");
    const finding = { rule: "first-seen-reader", principal: "arn:aws:iam::123456789012:role/backup" };

    expect(isSuppressed(policy, { ...finding, atMs: Date.parse("2027-01-31T23:00:00Z") })).toBe(true);
    expect(isSuppressed(policy, { ...finding, atMs: Date.parse("2027-02-01T00:00:01Z") })).toBe(false);
    expect(isSuppressed(policy, { ...finding, rule: "other", atMs: 0 })).toBe(false);
  });
});

describe("ipInCidrs", () => {
  it("matches IPv4 and IPv6 ranges and nothing else", () => {
    expect(ipInCidrs("10.1.2.3", ["10.0.0.0/8"])).toBe(true);
    expect(ipInCidrs("11.1.2.3", ["10.0.0.0/8"])).toBe(false);
    expect(ipInCidrs("2001:db8::1", ["2001:db8::/32"])).toBe(true);
    expect(ipInCidrs("secretsmanager.amazonaws.com", ["10.0.0.0/8"])).toBe(false);
  });
});

describe("inBusinessHours", () => {
  it("reads the clock in the policy's time zone", () => {
    const policy = loadPolicy(ISSUE_EXAMPLE, "p.yaml");

    // Wednesday 2026-11-25 13:00 UTC is 08:00 in New York; 03:00 UTC is 22:00 the day before.
    expect(inBusinessHours(policy, Date.parse("2026-11-25T13:00:00Z"))).toBe(true);
    expect(inBusinessHours(policy, Date.parse("2026-11-25T03:00:00Z"))).toBe(false);
    expect(inBusinessHours(policy, Date.parse("2026-11-28T15:00:00Z"))).toBe(false);
  });
});
