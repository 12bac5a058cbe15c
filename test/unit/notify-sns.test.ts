import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { groupQueueItems } from "../../functions/notify/grouping.ts";
import { dedupKeyFor } from "../../functions/notify/pagerduty-events.ts";
import {
  buildFindingNotification,
  buildRotationNotification,
  envelope,
  MAX_PUBLISH_BYTES,
  publishNotification,
} from "../../functions/notify/sns.ts";
import { snsSubject } from "../../functions/notify/text.ts";
import type { Finding } from "../../lib/finding.ts";
import { clearRegisteredSecrets, registerSecret } from "../../lib/redaction.ts";
import { makeFinding, makeRotation, SECRET_ARN } from "../helpers/notify-fixtures.ts";

const groupOf = (...findings: Finding[]) =>
  groupQueueItems(findings.map((message, index) => ({ messageId: `m${index}`, message })))[0]!;

/** Bytes of a Publish: the envelope as the Message plus every attribute's name, type and value. */
function publishBytes(notification: ReturnType<typeof buildFindingNotification>): number {
  const attributes = Object.entries(notification.attributes).reduce(
    (total, [name, value]) =>
      total +
      Buffer.byteLength(name) +
      Buffer.byteLength(value.DataType ?? "") +
      Buffer.byteLength(value.StringValue ?? ""),
    0,
  );
  return Buffer.byteLength(envelope(notification)) + attributes;
}

describe("snsSubject", () => {
  it("is ASCII, one line and shorter than 100 characters", () => {
    const subject = snsSubject(`[HIGH] Zugriff auf das Geheimnis – “prod” ✓\r\n${"long ".repeat(40)}`);

    expect(subject.length).toBeLessThan(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subject.startsWith("[HIGH] Zugriff auf das Geheimnis ? ?prod? ? long")).toBe(true);
    expect(subject.endsWith("...")).toBe(true);
  });
});

describe("buildFindingNotification", () => {
  afterEach(() => clearRegisteredSecrets());

  it("reads as text for a human, then carries the JSON finding", () => {
    const finding = makeFinding({ severity: "critical" });

    const notification = buildFindingNotification(groupOf(finding), "alert triggered on the paging service");

    expect(notification.subject).toBe("[CRITICAL] Unexpected principal read algo-trade/prod/ibkr");
    expect(notification.defaultMessage).toContain("Secret:       algo-trade/prod/ibkr");
    expect(notification.defaultMessage).toContain("PagerDuty:    alert triggered on the paging service");
    const json = notification.defaultMessage.slice(notification.defaultMessage.indexOf("{"));
    expect(JSON.parse(json)).toEqual(finding);
  });

  it("sets severity, rule, secret and status attributes for filter policies", () => {
    const notification = buildFindingNotification(groupOf(makeFinding({ severity: "medium" })), "not paged");

    expect(notification.attributes).toEqual({
      severity: { DataType: "String", StringValue: "medium" },
      rule: { DataType: "String", StringValue: "unexpected-reader" },
      secret: { DataType: "String", StringValue: SECRET_ARN },
      status: { DataType: "String", StringValue: "firing" },
    });
  });

  it("leaves the secret attribute out when the finding names no secret", () => {
    const notification = buildFindingNotification(
      groupOf(makeFinding({ secretArn: undefined })),
      "not paged",
    );

    expect(notification.attributes.secret).toBeUndefined();
  });

  it("says RESOLVED for a cleared group", () => {
    const notification = buildFindingNotification(groupOf(makeFinding({ status: "resolved" })), "resolved");

    expect(notification.subject.startsWith("[RESOLVED] ")).toBe(true);
    expect(notification.attributes.status?.StringValue).toBe("resolved");
  });

  it("keeps a huge finding within 256 KiB by trimming its details first", () => {
    const notification = buildFindingNotification(
      groupOf(makeFinding({ details: { blob: "d".repeat(400_000) } })),
      "not paged",
    );

    expect(publishBytes(notification)).toBeLessThanOrEqual(MAX_PUBLISH_BYTES);
    expect(notification.defaultMessage).toContain("[trimmed to fit the SNS size limit]");
    expect(notification.defaultMessage).toContain("Unexpected principal read");
  });

  it("keeps even a huge summary and event id list within 256 KiB, multi-byte text included", () => {
    const notification = buildFindingNotification(
      groupOf(
        makeFinding({
          summary: "€".repeat(200_000),
          eventIds: Array.from({ length: 20_000 }, (_, i) => `ev-${i}`),
        }),
      ),
      "not paged",
    );

    expect(publishBytes(notification)).toBeLessThanOrEqual(MAX_PUBLISH_BYTES);
    expect(notification.defaultMessage).not.toContain("\uFFFD");
  });

  it("never carries a registered secret value or a secret-bearing field", () => {
    registerSecret("Sup3rS3cret!pw");
    const notification = buildFindingNotification(
      groupOf(
        makeFinding({
          title: "Leak Sup3rS3cret!pw",
          summary: "value Sup3rS3cret!pw",
          details: { password: "other-pass" },
        }),
      ),
      "not paged",
    );

    const everything = JSON.stringify(notification);
    expect(everything).not.toContain("Sup3rS3cret!pw");
    expect(everything).not.toContain("other-pass");
  });
});

describe("chat notification (Amazon Q Developer in chat applications / AWS Chatbot)", () => {
  afterEach(() => clearRegisteredSecrets());

  it("redacts before it truncates: a secret straddling the description's limit leaves no prefix", () => {
    // Arrange: the chat description keeps 3,500 characters; the secret starts 10 before that.
    const secret = "Straddling-Secret-Value-42";
    registerSecret(secret);
    const finding = makeFinding({ summary: `${"x".repeat(3_490)}${secret}` });

    // Act
    const { chatMessage } = buildFindingNotification(groupOf(finding), "not paged");

    // Assert
    expect(chatMessage.content.description).not.toContain("Strad");
  });

  it("is a custom notification threaded by problem, with the runbook and links as next steps", () => {
    const group = groupOf(makeFinding({ severity: "critical" }));

    const { chatMessage } = buildFindingNotification(group, "alert triggered on the paging service");

    expect(chatMessage).toMatchObject({
      version: "1.0",
      source: "custom",
      content: {
        textType: "client-markdown",
        title: ":rotating_light: [CRITICAL] Unexpected principal read algo-trade/prod/ibkr",
        keywords: ["critical", "unexpected-reader", "111122223333", "firing"],
      },
      metadata: {
        threadId: dedupKeyFor(group.groupKey),
        eventType: "unexpected-reader",
        relatedResources: [SECRET_ARN],
      },
    });
    expect(chatMessage.content.description).toContain("*PagerDuty:* alert triggered on the paging service");
    expect(chatMessage.content.nextSteps[0]).toBe(
      "Runbook: https://runbooks.example.com/vigil/unexpected-reader",
    );
  });

  it("keeps a plain-text runbook as a next step", () => {
    const { chatMessage } = buildFindingNotification(
      groupOf(makeFinding({ runbook: "Call the DBA on duty", eventIds: [], secretArn: undefined })),
      "not paged",
    );

    expect(chatMessage.content.nextSteps).toEqual(["Runbook: Call the DBA on duty"]);
  });

  it("travels as the https variant of a JSON message structure, next to the default text", () => {
    const notification = buildFindingNotification(groupOf(makeFinding()), "not paged");

    const parsed = JSON.parse(envelope(notification)) as { default: string; https: string };

    expect(parsed.default).toBe(notification.defaultMessage);
    expect(JSON.parse(parsed.https)).toEqual(notification.chatMessage);
  });
});

describe("buildRotationNotification", () => {
  it("announces the rotation as info with the rotation attributes", () => {
    const notification = buildRotationNotification(makeRotation(), "change event recorded");

    expect(notification.subject).toBe("[ROTATED] algo-trade/prod/ibkr");
    expect(notification.defaultMessage).toContain("New version:  c0ffee00-0000-4000-8000-000000000001");
    expect(notification.attributes).toMatchObject({
      severity: { StringValue: "info" },
      rule: { StringValue: "secret.rotated" },
      secret: { StringValue: SECRET_ARN },
      status: { StringValue: "rotated" },
    });
  });
});

describe("publishNotification", () => {
  const sns = mockClient(SNSClient);
  beforeEach(() => sns.reset());

  it("publishes subject, message and attributes to the topic", async () => {
    sns.on(PublishCommand).resolves({ MessageId: "msg-1" });
    const notification = buildRotationNotification(makeRotation(), "recorded");

    const id = await publishNotification(
      new SNSClient({ region: "us-east-1" }),
      "arn:aws:sns:us-east-1:111122223333:t",
      notification,
    );

    expect(id).toBe("msg-1");
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: "arn:aws:sns:us-east-1:111122223333:t",
      Subject: notification.subject,
      MessageStructure: "json",
      Message: envelope(notification),
      MessageAttributes: notification.attributes,
    });
  });
});
