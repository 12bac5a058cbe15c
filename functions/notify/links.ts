/** Links a responder follows from a page or a message: the secret and the CloudTrail event in the console. */
import { secretNameOfFullArn } from "../../lib/secret-arn.ts";

export interface Link {
  readonly href: string;
  readonly text: string;
}

const SECRET_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;

/** The secret's name from its ARN, without the six random characters Secrets Manager appends. */
export const secretName = secretNameOfFullArn;

function consoleOrigin(partition: string, region: string): string {
  if (partition === "aws-us-gov") return "https://console.amazonaws-us-gov.com";
  if (partition === "aws-cn") return "https://console.amazonaws.cn";
  return `https://${encodeURIComponent(region)}.console.aws.amazon.com`;
}

function partitionOf(secretArn: string | undefined): string {
  return (secretArn && SECRET_ARN.exec(secretArn)?.[1]) || "aws";
}

/** The secret's page in the Secrets Manager console. */
export function secretConsoleUrl(secretArn: string, region: string): string {
  const query = `name=${encodeURIComponent(secretName(secretArn))}&region=${encodeURIComponent(region)}`;
  return `${consoleOrigin(partitionOf(secretArn), region)}/secretsmanager/secret?${query}`;
}

/** One CloudTrail event in the console's event history. */
export function cloudTrailEventUrl(eventId: string, region: string, secretArn?: string): string {
  const origin = consoleOrigin(partitionOf(secretArn), region);
  return `${origin}/cloudtrailv2/home?region=${encodeURIComponent(region)}#/events/${encodeURIComponent(eventId)}`;
}

/** True for an absolute http(s) URL (a runbook may also be a plain-text instruction). */
export function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

/** The links for a finding: runbook (when it is a URL), the latest CloudTrail event, the secret. */
export function findingLinks(finding: {
  runbook: string;
  region: string;
  secretArn?: string | undefined;
  latestEventId?: string | undefined;
}): Link[] {
  const links: Link[] = [];
  if (isHttpUrl(finding.runbook)) links.push({ href: finding.runbook, text: "Runbook" });
  if (finding.latestEventId) {
    links.push({
      href: cloudTrailEventUrl(finding.latestEventId, finding.region, finding.secretArn),
      text: "Latest CloudTrail event",
    });
  }
  if (finding.secretArn) {
    links.push({ href: secretConsoleUrl(finding.secretArn, finding.region), text: "Secret in the console" });
  }
  return links;
}
