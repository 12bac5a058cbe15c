import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  METRICS_NAMESPACE,
  metricCatalogue,
  recordNotifyBatch,
  recordRotationStep,
  VigilMetrics,
} from "../../lib/metrics.ts";
import { type CapturedOutput, captureOutput } from "../helpers/output.ts";

interface EmfLine {
  _aws: {
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

function emfLines(text: string): EmfLine[] {
  return text
    .split("\n")
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfLine);
}

describe("VigilMetrics", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it("writes one EMF line per dimension set, in the Vigil namespace, with the Lambda function as service", () => {
    // Arrange
    const metrics = new VigilMetrics("rotate", { AWS_LAMBDA_FUNCTION_NAME: "vigil-prod-rotate" });

    // Act
    metrics.count("RotationSteps", { Strategy: "ibkr", Outcome: "operator-stop" });
    metrics.record("RotationStepDuration", { Step: "createSecret" }, 41);
    metrics.count("RotationFailures", {}, 0);
    metrics.flush();

    // Assert
    const lines = emfLines(output.text());
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line._aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
      expect(line.service).toBe("vigil-prod-rotate");
    }
    const steps = lines.find((line) => "RotationSteps" in line);
    expect(steps).toMatchObject({ Strategy: "ibkr", Outcome: "operator-stop", RotationSteps: 1 });
    expect(steps?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([["service", "Outcome", "Strategy"]]);
    expect(lines.find((line) => "RotationStepDuration" in line)).toMatchObject({
      Step: "createSecret",
      RotationStepDuration: 41,
    });
    expect(lines.find((line) => "RotationFailures" in line)?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([
      ["service"],
    ]);
  });

  it("sums counts per name and dimension values into one data point", () => {
    // Arrange
    const metrics = new VigilMetrics("audit-scan", {});

    // Act
    for (let i = 0; i < 5; i++) metrics.count("Findings", { Rule: "bulk-read", Severity: "high" });
    metrics.count("Findings", { Severity: "high", Rule: "bulk-read" }, 2);
    metrics.count("Findings", { Rule: "root-read", Severity: "critical" });
    metrics.flush();

    // Assert
    const lines = emfLines(output.text());
    expect(lines.map((line) => [line.Rule, line.Findings])).toEqual([
      ["bulk-read", 7],
      ["root-read", 1],
    ]);
    expect(lines[0]?.service).toBe("audit-scan");
  });

  it("keeps the dimensions on every line when one metric has more values than one EMF line holds", () => {
    // Arrange
    const metrics = new VigilMetrics("audit-scan", {});

    // Act
    for (let i = 0; i < 250; i++) metrics.record("ScannerLagSeconds", { Source: "s3" }, i);
    metrics.flush();

    // Assert
    const lines = emfLines(output.text());
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.every((line) => line.Source === "s3")).toBe(true);
    expect(lines.flatMap((line) => line.ScannerLagSeconds as number[])).toHaveLength(250);
  });

  it("writes nothing when nothing was counted and forgets what it flushed", () => {
    // Arrange
    const metrics = new VigilMetrics("notify", {});
    metrics.count("PagesSent", {}, 3);
    metrics.flush();

    // Act
    metrics.flush();

    // Assert
    expect(emfLines(output.text())).toHaveLength(1);
    expect(metrics.hasPending).toBe(false);
  });
});

describe("metricCatalogue", () => {
  it("keeps every dimension set small enough for alarms without metric math", () => {
    // Arrange
    const sets = Object.values(metricCatalogue).map((entry) => entry.dimensions);

    // Act
    const largest = Math.max(...sets.map((set) => set.length));

    // Assert
    expect(largest).toBeLessThanOrEqual(2);
  });
});

describe("recordRotationStep", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it.each([
    ["done", false, "done", 0],
    ["already-current", false, "done", 0],
    ["failed", true, "operator-stop", 0],
    ["failed", false, "failed", 1],
  ])(
    "counts a %s step (operator stop: %s) as %s with %i failures",
    (outcome, operatorStop, counted, failures) => {
      // Arrange
      const metrics = new VigilMetrics("rotate", {});

      // Act
      recordRotationStep(metrics, {
        step: "createSecret",
        strategy: "ibkr",
        outcome,
        durationMs: 12,
        operatorStop,
      });
      metrics.flush();

      // Assert
      const lines = emfLines(output.text());
      expect(lines.find((line) => "RotationSteps" in line)).toMatchObject({
        Outcome: counted,
        Strategy: "ibkr",
      });
      expect(lines.find((line) => "RotationFailures" in line)?.RotationFailures).toBe(failures);
    },
  );
});

describe("recordNotifyBatch", () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it("divides the valid findings by the groups sent for the grouping ratio", () => {
    // Arrange
    const metrics = new VigilMetrics("notify", {});
    const batch = {
      received: 12,
      invalid: 2,
      groups: 5,
      pagesSent: 3,
      pagesFailed: 1,
      pagerDutyRetries: 4,
      resolves: 1,
    };

    // Act
    recordNotifyBatch(metrics, batch);
    metrics.flush();

    // Assert
    expect(emfLines(output.text())[0]).toMatchObject({
      PagesSent: 3,
      PagesFailed: 1,
      PagesRetried: 4,
      Resolves: 1,
      BatchSize: 12,
      GroupingRatio: 2,
    });
  });
});
