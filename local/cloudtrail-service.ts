import { randomUUID } from "node:crypto";
import { awsJson } from "./aws-json.ts";
import { type CloudTrailRecord, consoleDate, lowerCamel } from "./cloudtrail.ts";
import { AwsServiceError, SandboxError } from "./errors.ts";
import { awsFaults, type SandboxService, type ServiceContext, type ServiceFactory } from "./service.ts";

/**
 * The sandbox's CloudTrail API: LookupEvents over the trail every service records into, with AWS's
 * 2 requests/s limit. SDK v3 sends "CloudTrail_20131101.<Op>"; botocore (the AWS CLI) the long form.
 */
export const cloudTrailService = ((context: ServiceContext) => {
  const limiter = new RateLimiter(context.options.lookupEventsPerSecond ?? 2);
  const trail = context.trail;
  trail.onRecord((record) => {
    if (!deliveredToEventBridge(record)) return;
    context.scanner.deliver(
      "eventbridge:AWS API Call via CloudTrail",
      `${record.eventSource.replace(".amazonaws.com", "")}:${record.eventName}`,
      eventBridgeEvent(record),
    );
  });
  return {
    name: "cloudtrail",
    protocol: awsJson({
      version: "1.1",
      target: /^(?:com\.amazonaws\.cloudtrail\.v20131101\.)?CloudTrail_20131101\.(\w+)$/,
    }),
    operations: ["LookupEvents"],
    handle(call) {
      if (call.operation !== "LookupEvents") {
        throw new AwsServiceError(
          "UnknownOperationException",
          `The sandbox does not implement ${call.operation}.`,
        );
      }
      if (!limiter.tryTake()) throw new AwsServiceError("ThrottlingException", "Rate exceeded");
      return trail.lookupEvents(call.input);
    },
    cloudTrail: {
      eventSource: "cloudtrail.amazonaws.com",
      readOnly: () => true,
      requestParameters(call) {
        const { NextToken: _token, StartTime, EndTime, ...rest } = call.input;
        // CloudTrail logs its own timestamps in the console format, like DeleteSecret's deletionDate.
        const parameters = {
          ...(lowerCamel(rest) as Record<string, unknown>),
          ...(typeof StartTime === "number" ? { startTime: consoleDate(StartTime * 1000) } : {}),
          ...(typeof EndTime === "number" ? { endTime: consoleDate(EndTime * 1000) } : {}),
        };
        return Object.keys(parameters).length > 0 ? parameters : null;
      },
    },
    faults: awsFaults("InternalFailure"),
    views: { cloudtrail: () => ({ Records: trail.all() }) },
    controls: {
      /** Late delivery: `{"Records": [...]}` with past eventTimes, for the scanner's tests. */
      "cloudtrail/records": (body) => {
        const records = (body as { Records?: unknown } | null)?.Records;
        if (!Array.isArray(records)) {
          throw new SandboxError('expected {"Records": [ ...CloudTrail records... ]}');
        }
        return { injected: trail.inject(records).map((record) => record.eventID) };
      },
    },
  } satisfies SandboxService;
}) satisfies ServiceFactory;

/** The event sources whose write calls EventBridge delivers to the scanner's near-real-time rule. */
const eventBridgeSources = new Set([
  "secretsmanager.amazonaws.com",
  "kms.amazonaws.com",
  "cloudtrail.amazonaws.com",
]);

/** The scanner's rule: write-side API calls (successful or refused) of Secrets Manager, KMS and CloudTrail. */
function deliveredToEventBridge(record: CloudTrailRecord): boolean {
  return (
    record.eventType === "AwsApiCall" &&
    String(record.readOnly) !== "true" &&
    eventBridgeSources.has(record.eventSource)
  );
}

/** A CloudTrail record as EventBridge delivers it: the "AWS API Call via CloudTrail" envelope, the record as detail. */
export function eventBridgeEvent(record: CloudTrailRecord): Record<string, unknown> {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "AWS API Call via CloudTrail",
    source: `aws.${record.eventSource.replace(".amazonaws.com", "")}`,
    account: record.recipientAccountId,
    time: record.eventTime,
    region: record.awsRegion,
    resources: [],
    detail: record,
  };
}

/** The 2 requests/s per account and region LookupEvents allows, as a token bucket. */
export class RateLimiter {
  private tokens: number;
  private updatedAt = Date.now();

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  /** Takes one token; false when the caller must be throttled. A limit of 0 never throttles. */
  tryTake(): boolean {
    if (this.perSecond <= 0) return true;
    const now = Date.now();
    // A clock set backwards (fake timers) refills nothing rather than draining the bucket.
    const elapsedMs = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.perSecond, this.tokens + (elapsedMs / 1000) * this.perSecond);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
