import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultPolicy } from "../../functions/audit-scan/policy.ts";
import { loadPolicy } from "../../functions/audit-scan/policy-file.ts";
import {
  buildComplianceReport,
  checkReportPath,
  parseReportPeriod,
  ReportInputError,
  renderCsv,
  renderHtml,
} from "../../functions/audit-scan/report/index.ts";
import { csvField } from "../../functions/audit-scan/report/render-csv.ts";

const DAY = 86_400_000;
const ACCOUNT = "111122223333";
const FROM = Date.parse("2026-10-01T00:00:00Z");
const TO = Date.parse("2027-01-01T00:00:00Z");
const arnOf = (name: string) => `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:${name}-AbCdEf`;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function rotationEvent(eventName: string, name: string, atMs: number) {
  return {
    eventID: `${eventName}-${name}-${atMs}`,
    eventTime: iso(atMs),
    eventSource: "secretsmanager.amazonaws.com",
    eventName,
    eventType: "AwsServiceEvent",
    awsRegion: "us-east-1",
    recipientAccountId: ACCOUNT,
    userIdentity: { accountId: ACCOUNT, invokedBy: "secretsmanager.amazonaws.com" },
    additionalEventData: { SecretId: arnOf(name) },
  };
}

function secret(name: string, createdMs = FROM - 400 * DAY) {
  return { ARN: arnOf(name), Name: name, CreatedDate: new Date(createdMs), Tags: [] };
}

describe("buildComplianceReport", () => {
  it("measures the longest gap from the last rotation before the period and judges it against the policy", async () => {
    const records = [
      rotationEvent("RotationSucceeded", "prod/a", FROM - 20 * DAY),
      rotationEvent("RotationSucceeded", "prod/a", FROM + 50 * DAY),
      rotationEvent("RotationSucceeded", "prod/b", FROM + 10 * DAY),
      rotationEvent("RotationSucceeded", "prod/b", FROM + 80 * DAY),
    ];

    const report = await buildComplianceReport({
      fromMs: FROM,
      toMs: TO,
      policy: loadPolicy("version: 1\nsecrets:\n  - match: prod/a\n    maxRotationDays: 60\n", "policy.yaml"),
      secrets: [secret("prod/a"), secret("prod/b")],
      records,
      eventSource: "test",
      now: new Date(TO),
    });

    expect(
      report.rotation.map((row) => [row.name, row.longestGapDays, row.daysSinceLast, row.compliance]),
    ).toEqual([
      ["prod/a", 70, 42, "non-compliant"],
      ["prod/b", 70, 12, "compliant"],
    ]);
    expect(report.rotation[0]?.rotations).toEqual([
      { at: new Date(FROM + 50 * DAY).toISOString(), outcome: "succeeded" },
    ]);
  });

  it("marks a secret with no rotation on record non-compliant, however young", async () => {
    const report = await buildComplianceReport({
      fromMs: FROM,
      toMs: TO,
      policy: defaultPolicy(),
      secrets: [secret("prod/new", TO - DAY)],
      records: [],
      eventSource: "test",
      now: new Date(TO),
    });

    expect(report.rotation[0]).toMatchObject({ compliance: "non-compliant", reason: "never rotated" });
  });

  it("counts ListSecrets' LastRotatedDate when no rotation event was read, and says so", async () => {
    const rotatedMs = FROM + 30 * DAY;

    const report = await buildComplianceReport({
      fromMs: FROM,
      toMs: TO,
      policy: defaultPolicy(),
      secrets: [{ ...secret("prod/listed"), LastRotatedDate: new Date(rotatedMs) }],
      records: [],
      eventSource: "test",
      now: new Date(TO),
    });

    expect(report.rotation[0]).toMatchObject({
      compliance: "compliant",
      daysSinceLast: 62,
      rotations: [{ at: new Date(rotatedMs).toISOString(), outcome: "succeeded", source: "LastRotatedDate" }],
    });
  });
});

describe("parseReportPeriod", () => {
  it("includes the whole day of a date-only --to", () => {
    expect(parseReportPeriod("2026-10-01", "2026-12-31")).toEqual({ fromMs: FROM, toMs: TO });
  });

  it("refuses a period that ends before it starts, naming --to", () => {
    expect(() => parseReportPeriod("2026-10-01", "2026-09-30")).toThrow(ReportInputError);
    expect(() => parseReportPeriod("2026-10-01", "2026-09-30")).toThrow(/^--to: /);
  });

  it("refuses a date that does not exist", () => {
    expect(() => parseReportPeriod("2026-02-30", "2026-03-31")).toThrow(/^--from: expected a date/);
  });
});

describe("csvField", () => {
  it("quotes fields with commas, quotes or line breaks and doubles the quotes", () => {
    expect([csvField("plain"), csvField('say "hi", then\nleave'), csvField(undefined)]).toEqual([
      "plain",
      '"say ""hi"", then\nleave"',
      "",
    ]);
  });
});

describe("renderHtml", () => {
  it("escapes secret names and loads nothing from outside the file", async () => {
    const report = await buildComplianceReport({
      fromMs: FROM,
      toMs: TO,
      policy: defaultPolicy(),
      secrets: [secret("prod/<script>alert(1)</script>")],
      records: [],
      eventSource: "test",
      now: new Date(TO),
    });

    const html = renderHtml(report);

    expect(html).not.toContain("<script>");
    expect(html).toContain("prod/&lt;script&gt;");
    expect(html).not.toMatch(/\b(src|href)=|url\(|@import/);
    expect(renderCsv(report)["rotation.csv"].endsWith("\r\n")).toBe(true);
  });

  it("says which findings are open and which a later success resolved", async () => {
    const report = await buildComplianceReport({
      fromMs: FROM,
      toMs: TO,
      policy: defaultPolicy(),
      secrets: [secret("prod/a")],
      records: [
        rotationEvent("RotationFailed", "prod/a", FROM + 5 * DAY),
        rotationEvent("RotationSucceeded", "prod/a", FROM + 6 * DAY),
      ],
      eventSource: "test",
      now: new Date(TO),
    });

    const rows = [...renderHtml(report).matchAll(/<tr>(.*?)<\/tr>/gs)]
      .map(([, row]) => row ?? "")
      .filter((row) => row.includes("Rotation of prod/a"));

    expect(rows).toHaveLength(2);
    expect(rows.find((row) => row.includes("failed"))).toContain("<td>open</td>");
    expect(rows.find((row) => row.includes("succeeded"))).toContain('<td class="ok">resolved</td>');
  });
});

describe("checkReportPath", () => {
  it("refuses a folder for one file, a file for csv, and a file in a folder that does not exist", async () => {
    const folder = await mkdtemp(join(tmpdir(), "vigil-report-out-"));
    try {
      const file = join(folder, "q4.html");
      await writeFile(file, "old report");

      await expect(checkReportPath("html", folder)).rejects.toThrow(`--out: ${folder} names a folder`);
      await expect(checkReportPath("html", join(folder, "new") + "/")).rejects.toThrow(
        /names a folder; html writes one file \(such as .*new\/report\.html\)/,
      );
      await expect(checkReportPath("json", join(folder, "missing", "q4.json"))).rejects.toThrow(
        `--out: the folder ${join(folder, "missing")} does not exist; create it first`,
      );
      await expect(checkReportPath("csv", file)).rejects.toThrow(`--out: ${file} is a file`);
      await expect(checkReportPath("html", file)).resolves.toBeUndefined();
      await expect(checkReportPath("csv", join(folder, "q4"))).resolves.toBeUndefined();
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
