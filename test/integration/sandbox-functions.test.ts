// startSandboxWithFunctions: Vigil's functions run in the sandbox's process and read their environment
// from it, so nothing may reach them before that environment is set.
import { afterEach, describe, expect, it } from "vitest";
import type { LambdaHandler } from "../../local/lambda.ts";
import { type SandboxWithFunctions, startSandboxWithFunctions } from "../../local/sandbox-functions.ts";

let started: SandboxWithFunctions | undefined;
const saved = { ...process.env };

afterEach(async () => {
  await started?.sandbox.stop();
  started = undefined;
  process.env = { ...saved };
});

describe("startSandboxWithFunctions", () => {
  it("sets the functions' environment before the first event reaches the scanner", async () => {
    // Arrange: a scanner that notes what its first invocation could read, as a module's cold start would
    delete process.env.FINDINGS_QUEUE_URL;
    delete process.env.STATE_TABLE_NAME;
    const seen: (string | undefined)[] = [];
    const scanner = (async () => {
      seen.push(process.env.FINDINGS_QUEUE_URL && process.env.STATE_TABLE_NAME);
    }) as unknown as LambdaHandler;

    // Act: starting creates the routing-key secret, a write the sandbox delivers to the scanner at once
    started = await startSandboxWithFunctions({}, { scanner });
    await started.sandbox.scannerSettled();

    // Assert
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((value) => typeof value === "string" && value !== "")).toBe(true);
  });
});
