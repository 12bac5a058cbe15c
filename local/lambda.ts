import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError } from "../lib/errors.ts";
import { LambdaHandlerError } from "./errors.ts";

/** A Lambda handler called in-process, the way Lambda would call it. */
export type LambdaHandler = (
  event: never,
  context: { getRemainingTimeInMillis(): number; functionName: string; awsRequestId: string },
) => Promise<unknown>;

/** Loads a handler from a module path (which must export `handler`) or returns the function given. */
export async function loadLambdaHandler<Handler extends LambdaHandler>(
  source: string | Handler,
  role: string,
  ErrorClass: typeof LambdaHandlerError = LambdaHandlerError,
): Promise<Handler> {
  if (typeof source === "function") return source;
  let module: { handler?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(source)).href)) as { handler?: unknown };
  } catch (error) {
    throw new ErrorClass(`cannot import ${role} ${source}: ${describeError(error)}`, { cause: error });
  }
  if (typeof module.handler !== "function") {
    throw new ErrorClass(`${role} module ${source} does not export a function named handler`);
  }
  return module.handler as Handler;
}

/** One asynchronous invocation of a delivery target, for inspection and the `vigil sandbox` console. */
export interface LambdaInvocation {
  /** The function invoked, e.g. "vigil-local-audit-scan". */
  functionName: string;
  /** What was delivered: "s3:ObjectCreated:Put", "eventbridge:AWS API Call via CloudTrail", ... */
  kind: string;
  /** A short description of the event (the object key, the API call). */
  subject: string;
  status: "running" | "succeeded" | "failed";
  error?: string;
  startedAt: string;
  durationMs?: number;
}

/**
 * Invokes a handler asynchronously with events, as Lambda does for S3 notifications and EventBridge rules:
 * the caller does not wait, outcomes are kept for inspection, `settled()` waits for all of them. Without a
 * handler, deliveries are dropped (nothing is subscribed).
 */
export class LambdaDelivery {
  private loaded: Promise<LambdaHandler> | undefined;
  private readonly log: LambdaInvocation[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly listeners: ((invocation: LambdaInvocation) => void)[] = [];

  constructor(
    private readonly functionName: string,
    private readonly source: string | LambdaHandler | undefined,
    private readonly timeoutMs = 60_000,
  ) {}

  /** True when a handler is configured. */
  get enabled(): boolean {
    return this.source !== undefined;
  }

  /** Calls `listener` with each invocation when it finishes. */
  onInvocation(listener: (invocation: LambdaInvocation) => void): void {
    this.listeners.push(listener);
  }

  /** Starts one invocation with `event` and returns at once, as Lambda's asynchronous invocation does. */
  deliver(kind: string, subject: string, event: unknown): void {
    void this.invoke(kind, subject, event).catch(() => undefined);
  }

  /** Invokes the handler with `event`: its result, or its error; undefined when no handler is configured. */
  invoke(kind: string, subject: string, event: unknown): Promise<unknown> {
    const source = this.source;
    if (source === undefined) return Promise.resolve(undefined);
    const invocation: LambdaInvocation = {
      functionName: this.functionName,
      kind,
      subject,
      status: "running",
      startedAt: new Date().toISOString(),
    };
    this.log.push(invocation);
    const started = Date.now();
    const run = (async () => {
      try {
        this.loaded ??= loadLambdaHandler(source, `${this.functionName} handler`);
        const handler = await this.loaded;
        const deadline = started + this.timeoutMs;
        const result = await handler(event as never, {
          functionName: this.functionName,
          awsRequestId: randomUUID(),
          getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
        });
        invocation.status = "succeeded";
        return result;
      } catch (error) {
        // A module that failed to load (not built yet) is tried again on the next delivery.
        if (error instanceof LambdaHandlerError) this.loaded = undefined;
        invocation.status = "failed";
        invocation.error = describeError(error);
        throw error;
      } finally {
        invocation.durationMs = Date.now() - started;
        for (const listener of this.listeners) listener({ ...invocation });
      }
    })();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.finally(() => this.running.delete(settled));
    return run;
  }

  /** Every invocation so far, oldest first. */
  invocations(): LambdaInvocation[] {
    return this.log.map((invocation) => ({ ...invocation }));
  }

  /** Resolves when every invocation started so far (and any they caused) has finished. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
