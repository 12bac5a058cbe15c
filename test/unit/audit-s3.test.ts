import { describe, expect, it } from "vitest";
import { decodeS3Key, trailKeyInfo, trailObjectsOf } from "../../functions/audit-scan/sources/s3.ts";

const KEY =
  "AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T1200Z_abc.json.gz";
const ORG_KEY =
  "trails/AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail/eu-west-1/2026/12/01/444455556666_CloudTrail_eu-west-1_20261201T1200Z_def.json.gz";

function s3Event(key: string, eventName = "ObjectCreated:Put") {
  return {
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        eventName,
        s3: { bucket: { name: "trail-bucket" }, object: { key, size: 1234 } },
      },
    ],
  };
}

describe("trailKeyInfo", () => {
  it("reads the account and region of a trail file", () => {
    expect(trailKeyInfo(KEY)).toEqual({
      account: "111122223333",
      region: "us-east-1",
      organisationId: undefined,
    });
  });

  it("reads an organisation trail's member account under a prefix", () => {
    expect(trailKeyInfo(ORG_KEY)).toEqual({
      organisationId: "o-a1b2c3d4e5",
      account: "444455556666",
      region: "eu-west-1",
    });
  });

  it("rejects digests and other objects", () => {
    expect(
      trailKeyInfo(
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/12/01/x_CloudTrail-Digest_y.json.gz",
      ),
    ).toBeUndefined();
    expect(trailKeyInfo("AWSLogs/111122223333/CloudTrail/us-east-1/2026/12/01/notes.txt")).toBeUndefined();
  });
});

describe("decodeS3Key", () => {
  it("decodes the URL encoding S3 notifications use, + for a space", () => {
    expect(decodeS3Key("my+prefix/a%3Ab.json.gz")).toBe("my prefix/a:b.json.gz");
  });
});

describe("trailObjectsOf", () => {
  it("reads a direct S3 notification", () => {
    expect(trailObjectsOf(s3Event(KEY))).toEqual({
      objects: [{ bucket: "trail-bucket", key: KEY, size: 1234, messageId: undefined }],
      ignored: 0,
    });
  });

  it("reads S3 notifications inside SQS messages, keeping each message id", () => {
    const event = {
      Records: [
        { eventSource: "aws:sqs", messageId: "m1", body: JSON.stringify(s3Event(KEY)) },
        { eventSource: "aws:sqs", messageId: "m2", body: JSON.stringify(s3Event(ORG_KEY)) },
      ],
    };

    expect(trailObjectsOf(event)?.objects.map((object) => [object.messageId, object.key])).toEqual([
      ["m1", KEY],
      ["m2", ORG_KEY],
    ]);
  });

  it("reads an S3 notification published to SNS and delivered to SQS", () => {
    const sns = { Type: "Notification", MessageId: "n1", Message: JSON.stringify(s3Event(KEY)) };
    const event = { Records: [{ eventSource: "aws:sqs", messageId: "m1", body: JSON.stringify(sns) }] };

    expect(trailObjectsOf(event)?.objects.map((object) => object.key)).toEqual([KEY]);
  });

  it("reads EventBridge's S3 Object Created event", () => {
    const event = {
      "detail-type": "Object Created",
      source: "aws.s3",
      detail: { bucket: { name: "trail-bucket" }, object: { key: KEY, size: 10 } },
    };

    expect(trailObjectsOf(event)?.objects).toEqual([{ bucket: "trail-bucket", key: KEY, size: 10 }]);
  });

  it("counts digests, deletions, test events and unreadable messages as ignored", () => {
    const event = {
      Records: [
        {
          eventSource: "aws:sqs",
          messageId: "m1",
          body: JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent" }),
        },
        {
          eventSource: "aws:sqs",
          messageId: "m2",
          body: JSON.stringify(s3Event(KEY, "ObjectRemoved:Delete")),
        },
        {
          eventSource: "aws:sqs",
          messageId: "m3",
          body: JSON.stringify(s3Event("AWSLogs/1/CloudTrail-Digest/x.json.gz")),
        },
        { eventSource: "aws:sqs", messageId: "m4", body: "not json" },
      ],
    };

    expect(trailObjectsOf(event)).toEqual({ objects: [], ignored: 3 });
  });

  it("is undefined for an event that is no S3 notification", () => {
    expect(trailObjectsOf({ task: "lookup-sweep" })).toBeUndefined();
    expect(trailObjectsOf({ Records: [{ eventSource: "aws:dynamodb" }] })).toBeUndefined();
  });
});
