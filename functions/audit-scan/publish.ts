import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describeError } from "../../lib/errors.ts";
import type { Finding } from "../../lib/finding.ts";
import { redact } from "../../lib/redaction.ts";
import { PublishFindingsError } from "./sources/errors.ts";
import { backoffMs, isTransient, type PacerClock, systemPacerClock } from "./sources/pacer.ts";

/** SendMessageBatch takes at most 10 entries and 256 KiB in all. */
const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;

export interface PublishOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** Attempts per batch for entries SQS failed on its side (and for transient call errors). */
  maxAttempts?: number;
  clock?: PacerClock;
  random?: () => number;
}

/** Splits bodies into SendMessageBatch calls: at most 10 entries and 256 KiB each. */
export function batchBodies(bodies: readonly string[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body);
    if (current.length === MAX_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Puts findings on the findings queue, ten per SendMessageBatch. Entries SQS failed on its side are sent
 * again with backoff; an entry refused as the sender's fault, or still failing after every attempt, makes
 * the call throw PublishFindingsError (so the invocation fails and its input is retried: finding ids are
 * deterministic, the notifier pages once).
 */
export async function publishFindings(
  findings: readonly Finding[],
  options: PublishOptions,
): Promise<number> {
  if (findings.length === 0) return 0;
  const clock = options.clock ?? systemPacerClock;
  const maxAttempts = options.maxAttempts ?? 5;
  const bodies = findings.map((finding) => JSON.stringify(redact(finding)));
  let sent = 0;
  for (const batch of batchBodies(bodies)) {
    let pending: SendMessageBatchRequestEntry[] = batch.map((body, index) => ({
      Id: String(index),
      MessageBody: body,
    }));
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      let failedIds: Set<string>;
      try {
        const output = await options.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: pending }),
        );
        sent += output.Successful?.length ?? 0;
        const failed = output.Failed ?? [];
        const refused = failed.find((entry) => entry.SenderFault);
        if (refused) {
          throw new PublishFindingsError(
            `the findings queue refused a finding: ${refused.Code ?? "error"} ${refused.Message ?? ""}`.trim(),
          );
        }
        failedIds = new Set(failed.map((entry) => entry.Id ?? ""));
        if (failedIds.size > 0 && attempt >= maxAttempts) {
          throw new PublishFindingsError(
            `${failedIds.size} finding(s) still not on the findings queue after ${attempt} attempts: ${failed[0]?.Code ?? "error"}`,
          );
        }
      } catch (error) {
        if (error instanceof PublishFindingsError) throw error;
        if (!isTransient(error) || attempt >= maxAttempts) {
          throw new PublishFindingsError(
            `SendMessageBatch to the findings queue failed after ${attempt} attempt(s): ${describeError(error)}`,
            { cause: error },
          );
        }
        failedIds = new Set(pending.map((entry) => entry.Id ?? ""));
      }
      pending = pending.filter((entry) => failedIds.has(entry.Id ?? ""));
      if (pending.length > 0) await clock.sleep(backoffMs(attempt, 100, 3_000, options.random));
    }
  }
  return sent;
}
