import { describe, expect, it } from "vitest";
import { loadNotifierConfig } from "../../functions/notify/config.ts";
import { groupQueueItems } from "../../functions/notify/grouping.ts";
import { PAGERDUTY_SEVERITY, routeGroup, triggerServiceFor } from "../../functions/notify/routing.ts";
import { SEVERITIES } from "../../lib/finding.ts";
import { makeFinding, makeRotation } from "../helpers/notify-fixtures.ts";

const { routing } = loadNotifierConfig({
  ALERTS_TOPIC_ARN: "arn:aws:sns:us-east-1:111122223333:alerts",
  PAGERDUTY_ROUTING_KEY_SECRET_ID: "pd",
  STATE_TABLE_NAME: "state",
});

describe("triggerServiceFor", () => {
  it("pages critical and high on the primary service", () => {
    expect(triggerServiceFor("critical", routing, false)).toBe("primary");
    expect(triggerServiceFor("high", routing, true)).toBe("primary");
  });

  it("sends medium and low to the low-urgency service only when one is configured", () => {
    expect(triggerServiceFor("medium", routing, true)).toBe("lowUrgency");
    expect(triggerServiceFor("low", routing, true)).toBe("lowUrgency");
    expect(triggerServiceFor("medium", routing, false)).toBeUndefined();
  });

  it("never sends info to PagerDuty", () => {
    expect(triggerServiceFor("info", routing, true)).toBeUndefined();
  });
});

describe("PAGERDUTY_SEVERITY", () => {
  it("maps every severity to one of PagerDuty's four", () => {
    for (const severity of SEVERITIES) {
      expect(["critical", "error", "warning", "info"]).toContain(PAGERDUTY_SEVERITY[severity]);
    }
  });
});

describe("routeGroup", () => {
  it("triggers a firing group and sends it to SNS", () => {
    const [group] = groupQueueItems([{ messageId: "m", message: makeFinding({ severity: "critical" }) }]);

    expect(routeGroup(group!, routing, false)).toEqual({
      trigger: "primary",
      resolve: [],
      findingToSns: true,
      rotationsToSns: true,
    });
  });

  it("resolves a cleared group on every configured service", () => {
    const [group] = groupQueueItems([{ messageId: "m", message: makeFinding({ status: "resolved" }) }]);

    expect(routeGroup(group!, routing, true)).toMatchObject({
      trigger: undefined,
      resolve: ["primary", "lowUrgency"],
    });
  });

  it("sends a rotations-only group no finding message", () => {
    const [group] = groupQueueItems([{ messageId: "m", message: makeRotation() }]);

    expect(routeGroup(group!, routing, false)).toMatchObject({ resolve: ["primary"], findingToSns: false });
  });
});
