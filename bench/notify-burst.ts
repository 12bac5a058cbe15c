import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { type Finding, findingId } from "../lib/finding.ts";
import { startSandbox } from "../local/sandbox.ts";

export interface BurstMeasurement {
  findings: number;
  problems: number;
  batches: number;
  pagerDutyEvents: number;
  incidents: number;
  snsMessages: number;
  totalMs: number;
}

function finding(problem: number, index: number): Finding {
  const now = new Date(Date.UTC(2026, 10, 27, 3, 0, 0, index)).toISOString();
  const groupKey = `unexpected-reader:role/intruder-${problem}:secret/algo-trade/prod/ibkr`;
  return {
    id: findingId(groupKey, String(index)),
    rule: "unexpected-reader",
    severity: problem % 5 === 0 ? "critical" : "high",
    title: `intruder-${problem} read algo-trade/prod/ibkr`,
    summary: `Role intruder-${problem} read the production IBKR secret, which it is not expected to read.`,
    secretArn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:algo-trade/prod/ibkr-AbCdEf",
    principal: `arn:aws:iam::111122223333:role/intruder-${problem}`,
    sourceIp: `203.0.113.${problem}`,
    region: "us-east-1",
    account: "111122223333",
    eventIds: [randomUUID()],
    firstSeen: now,
    lastSeen: now,
    count: 1,
    groupKey,
    status: "firing",
    details: {},
    runbook: "docs/alerts.md",
  };
}

function sqsRecord(body: unknown): SQSRecord {
  return {
    messageId: randomUUID(),
    receiptHandle: randomUUID(),
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "0",
      SenderId: "bench",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:111122223333:vigil-findings",
    awsRegion: "us-east-1",
  };
}

/**
 * A burst of `findings` findings of `problems` problems through the built notify bundle, in batches of
 * `batchSize` (Lambda's SQS batches go up to 10,000), against the sandbox's PagerDuty and SNS.
 */
export async function measureNotifyBurst(
  findings = 10_000,
  problems = 50,
  batchSize = 1_000,
): Promise<BurstMeasurement> {
  const sandbox = await startSandbox({ snsTopics: ["vigil-bench-alerts"] });
  try {
    await new SecretsManagerClient(sandbox.clientConfig()).send(
      new CreateSecretCommand({
        Name: "vigil/bench/pagerduty",
        SecretString: "BENCHROUTINGKEY0123456789abcdefg",
      }),
    );
    Object.assign(process.env, sandbox.env, {
      ALERTS_TOPIC_ARN: `arn:aws:sns:${sandbox.region}:${sandbox.accountId}:vigil-bench-alerts`,
      PAGERDUTY_ROUTING_KEY_SECRET_ID: "vigil/bench/pagerduty",
      LOG_LEVEL: "SILENT",
    });
    const { handler } = (await import(pathToFileURL(resolve("dist/notify/index.mjs")).href)) as {
      handler: (event: SQSEvent, context: Context) => Promise<{ batchItemFailures: unknown[] }>;
    };
    const records = Array.from({ length: findings }, (_, index) =>
      sqsRecord(finding(index % problems, index)),
    );
    const started = performance.now();
    let batches = 0;
    for (let offset = 0; offset < records.length; offset += batchSize) {
      const batchStarted = Date.now();
      const context = { getRemainingTimeInMillis: () => 60_000 - (Date.now() - batchStarted) } as Context;
      const { batchItemFailures } = await handler(
        { Records: records.slice(offset, offset + batchSize) },
        context,
      );
      if (batchItemFailures.length > 0)
        throw new Error(`${batchItemFailures.length} messages failed in the bench`);
      batches++;
    }
    return {
      findings,
      problems,
      batches,
      pagerDutyEvents: sandbox.pagerDutyEvents().length,
      incidents: sandbox.pagerDutyIncidents().length,
      snsMessages: sandbox.snsMessages().length,
      totalMs: performance.now() - started,
    };
  } finally {
    await sandbox.stop();
  }
}
