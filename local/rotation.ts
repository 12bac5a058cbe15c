import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError } from "../lib/errors.ts";
import { RotationHandlerError } from "./errors.ts";

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
export async function loadRotationLambda(source: string | RotationLambda): Promise<RotationLambda> {
  if (typeof source === "function") return source;
  let module: { handler?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(source)).href)) as { handler?: unknown };
  } catch (error) {
    throw new RotationHandlerError(`cannot import rotation handler ${source}: ${describeError(error)}`, {
      cause: error,
    });
  }
  if (typeof module.handler !== "function") {
    throw new RotationHandlerError(
      `rotation handler module ${source} does not export a function named handler`,
    );
  }
  return module.handler as RotationLambda;
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
