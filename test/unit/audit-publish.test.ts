import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { batchBodies, publishFindings } from "../../functions/audit-scan/publish.ts";
import { PublishFindingsError } from "../../functions/audit-scan/sources/errors.ts";
import type { Finding } from "../../lib/finding.ts";
import { makeFinding } from "../helpers/notify-fixtures.ts";

const QUEUE = "https://sqs.us-east-1.amazonaws.com/111122223333/vigil-test-findings";
const sqs = mockClient(SQSClient);
const noWait = { now: () => 0, sleep: async () => undefined };
const findings = (count: number): Finding[] =>
  Array.from({ length: count }, (_, index) => makeFinding({ id: `f${index}`, groupKey: `g${index}` }));
const options = () => ({ sqs: new SQSClient({ region: "us-east-1" }), queueUrl: QUEUE, clock: noWait });

beforeEach(() => sqs.reset());

describe("batchBodies", () => {
  it("puts at most 10 bodies in a batch", () => {
    expect(batchBodies(Array.from({ length: 23 }, () => "{}")).map((batch) => batch.length)).toEqual([
      10, 10, 3,
    ]);
  });

  it("starts a new batch before 256 KiB", () => {
    const big = "x".repeat(100 * 1024);

    expect(batchBodies([big, big, big]).map((batch) => batch.length)).toEqual([2, 1]);
  });
});

describe("publishFindings", () => {
  it("sends 25 findings in three SendMessageBatch calls, each body one finding", async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input) => ({
      Successful: input.Entries.map((entry: { Id: string }) => ({ Id: entry.Id })),
    }));

    const sent = await publishFindings(findings(25), options());

    expect(sent).toBe(25);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 3);
    const first = sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input;
    expect(first.QueueUrl).toBe(QUEUE);
    expect(JSON.parse(first.Entries![0]!.MessageBody!)).toMatchObject({ id: "f0", groupKey: "g0" });
  });

  it("sends again only the entries SQS failed on its side", async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: "0", MessageId: "m0", MD5OfMessageBody: "" }],
        Failed: [{ Id: "1", Code: "InternalError", SenderFault: false }],
      })
      .resolves({ Successful: [{ Id: "1", MessageId: "m1", MD5OfMessageBody: "" }] });

    const sent = await publishFindings(findings(2), options());

    expect(sent).toBe(2);
    const retry = sqs.commandCalls(SendMessageBatchCommand)[1]!.args[0].input;
    expect(retry.Entries!.map((entry) => JSON.parse(entry.MessageBody!).id)).toEqual(["f1"]);
  });

  it("throws PublishFindingsError when SQS refuses an entry as the sender's fault", async () => {
    sqs.on(SendMessageBatchCommand).resolves({
      Failed: [{ Id: "0", Code: "InvalidMessageContents", SenderFault: true, Message: "bad" }],
    });

    await expect(publishFindings(findings(1), options())).rejects.toThrow(
      new PublishFindingsError("the findings queue refused a finding: InvalidMessageContents bad"),
    );
  });

  it("gives up after the last attempt when SQS keeps failing entries", async () => {
    sqs
      .on(SendMessageBatchCommand)
      .resolves({ Failed: [{ Id: "0", Code: "InternalError", SenderFault: false }] });

    await expect(publishFindings(findings(1), { ...options(), maxAttempts: 3 })).rejects.toThrow(
      "1 finding(s) still not on the findings queue after 3 attempts: InternalError",
    );
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 3);
  });

  it("sends nothing for no findings", async () => {
    expect(await publishFindings([], options())).toBe(0);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageBatchCommand, 0);
  });
});
