import { afterEach, describe, expect, it } from "vitest";
import { describeSandboxEvent } from "../../cli/commands/sandbox.ts";
import { clearRegisteredSecrets, registerSecret } from "../../lib/redaction.ts";

const secretArn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/orders-db-AbC123";

afterEach(() => {
  clearRegisteredSecrets();
});

describe("describeSandboxEvent", () => {
  it("names the secret, step and reason of a failed rotation, without a secret value", () => {
    registerSecret("hunter2-new-password");

    const line = describeSandboxEvent({
      type: "rotation",
      rotation: {
        secretArn,
        versionId: "v-1",
        lambdaArn: "arn:aws:lambda:us-east-1:111122223333:function:vigil-local-rotate",
        status: "failed",
        steps: [{ step: "setSecret", ok: false, durationMs: 12, error: "boom" }],
        failure: { step: "setSecret", message: "login failed with hunter2-new-password" },
        startedAt: "2026-12-02T10:00:00.000Z",
      },
    });

    expect(line).toMatch(
      /^\d{2}:\d{2}:\d{2} rotation FAILED: prod\/orders-db at setSecret: login failed with /,
    );
    expect(line).not.toContain("hunter2-new-password");
  });

  it("shows a trigger as a page with its severity and summary", () => {
    const line = describeSandboxEvent({
      type: "pagerduty",
      event: {
        kind: "alert",
        status: 202,
        dedupKey: "k",
        at: "2026-12-02T10:00:00.000Z",
        body: {
          event_action: "trigger",
          payload: { summary: "Rotation of prod/orders-db failed", severity: "error" },
        },
      },
    });

    expect(line).toMatch(/^\d{2}:\d{2}:\d{2} PAGE \(error\): Rotation of prod\/orders-db failed$/);
  });

  it("stays quiet about a function invocation that succeeded", () => {
    const line = describeSandboxEvent({
      type: "invocation",
      invocation: {
        functionName: "vigil-local-notify",
        kind: "sqs",
        subject: "1 message(s)",
        status: "succeeded",
        startedAt: "2026-12-02T10:00:00.000Z",
      },
    });

    expect(line).toBeUndefined();
  });
});
