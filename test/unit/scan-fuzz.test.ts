import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScanner } from "../../functions/audit-scan/engine.ts";
import { forgetRemembered, normaliseRecord } from "../../functions/audit-scan/normalise.ts";
import { defaultPolicy } from "../../functions/audit-scan/policy.ts";
import { loadPolicy } from "../../functions/audit-scan/policy-file.ts";
import { MemoryScanState } from "../../functions/audit-scan/state.ts";
import { findingSchema } from "../../lib/finding.ts";
import { ATTACKS, BENIGN, POLICY } from "./scenarios/stories.ts";

const valid = [...ATTACKS, ...BENIGN].flatMap((story) => story.records);

/** A valid record with one field (at any depth) replaced by an arbitrary JSON value or removed. */
const mutated = fc
  .tuple(
    fc.constantFrom(...valid),
    fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    fc.option(fc.jsonValue()),
  )
  .map(([record, path, value]) => {
    const copy = structuredClone(record) as Record<string, unknown>;
    let node: Record<string, unknown> = copy;
    for (let depth = 0; depth < path.length; depth++) {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const key = keys[(path[depth] as number) % keys.length] as string;
      const child = node[key];
      if (depth === path.length - 1 || typeof child !== "object" || child === null || Array.isArray(child)) {
        if (value === null) delete node[key];
        else node[key] = value;
        break;
      }
      node = child as Record<string, unknown>;
    }
    return copy;
  });

const anything = fc.oneof(fc.jsonValue(), fc.string(), mutated, mutated, mutated);

describe("normaliseRecord", () => {
  it("never throws: a record is an event, another service's, or malformed with a reason", () => {
    fc.assert(
      fc.property(anything, (raw) => {
        const result = normaliseRecord(raw);
        if (!result.ok && !result.ignored) expect(result.reason).toMatch(/\S/);
      }),
      { numRuns: 2_000 },
    );
  }, 120_000);

  it("gives each event the origin its own record names, whatever records came before (origins are shared)", () => {
    const textOf = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
    const origin = fc.record({
      sourceIPAddress: fc.constantFrom(undefined, "", "10.0.0.1", "203.0.113.9", "s3.amazonaws.com"),
      userAgent: fc.constantFrom(undefined, "aws-cli/2", "Boto3/1.34"),
      vpcEndpointId: fc.constantFrom(undefined, "vpce-1", "vpce-2"),
      tlsDetails: fc.oneof(
        fc.constantFrom(undefined, null, "x"),
        fc.record({
          tlsVersion: fc.constantFrom(undefined, "TLSv1.2", "TLSv1.3"),
          cipherSuite: fc.constantFrom(undefined, "", "c1", "c2"),
          clientProvidedHostHeader: fc.constantFrom(undefined, "h1", "h2"),
        }),
      ),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(mutated, origin), { minLength: 1, maxLength: 8 }), (records) => {
        for (const [record, where] of records) {
          const raw = { ...record } as Record<string, unknown>;
          for (const [key, value] of Object.entries(where)) {
            if (value === undefined) delete raw[key];
            else raw[key] = value;
          }
          const result = normaliseRecord(raw);
          if (!result.ok) continue;
          const tls = (
            typeof raw.tlsDetails === "object" && raw.tlsDetails !== null ? raw.tlsDetails : {}
          ) as Record<string, unknown>;
          const expected = Object.fromEntries(
            Object.entries({
              sourceIp: textOf(raw.sourceIPAddress),
              vpcEndpointId: textOf(raw.vpcEndpointId),
              userAgent: textOf(raw.userAgent),
              tlsVersion: textOf(tls.tlsVersion),
              cipherSuite: textOf(tls.cipherSuite),
              host: textOf(tls.clientProvidedHostHeader),
            }).filter(([, value]) => value !== undefined),
          );
          expect(result.event.origin).toStrictEqual(expected);
        }
      }),
      { numRuns: 1_000 },
    );
  }, 120_000);
});

describe("normaliseRecord, remembering between records", () => {
  const identities = [...ATTACKS, ...BENIGN].flatMap((story) =>
    story.records.map((record) => (record as { userIdentity?: unknown }).userIdentity),
  );
  /** A valid or mutated record, sometimes with another record's identity, address or user agent. */
  const varied = fc
    .tuple(
      mutated,
      fc.option(fc.constantFrom(...identities)),
      fc.option(fc.constantFrom("10.0.0.1", "203.0.113.9", "s3.amazonaws.com", "AWS Internal")),
      fc.option(fc.constantFrom("aws-cli/2", "Mozilla/5.0", "console.amazonaws.com")),
      fc.option(fc.constantFrom("true", "false", true, "TRUE")),
      fc.option(
        fc.tuple(
          fc.constantFrom("accessKeyId", "principalId", "invokedBy", "type", "mfa", "issuer"),
          fc.constantFrom("ASIA1", "AROA1:s", "true", "Root", "AWSService", "arn:aws:iam::1:role/x"),
        ),
      ),
    )
    .map(([record, identity, sourceIp, userAgent, fromConsole, field]) => {
      const raw = { ...record } as Record<string, unknown>;
      if (identity !== null) raw.userIdentity = structuredClone(identity);
      if (field !== null && typeof raw.userIdentity === "object" && raw.userIdentity !== null) {
        // One field of the identity changed, the rest (its ARN) kept: what the remembering compares.
        const [name, value] = field;
        const changed = structuredClone(raw.userIdentity) as Record<string, unknown>;
        if (name === "mfa") changed.sessionContext = { attributes: { mfaAuthenticated: value } };
        else if (name === "issuer") changed.sessionContext = { sessionIssuer: { arn: value } };
        else changed[name] = value;
        raw.userIdentity = changed;
      }
      if (sourceIp !== null) raw.sourceIPAddress = sourceIp;
      if (userAgent !== null) raw.userAgent = userAgent;
      if (fromConsole !== null) raw.sessionCredentialFromConsole = fromConsole;
      return raw;
    });

  it("normalises each record as a fresh process would, whatever records came before", () => {
    fc.assert(
      fc.property(fc.array(varied, { minLength: 1, maxLength: 12 }), (records) => {
        const inTurn = records.map((record) => normaliseRecord(record));
        records.forEach((record, index) => {
          forgetRemembered();
          expect(inTurn[index]).toStrictEqual(normaliseRecord(record));
        });
      }),
      { numRuns: 1_000 },
    );
  }, 120_000);
});

describe("createScanner.scan", () => {
  it("never throws on malformed records, counts each one, and emits only valid findings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(anything, { maxLength: 40 }), fc.boolean(), async (records, withPolicy) => {
        const policy = withPolicy ? loadPolicy(POLICY, "p") : defaultPolicy();
        const scanner = createScanner({ policy, state: new MemoryScanState(), batchSize: 7 });

        const result = await scanner.scan(records);

        expect(result.processed).toBe(records.length);
        const malformed = records.filter((raw) => {
          const normalised = normaliseRecord(raw);
          return !normalised.ok && !normalised.ignored;
        }).length;
        expect(Object.values(result.skipped).reduce((a, b) => a + b, 0)).toBe(malformed);
        for (const finding of result.findings) expect(findingSchema.parse(finding)).toEqual(finding);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
