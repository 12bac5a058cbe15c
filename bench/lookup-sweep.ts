import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { runLookupSweep } from "../functions/audit-scan/sources/lookup.ts";
import { DynamoScanState } from "../functions/audit-scan/state-dynamodb.ts";
import { startSandbox } from "../local/sandbox.ts";

export interface LookupSweepMeasurement {
  backlog: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  eventsPerSecond: number;
  /** Throttling answers the sandbox gave (absorbed by the sweep, never surfaced). */
  throttles: number;
  errors: number;
  lost: number;
  duplicated: number;
}

const SOURCES = ["secretsmanager", "kms", "cloudtrail"] as const;

/**
 * One LookupEvents sweep over a backlog (the last hour, spread over the three event sources) against the
 * sandbox's 2 requests/s token bucket, with the checkpoints and seen event ids in its DynamoDB.
 */
export async function measureLookupSweep(backlog = 2_000): Promise<LookupSweepMeasurement> {
  const sandbox = await startSandbox({ lookupEventsPerSecond: 2 });
  const cloudTrail = new CloudTrailClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
  const dynamo = new DynamoDBClient(sandbox.clientConfig());
  try {
    const now = Date.now();
    const injected = sandbox.injectCloudTrailRecords(
      Array.from({ length: backlog }, (_, index) => ({
        eventTime: new Date(now - 3_600_000 + (3_600_000 * index) / backlog)
          .toISOString()
          .replace(/\.\d{3}Z$/, "Z"),
        eventSource: `${SOURCES[index % SOURCES.length]}.amazonaws.com`,
        eventName: "GetSecretValue",
        readOnly: true,
      })),
    );
    const processed: string[] = [];
    const started = performance.now();
    const result = await runLookupSweep(
      {
        regions: [sandbox.region],
        overlapMs: 15 * 60_000,
        requestsPerSecond: 2,
        initialLookbackMs: 3_700_000,
      },
      {
        cloudTrail: () => cloudTrail,
        store: new DynamoScanState({ client: dynamo, tableName: sandbox.env.STATE_TABLE_NAME! }),
        process: async (batch) => {
          for (const record of batch.records as { eventID: string; eventName: string }[]) {
            // The sandbox records the sweep's own LookupEvents calls too; they are not the backlog.
            if (record.eventName !== "LookupEvents") processed.push(record.eventID);
          }
        },
        remainingMs: () => 600_000,
        holder: "bench",
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const expected = new Set(injected.map((record) => record.eventID));
    const unique = new Set(processed);
    return {
      backlog,
      requests: result.requests,
      seconds,
      requestsPerSecond: result.requests / seconds,
      eventsPerSecond: processed.length / seconds,
      throttles: result.throttles,
      errors: result.sources.filter((source) => source.error !== undefined).length,
      lost: [...expected].filter((id) => !unique.has(id)).length,
      duplicated: processed.length - unique.size,
    };
  } finally {
    cloudTrail.destroy();
    dynamo.destroy();
    await sandbox.stop();
  }
}
