import { randomUUID } from "node:crypto";
import { RotationHandlerError } from "./errors.ts";
import { loadLambdaHandler } from "./lambda.ts";

/** A Secrets Manager rotation function, called in-process the way Lambda would call it. */
export type RotationLambda = (
  event: { SecretId: string; ClientRequestToken: string; Step: string },
  context: { getRemainingTimeInMillis(): number; functionName: string; awsRequestId: string },
) => Promise<unknown>;

export const rotationSteps = ["createSecret", "setSecret", "testSecret", "finishSecret"] as const;
export type RotationStep = (typeof rotationSteps)[number];

/** What the sandbox observed of one RotateSecret: each step's outcome, for tests and the demo. */
export interface RotationRecord {
  secretArn: string;
  versionId: string;
  lambdaArn: string;
  status: "running" | "succeeded" | "failed";
  steps: { step: RotationStep; ok: boolean; durationMs: number; error?: string }[];
  /** The step that failed and why (the handler's message; the CloudTrail record keeps AWS's generic one). */
  failure?: { step: RotationStep | "verify"; message: string };
  startedAt: string;
  finishedAt?: string;
}

/** Loads a rotation handler from a module path (which must export `handler`) or returns the function given. */
export function loadRotationLambda(source: string | RotationLambda): Promise<RotationLambda> {
  return loadLambdaHandler(source, "rotation handler", RotationHandlerError);
}

/**
 * The rotation handler for a Lambda ARN: from `byFunction` (keyed by ARN or function name), else `fallback`.
 * Modules are imported once; one that failed to load (not built yet) is tried again on the next rotation.
 */
export function rotationHandlerResolver(
  fallback: string | RotationLambda | undefined,
  byFunction: Record<string, string | RotationLambda> = {},
): (lambdaArn: string) => Promise<RotationLambda | undefined> {
  const loaded = new Map<string | RotationLambda, Promise<RotationLambda>>();
  const load = (source: string | RotationLambda) => {
    let handler = loaded.get(source);
    if (!handler) {
      handler = loadRotationLambda(source);
      loaded.set(source, handler);
      handler.catch(() => loaded.delete(source));
    }
    return handler;
  };
  return async (lambdaArn) => {
    const source = byFunction[lambdaArn] ?? byFunction[functionNameOf(lambdaArn)] ?? fallback;
    return source === undefined ? undefined : load(source);
  };
}

/** Lambda's "Task timed out" as an error, raised when a step outlives the configured timeout. */
class StepTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.name = "StepTimeoutError";
  }
}

/**
 * Invokes one step like Lambda: a fresh request id, a countdown of the remaining time, and a timeout.
 * A handler still running at the timeout is abandoned (it cannot be killed in-process), like a Lambda
 * whose sandbox is frozen.
 */
export async function invokeStep(
  handler: RotationLambda,
  event: { SecretId: string; ClientRequestToken: string; Step: RotationStep },
  functionName: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const context = {
    functionName,
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeoutError(timeoutMs)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([handler({ ...event }, context), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The function name in a Lambda ARN (or the string itself when it is not an ARN). */
export function functionNameOf(lambdaArn: string): string {
  const match = /^arn:[^:]+:lambda:[^:]+:\d+:function:([^:]+)/.exec(lambdaArn);
  return match?.[1] ?? lambdaArn;
}
