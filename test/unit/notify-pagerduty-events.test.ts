import { afterEach, describe, expect, it } from "vitest";
import { groupQueueItems } from "../../functions/notify/grouping.ts";
import {
  alertSummary,
  buildChangeEvent,
  buildResolveEvent,
  buildTriggerEvent,
  dedupKeyFor,
  MAX_DEDUP_KEY_CHARS,
  MAX_EVENT_BYTES,
  MAX_SUMMARY_CHARS,
  withRoutingKey,
} from "../../functions/notify/pagerduty-events.ts";
import type { Finding } from "../../lib/finding.ts";
import { clearRegisteredSecrets, REDACTED, registerSecret } from "../../lib/redaction.ts";
import { makeFinding, makeRotation, SECRET_ARN } from "../helpers/notify-fixtures.ts";

const groupOf = (...findings: Finding[]) =>
  groupQueueItems(findings.map((message, index) => ({ messageId: `m${index}`, message })))[0]!;
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe("dedupKeyFor", () => {
  it("is stable, distinct per group and within PagerDuty's 255 characters for any group key", () => {
    const long = "g".repeat(10_000);

    expect(dedupKeyFor("a")).toBe(dedupKeyFor("a"));
    expect(dedupKeyFor("a")).not.toBe(dedupKeyFor("b"));
    expect(dedupKeyFor(long).length).toBeLessThanOrEqual(MAX_DEDUP_KEY_CHARS);
  });
});

describe("alertSummary", () => {
  it("keeps a long summary within 1024 characters on one line, with the count kept", () => {
    const summary = alertSummary("Bulk retrieval", `line one\nline two ${"x".repeat(5_000)}`, 10_000);

    expect(summary.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
    expect(summary).not.toMatch(/\n/);
    expect(summary.startsWith("Bulk retrieval: line one line two")).toBe(true);
    expect(summary.endsWith("… [10000 events]")).toBe(true);
  });
});

describe("buildTriggerEvent", () => {
  afterEach(() => clearRegisteredSecrets());

  it("describes the group: count, first and last seen, samples, links, PagerDuty severity", () => {
    const group = groupOf(
      makeFinding({
        severity: "critical",
        count: 2,
        eventIds: ["e1", "e2"],
        firstSeen: "2026-11-27T09:00:00Z",
      }),
      makeFinding({
        severity: "critical",
        eventIds: ["e3"],
        principal: "arn:aws:iam::111122223333:role/other",
      }),
    );

    const event = buildTriggerEvent(group);

    expect(event).toMatchObject({
      event_action: "trigger",
      dedup_key: dedupKeyFor(group.groupKey),
      client: "Vigil",
      payload: {
        severity: "critical",
        source: SECRET_ARN,
        component: "algo-trade/prod/ibkr",
        class: "unexpected-reader",
        group: "111122223333",
        timestamp: "2026-11-27T10:00:00Z",
        custom_details: {
          occurrences: 3,
          first_seen: "2026-11-27T09:00:00Z",
          last_seen: "2026-11-27T10:00:00Z",
          sample_event_ids: expect.arrayContaining(["e1", "e2", "e3"]),
          principal_count: 2,
          origins: ["203.0.113.10"],
          runbook: "https://runbooks.example.com/vigil/unexpected-reader",
        },
      },
    });
    expect(event.links?.map((link) => link.text)).toEqual([
      "Runbook",
      "Latest CloudTrail event",
      "Secret in the console",
    ]);
    expect(event.links?.[1]?.href).toMatch(/^https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudtrailv2\//);
  });

  it("trims the finding's details, never the page, when the event would pass 512 KB", () => {
    const group = groupOf(makeFinding({ details: { blob: "x".repeat(2_000_000) } }));

    const event = buildTriggerEvent(group);

    expect(bytes(withRoutingKey(event, "k".repeat(32)))).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(event.payload?.custom_details).toMatchObject({ trimmed: "details", occurrences: 1 });
    expect(event.payload?.summary).toBe(alertSummary(group.latest!.title, group.latest!.summary, 1));
  });

  it("cuts long strings, and in the end keeps only the essentials, to stay within 512 KB", () => {
    const huge = "p".repeat(600_000);
    const group = groupOf(
      makeFinding({
        summary: huge,
        principal: huge,
        sourceIp: huge,
        runbook: `https://x.example/${huge}`,
        eventIds: [huge],
      }),
    );

    const event = buildTriggerEvent(group);

    expect(bytes(withRoutingKey(event, "k".repeat(32)))).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    expect(event.payload?.custom_details?.trimmed).toBeDefined();
    expect(event.payload?.summary.length).toBeLessThanOrEqual(MAX_SUMMARY_CHARS);
  });

  it("redacts registered secret values and secret-bearing fields", () => {
    registerSecret("hunter2-the-password");
    const group = groupOf(
      makeFinding({
        summary: "read returned hunter2-the-password",
        details: { requestParameters: { secretString: "anything", password: "p@ss-word-1" } },
      }),
    );

    const text = JSON.stringify(buildTriggerEvent(group));

    expect(text).not.toContain("hunter2-the-password");
    expect(text).not.toContain("p@ss-word-1");
    expect(text).toContain(REDACTED);
  });
  it("redacts before it truncates: a secret straddling the summary's limit leaves no prefix", () => {
    // Arrange: the limit falls inside a registered value and inside a URL's unregistered password.
    const secret = "Straddling-Secret-Value-42";
    registerSecret(secret);
    const title = "T";
    const padding = (before: number) => "x".repeat(MAX_SUMMARY_CHARS - `${title}: `.length - before);
    const registered = groupOf(makeFinding({ title, summary: `${padding(10)}${secret}` }));
    const url = groupOf(makeFinding({ title, summary: `${padding(30)}postgres://app:Unregistered9pw@db` }));

    // Act
    const summaries = [buildTriggerEvent(registered), buildTriggerEvent(url)].map(
      (event) => event.payload?.summary ?? "",
    );

    // Assert
    expect(summaries[0]).not.toContain("Strad");
    expect(summaries[1]).not.toContain("Unreg");
    expect(summaries.every((summary) => summary.length <= MAX_SUMMARY_CHARS)).toBe(true);
  });
});

describe("buildResolveEvent", () => {
  it("resolves the group's dedup key", () => {
    expect(buildResolveEvent("rotation:x")).toEqual({
      event_action: "resolve",
      dedup_key: dedupKeyFor("rotation:x"),
    });
  });
});

describe("buildChangeEvent", () => {
  it("records the rotation with the secret, version and strategy, and no event_action", () => {
    const event = buildChangeEvent(makeRotation());

    expect(event).toEqual({
      payload: {
        summary:
          "Secret rotated: algo-trade/prod/ibkr (ibkr), new version c0ffee00-0000-4000-8000-000000000001",
        timestamp: "2026-11-27T11:00:00Z",
        source: SECRET_ARN,
        custom_details: {
          secret_arn: SECRET_ARN,
          version_id: "c0ffee00-0000-4000-8000-000000000001",
          strategy: "ibkr",
          rotated_at: "2026-11-27T11:00:00Z",
        },
      },
      links: [
        {
          href: "https://us-east-1.console.aws.amazon.com/secretsmanager/secret?name=algo-trade%2Fprod%2Fibkr&region=us-east-1",
          text: "Secret in the console",
        },
      ],
    });
  });
});

describe("withRoutingKey", () => {
  it("adds the routing key after redaction would have blanked it", () => {
    expect(withRoutingKey(buildResolveEvent("g"), "KEY")).toMatchObject({ routing_key: "KEY" });
  });
});
