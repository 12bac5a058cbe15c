import { describe, expect, it } from "vitest";
import { findingLines, findingOutcomeLines } from "../../functions/audit-scan/sources/demo-scan.ts";
import { dedupKeyFor } from "../../functions/notify/pagerduty-events.ts";
import { makeFinding } from "../helpers/notify-fixtures.ts";

const reader = makeFinding({
  rule: "unexpected-reader",
  severity: "critical",
  groupKey: "unexpected-reader:g",
  principal: "arn:aws:iam::111122223333:user/contractor-laptop",
});
const probing = makeFinding({
  rule: "access-probing",
  severity: "medium",
  groupKey: "probing:g",
  principal: undefined,
});

describe("findingLines", () => {
  it("lists the most severe first with rule, secret name and principal", () => {
    expect(findingLines([probing, reader])).toEqual([
      "CRITICAL unexpected-reader: algo-trade/prod/ibkr by user/contractor-laptop",
      "MEDIUM   access-probing: algo-trade/prod/ibkr by -",
    ]);
  });
});

describe("findingOutcomeLines", () => {
  it("says which finding opened a PagerDuty incident and which went to SNS only", () => {
    const lines = findingOutcomeLines(
      [probing, reader],
      [{ dedupKey: dedupKeyFor(reader.groupKey), status: "triggered" }],
    );

    expect(lines).toEqual([
      "CRITICAL unexpected-reader: algo-trade/prod/ibkr by user/contractor-laptop\n    → PagerDuty incident triggered",
      "MEDIUM   access-probing: algo-trade/prod/ibkr by -\n    → no page (SNS only)",
    ]);
  });
});
