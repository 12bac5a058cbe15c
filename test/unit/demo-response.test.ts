import { describe, expect, it } from "vitest";
import type { IncidentLog } from "../../incident/index.ts";
import type { DemoReport, DemoResponse } from "../../local/demo-response.ts";
import { responseStory } from "../../local/demo-response.ts";

const SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:algo-trade/demo/postgres-AbCdEf";
const INTRUDER = "arn:aws:iam::111122223333:user/contractor-laptop";
const VERSION = "0b6c1f4e-7d7e-4a4b-9d8e-0123456789ab";

function step(
  name: IncidentLog["steps"][number]["step"],
  overrides: Partial<IncidentLog["steps"][number]> = {},
): IncidentLog["steps"][number] {
  return {
    step: name,
    status: "ok",
    detail: `${name} done`,
    startedAt: "2026-12-03T00:00:00.000Z",
    finishedAt: "2026-12-03T00:00:01.000Z",
    ...overrides,
  };
}

function response(overrides: Partial<DemoResponse> = {}): DemoResponse {
  return {
    secret: "algo-trade/demo/postgres",
    outDir: "/tmp/vigil-demo-run-x/incident-evidence",
    log: {
      secretArn: SECRET_ARN,
      startedAt: "2026-12-03T00:00:00.000Z",
      by: { callerArn: "arn:aws:sts::111122223333:assumed-role/r/s", account: "111122223333", operator: "o" },
      outDir: "/tmp/vigil-demo-run-x/incident-evidence",
      plan: [],
      steps: [
        step("evidence"),
        step("contain"),
        step("rotate", { data: { versionId: VERSION } }),
        step("restart"),
        step("record"),
      ],
    },
    manifestProblems: [],
    denied: true,
    pagerDutyIncident: {
      status: "triggered",
      summary: "Incident response on algo-trade/demo/postgres: arn:... ran vigil incident",
    },
    restarted: ["trading/order-router"],
    expected: true,
    ...overrides,
  };
}

const report: DemoReport = {
  path: "/tmp/vigil-demo-run-x/vigil-report-2026-10-01_2026-12-03.html",
  from: "2026-10-01",
  to: "2026-12-03",
  totals: { secrets: 6, nonCompliant: 2, unexpectedReaders: 1, findings: 5 },
  nonCompliant: [
    { name: "vigil/demo/pagerduty", reason: "never rotated" },
    { name: "algo-trade/demo/mariadb-admin", reason: "never rotated" },
  ],
  unexpected: [
    {
      secretArn: SECRET_ARN,
      secret: "algo-trade/demo/postgres",
      principal: INTRUDER,
      principalType: "IAMUser",
      reads: 1,
      denied: 0,
      firstSeen: "2026-12-03T00:00:00.000Z",
      lastSeen: "2026-12-03T00:00:00.000Z",
      origins: ["203.0.113.50"],
      unexpected: true,
      readersDeclared: true,
    },
  ],
  expected: true,
};

describe("responseStory", () => {
  it("tells each step of the response and the report's totals, naming the unexpected reader", () => {
    // Act
    const told = responseStory(response(), report, false).join("\n");

    // Assert
    expect(told).toContain("Responded (vigil incident --yes, on the secret the intruder read):");
    expect(told).toContain(`• Rotated at once (version ${VERSION}); trading/order-router`);
    expect(told).toContain('one PagerDuty incident, "Incident response on algo-trade/demo/postgres" (above)');
    expect(told).toContain("Reported (vigil report --from 2026-10-01 --to 2026-12-03, the quarter so far):");
    expect(told).toContain(
      "2 not compliant (never rotated: vigil/demo/pagerduty, algo-trade/demo/mariadb-admin); 1 unexpected reader(s) (contractor-laptop)",
    );
    expect(told).not.toContain("UNEXPECTED");
  });

  it("says where the evidence and the report are when they are kept, and that they go otherwise", () => {
    // Act
    const kept = responseStory(response(), report, true).at(-1);
    const removed = responseStory(response(), report, false).at(-1);

    // Assert
    expect(kept).toBe(`• Evidence in /tmp/vigil-demo-run-x/incident-evidence; report in ${report.path}.`);
    expect(removed).toContain("npm start -- --keep keeps them");
  });

  it("names every check that failed instead of the story", () => {
    // Arrange
    const failed = response({
      log: {
        ...response().log,
        steps: [step("evidence"), step("contain", { status: "failed", detail: "PutResourcePolicy failed" })],
      },
      manifestProblems: ["timeline.md: changed"],
      denied: false,
      pagerDutyIncident: undefined,
      expected: false,
    });

    // Act
    const told = responseStory(failed, { ...report, unexpected: [], expected: false }, false).join("\n");

    // Assert
    expect(told).toContain(
      "• UNEXPECTED: contain failed: PutResourcePolicy failed; evidence does not verify: timeline.md: changed; the Deny is not in the resource policy; no PagerDuty incident records the response",
    );
    expect(told).toContain("• UNEXPECTED: the intruder is not among the unexpected readers.");
    expect(told).not.toContain("Evidence first");
  });
});
