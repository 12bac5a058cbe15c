import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ruleContext } from "../../functions/audit-scan/engine.ts";
import { normaliseRecord } from "../../functions/audit-scan/normalise.ts";
import { defaultPolicy } from "../../functions/audit-scan/policy.ts";
import { loadPolicy } from "../../functions/audit-scan/policy-file.ts";
import { RULES, ruleDispatch } from "../../functions/audit-scan/registry.ts";
import type { Rule } from "../../functions/audit-scan/rule.ts";
import { ATTACKS, BENIGN, baseline, POLICY } from "./scenarios/stories.ts";
import { generatedRecord, SECRETS_HEAVY_MIX } from "./scenarios/trail-generator.ts";

const SAMPLE = JSON.parse(
  readFileSync(new URL("./scenarios/fixtures/cloudtrail-secretsmanager.json", import.meta.url), "utf8"),
) as { Records: unknown[] };

/** Every kind of record the suite knows: the sample of each kind, the stories, generated traffic. */
function knownEvents() {
  const start = Date.parse("2026-11-01T00:00:00Z");
  const raw = [
    ...SAMPLE.Records,
    ...baseline(),
    ...[...ATTACKS, ...BENIGN].flatMap((story) => story.records),
    ...Array.from({ length: 200 }, (_, i) => generatedRecord(i, SECRETS_HEAVY_MIX, start)),
  ];
  return raw.flatMap((record) => {
    const normalised = normaliseRecord(record);
    return normalised.ok ? [normalised.event] : [];
  });
}

const rule = (id: string, events: Rule["events"]): Rule => ({
  id,
  severity: "low",
  description: id,
  runbook: id,
  falsePositives: id,
  events,
  evaluate: () => [],
});

describe("ruleDispatch", () => {
  it("gives an event the rules naming it or its whole service, in catalogue order", () => {
    const deleted = rule("deleted", { secretsmanager: ["DeleteSecret"] });
    const everySecretCall = rule("every-secret-call", { secretsmanager: "*" });
    const keys = rule("keys", { kms: ["DisableKey"] });
    const rulesFor = ruleDispatch([deleted, everySecretCall, keys]);

    expect(rulesFor("secretsmanager", "DeleteSecret")).toEqual([deleted, everySecretCall]);
    expect(rulesFor("secretsmanager", "GetSecretValue")).toEqual([everySecretCall]);
    expect(rulesFor("kms", "DisableKey")).toEqual([keys]);
    expect(rulesFor("kms", "Decrypt")).toEqual([]);
    expect(rulesFor("cloudtrail", "StopLogging")).toEqual([]);
    expect(rulesFor("s3", "GetObject")).toEqual([]);
  });

  it("does not take an event name for an inherited property (constructor, toString)", () => {
    const rulesFor = ruleDispatch([rule("keys", { kms: ["DisableKey"] })]);

    expect(rulesFor("kms", "constructor")).toEqual([]);
    expect(rulesFor("kms", "toString")).toEqual([]);
  });
});

describe("the catalogue's subscriptions", () => {
  const events = knownEvents();

  it.each(RULES.map((entry) => [entry.id, entry] as const))(
    "%s subscribes to every known event it raises a signal on",
    (_, entry) => {
      const rulesFor = ruleDispatch(RULES);
      for (const policy of [defaultPolicy(), loadPolicy(POLICY, "scenario policy")]) {
        const context = ruleContext(policy);
        const missed = events
          .filter((event) => entry.evaluate(event, context).length > 0)
          .filter((event) => !rulesFor(event.service, event.eventName).includes(entry))
          .map((event) => `${event.service}:${event.eventName}`);
        expect(missed).toEqual([]);
      }
    },
  );

  it("has every rule raise a signal on some known event (so the check above is not vacuous)", () => {
    const context = ruleContext(loadPolicy(POLICY, "scenario policy"));
    const firing = new Set(
      RULES.filter((entry) => events.some((event) => entry.evaluate(event, context).length > 0)).map(
        (entry) => entry.id,
      ),
    );

    expect([...firing].sort()).toEqual(RULES.map((entry) => entry.id).sort());
  });
});
