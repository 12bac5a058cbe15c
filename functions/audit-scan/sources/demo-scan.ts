import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { type Finding, parseQueueMessage } from "../../../lib/finding.ts";
import { dedupKeyFor } from "../../notify/pagerduty-events.ts";
import { secretNameOf, stripArnSuffix } from "../policy.ts";
import { ScanSourceError } from "./errors.ts";

/** What the scan of the demo's trail files produced. */
export interface DemoScanResult {
  files: number;
  /** Firing findings. */
  findings: Finding[];
  /** Findings that resolve earlier ones (a rotation that succeeded). */
  resolved: number;
}

type AuditScanHandler = (event: unknown, context: Context) => Promise<{ batchItemFailures?: unknown[] }>;

/**
 * Runs the built audit-scan bundle the way S3 would: one ObjectCreated notification (through SQS) per trail
 * file CloudTrail delivered to the bucket, then lists the findings it put on the findings queue without
 * taking them off it (the notifier delivers them next). For the demo and the first-hour tests.
 */
export async function scanDeliveredTrailFiles(input: {
  bundle: string;
  bucket: string;
  keys: readonly string[];
  sqs: SQSClient;
  queueUrl: string;
  /** The access key the scanner's SDK clients sign with (they are created on first use, from the environment). */
  accessKeyId?: string;
  /** The policy file the scanner loads at its cold start (POLICY_PATH). */
  policyPath?: string;
}): Promise<DemoScanResult> {
  if (!existsSync(input.bundle))
    throw new ScanSourceError(`${input.bundle} is missing: run \`npm run build\` first`);
  if (input.policyPath) process.env.POLICY_PATH = input.policyPath;
  const { handler } = (await import(pathToFileURL(input.bundle).href)) as { handler: AuditScanHandler };
  const previousKey = process.env.AWS_ACCESS_KEY_ID;
  if (input.accessKeyId) process.env.AWS_ACCESS_KEY_ID = input.accessKeyId;
  const started = Date.now();
  const context = {
    functionName: "vigil-demo-audit-scan",
    awsRequestId: `demo-${started}`,
    getRemainingTimeInMillis: () => 300_000 - (Date.now() - started),
  } as Context;
  const records = input.keys.map((key, index) => ({
    eventSource: "aws:sqs",
    messageId: `trail-file-${index}`,
    body: JSON.stringify({
      Records: [
        {
          eventSource: "aws:s3",
          eventName: "ObjectCreated:Put",
          s3: { bucket: { name: input.bucket }, object: { key: encodeURIComponent(key) } },
        },
      ],
    }),
  }));
  const response = await handler({ Records: records }, context).finally(() => {
    process.env.AWS_ACCESS_KEY_ID = previousKey;
  });
  if (response.batchItemFailures && response.batchItemFailures.length > 0) {
    throw new ScanSourceError(
      `the scanner could not read ${response.batchItemFailures.length} trail file(s)`,
    );
  }
  const findings = await peekFindings(input.sqs, input.queueUrl);
  return {
    files: input.keys.length,
    findings: findings.filter((finding) => finding.status !== "resolved"),
    resolved: findings.filter((finding) => finding.status === "resolved").length,
  };
}

/** The findings on the queue, left there: each message is received with a visibility timeout of 0. */
async function peekFindings(sqs: SQSClient, queueUrl: string): Promise<Finding[]> {
  const findings = new Map<string, Finding>();
  for (let round = 0; round < 20; round++) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    let fresh = 0;
    for (const message of Messages) {
      const parsed = parseQueueMessage(message.Body ?? "");
      if ("type" in parsed || findings.has(parsed.id)) continue;
      findings.set(parsed.id, parsed);
      fresh++;
    }
    if (fresh === 0) break;
  }
  return [...findings.values()];
}

const SEVERITY_ORDER = ["critical", "high", "medium", "low", "info"];

function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) ||
      a.rule.localeCompare(b.rule) ||
      a.id.localeCompare(b.id),
  );
}

/** One line per finding: severity, rule, secret (its name), principal (without the ARN prefix). */
export function findingLines(findings: readonly Finding[]): string[] {
  return sortFindings(findings).map((finding) => {
    const secret = finding.secretArn ? secretNameOf(stripArnSuffix(finding.secretArn)) : "-";
    const principal = finding.principal?.replace(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:/, "") ?? "-";
    return `${finding.severity.toUpperCase().padEnd(8)} ${finding.rule}: ${secret} by ${principal}`;
  });
}

/** Each finding's line with what became of it at PagerDuty (its incident's state, or where it went instead). */
export function findingOutcomeLines(
  findings: readonly Finding[],
  incidents: readonly { dedupKey: string; status: string }[],
): string[] {
  const lines = findingLines(findings);
  const sorted = sortFindings(findings);
  return lines.map((line, index) => {
    const finding = sorted[index]!;
    const incident = incidents.find((candidate) => candidate.dedupKey === dedupKeyFor(finding.groupKey));
    return `${line}\n    → ${incident ? `PagerDuty incident ${incident.status}` : "no page (SNS only)"}`;
  });
}
