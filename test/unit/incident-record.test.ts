import { describe, expect, it } from "vitest";
import type { IncidentLog } from "../../incident/log.ts";
import { INCIDENT_RULE, INCIDENT_RUNBOOK, incidentFinding } from "../../incident/record.ts";
import { parseQueueMessage } from "../../lib/finding.ts";

const secret = {
  arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/ledger-db-AbCdEf",
  name: "prod/ledger-db",
  region: "us-east-1",
  account: "111122223333",
};
const log: IncidentLog = {
  secretArn: secret.arn,
  startedAt: "2026-12-02T18:00:00.000Z",
  by: {
    callerArn: "arn:aws:sts::111122223333:assumed-role/responder/alice",
    account: "111122223333",
    operator: "alice@laptop",
  },
  outDir: "/cases/ir-42",
  plan: [],
  steps: [
    { step: "evidence", status: "ok", detail: "7 call(s) written", finishedAt: "2026-12-02T18:00:01.000Z" },
    { step: "contain", status: "ok", detail: "added: Deny", state: "deny in the resource policy" },
    {
      step: "rotate",
      status: "failed",
      detail: "a rotation is already in progress",
      state: "AWSCURRENT unchanged",
    },
  ],
  undo: "aws secretsmanager --region us-east-1 delete-resource-policy --secret-id x",
  evidenceSha256: "ab".repeat(32),
};

describe("incidentFinding", () => {
  it("is a valid finding for the notifier's builders, naming who, what, the failed step and the evidence", () => {
    const finding = incidentFinding(log, secret);

    expect(parseQueueMessage(JSON.stringify(finding))).toEqual(finding);
    expect(finding).toMatchObject({
      rule: INCIDENT_RULE,
      severity: "high",
      title: "Incident response on prod/ledger-db stopped at rotate",
      principal: log.by.callerArn,
      runbook: INCIDENT_RUNBOOK,
      groupKey: `${INCIDENT_RULE}:${secret.arn}:${log.startedAt}`,
    });
    expect(finding.summary).toContain("alice@laptop");
    expect(finding.summary).toContain(`/cases/ir-42 (evidence.json sha256 ${"ab".repeat(32)})`);
    expect(finding.details).toMatchObject({ undo: log.undo, evidence: { folder: "/cases/ir-42" } });
  });

  it("gives each response its own incident and the same id when the same response is recorded again", () => {
    const later = incidentFinding({ ...log, startedAt: "2026-12-02T19:00:00.000Z" }, secret);

    expect(incidentFinding(log, secret).id).toBe(incidentFinding(log, secret).id);
    expect(later.groupKey).not.toBe(incidentFinding(log, secret).groupKey);
  });
});
