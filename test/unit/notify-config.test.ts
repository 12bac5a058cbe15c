import { describe, expect, it } from "vitest";
import {
  changeEventsUrlFor,
  DEFAULT_PAGERDUTY_EVENTS_URL,
  loadNotifierConfig,
} from "../../functions/notify/config.ts";
import { withRunbookLink } from "../../functions/notify/notify.ts";
import { ConfigError } from "../../lib/errors.ts";
import { makeFinding } from "../helpers/notify-fixtures.ts";

const required = {
  ALERTS_TOPIC_ARN: "arn:aws:sns:us-east-1:111122223333:vigil-dev-alerts",
  PAGERDUTY_ROUTING_KEY_SECRET_ID: "vigil/dev/pagerduty",
  STATE_TABLE_NAME: "vigil-dev-state",
};

describe("loadNotifierConfig", () => {
  it("needs only the topic, the routing-key secret and the state table, with PagerDuty's endpoints by default", () => {
    const config = loadNotifierConfig(required);

    expect(config).toMatchObject({
      alertsTopicArn: required.ALERTS_TOPIC_ARN,
      routingKeySecretId: "vigil/dev/pagerduty",
      stateTableName: "vigil-dev-state",
      lowUrgencyRoutingKeySecretId: undefined,
      pagerDutyEventsUrl: DEFAULT_PAGERDUTY_EVENTS_URL,
      pagerDutyChangeEventsUrl: "https://events.pagerduty.com/v2/change/enqueue",
      routingKeyCacheMs: 300_000,
    });
    expect([...config.routing.page]).toEqual(["critical", "high"]);
    expect([...config.routing.lowUrgency]).toEqual(["medium", "low"]);
    expect([...config.routing.sns]).toEqual(["critical", "high", "medium", "low", "info"]);
  });

  it("derives the change-events endpoint from a custom events endpoint", () => {
    const config = loadNotifierConfig({
      ...required,
      PAGERDUTY_EVENTS_URL: "http://127.0.0.1:4566/v2/enqueue",
    });

    expect(config.pagerDutyChangeEventsUrl).toBe("http://127.0.0.1:4566/v2/change/enqueue");
  });

  it("reads routing overrides", () => {
    const config = loadNotifierConfig({
      ...required,
      PAGE_SEVERITIES: "critical",
      LOW_URGENCY_SEVERITIES: "high,medium",
      SNS_SEVERITIES: "critical,high",
      PAGERDUTY_LOW_URGENCY_ROUTING_KEY_SECRET_ID: "vigil/dev/pagerduty-low",
    });

    expect([...config.routing.page]).toEqual(["critical"]);
    expect([...config.routing.lowUrgency]).toEqual(["high", "medium"]);
    expect([...config.routing.sns]).toEqual(["critical", "high"]);
    expect(config.lowUrgencyRoutingKeySecretId).toBe("vigil/dev/pagerduty-low");
  });

  it("names the variable and the accepted values for an unknown severity", () => {
    expect(() => loadNotifierConfig({ ...required, PAGE_SEVERITIES: "critical,urgent" })).toThrow(
      new ConfigError(
        "PAGE_SEVERITIES",
        'expected a comma-separated list of critical, high, medium, low, info, got "urgent"',
      ),
    );
  });

  it("fails at cold start without the topic, the routing-key secret or the state table", () => {
    const { ALERTS_TOPIC_ARN, PAGERDUTY_ROUTING_KEY_SECRET_ID, STATE_TABLE_NAME } = required;

    expect(() => loadNotifierConfig({ PAGERDUTY_ROUTING_KEY_SECRET_ID, STATE_TABLE_NAME })).toThrow(
      /ALERTS_TOPIC_ARN/,
    );
    expect(() => loadNotifierConfig({ ALERTS_TOPIC_ARN, STATE_TABLE_NAME })).toThrow(
      /PAGERDUTY_ROUTING_KEY_SECRET_ID/,
    );
    // Without it each container would keep its own memory, the fault the table exists to remove.
    expect(() => loadNotifierConfig({ ALERTS_TOPIC_ARN, PAGERDUTY_ROUTING_KEY_SECRET_ID })).toThrow(
      new ConfigError("STATE_TABLE_NAME", "is required but not set"),
    );
  });
});

describe("withRunbookLink", () => {
  const finding = makeFinding({ runbook: "docs/rotation.md#when-a-rotation-fails" });

  it("resolves a repository path against RUNBOOK_BASE_URL", () => {
    const base = loadNotifierConfig({
      ...required,
      RUNBOOK_BASE_URL: "https://git.example.com/vigil/blob/main",
    });
    expect(withRunbookLink(finding, base.runbookBaseUrl)).toMatchObject({
      runbook: "https://git.example.com/vigil/blob/main/docs/rotation.md#when-a-rotation-fails",
    });
  });

  it("leaves absolute URLs, plain-text instructions and unset bases alone", () => {
    const base = "https://git.example.com/vigil/";
    expect(withRunbookLink(makeFinding({ runbook: "https://wiki/x" }), base)).toMatchObject({
      runbook: "https://wiki/x",
    });
    expect(withRunbookLink(makeFinding({ runbook: "Call the DBA on duty" }), base)).toMatchObject({
      runbook: "Call the DBA on duty",
    });
    expect(withRunbookLink(finding, undefined)).toBe(finding);
  });

  it("rejects a RUNBOOK_BASE_URL that is not a URL, naming it", () => {
    expect(() => loadNotifierConfig({ ...required, RUNBOOK_BASE_URL: "docs" })).toThrow(
      'RUNBOOK_BASE_URL: expected an http(s) URL, got "docs"',
    );
  });
});

describe("changeEventsUrlFor", () => {
  it("puts change/enqueue beside enqueue", () => {
    expect(changeEventsUrlFor("https://events.eu.pagerduty.com/v2/enqueue")).toBe(
      "https://events.eu.pagerduty.com/v2/change/enqueue",
    );
  });
});
