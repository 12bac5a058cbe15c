import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;
let s3: S3Client;
let delivered: unknown[];

beforeAll(async () => {
  sandbox = await startSandbox({
    scannerLambda: async (event: unknown) => {
      delivered.push(event);
    },
  });
  s3 = new S3Client({ ...sandbox.clientConfig(), forcePathStyle: true, maxAttempts: 1 });
  await s3.send(new CreateBucketCommand({ Bucket: "uploads" }));
});

beforeEach(() => {
  delivered = [];
});

afterAll(async () => {
  s3.destroy();
  await sandbox.stop();
});

describe("objects", () => {
  it("stores an object and streams it back with its type, ETag and metadata", async () => {
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: "uploads",
        Key: "reports/one.json",
        Body: '{"a":1}',
        ContentType: "application/json",
        Metadata: { origin: "test" },
      }),
    );

    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "reports/one.json" }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "reports/one.json" }));

    expect(await got.Body?.transformToString()).toBe('{"a":1}');
    expect(got).toMatchObject({
      ContentType: "application/json",
      ETag: put.ETag,
      Metadata: { origin: "test" },
    });
    expect(head).toMatchObject({ ContentLength: 7, ETag: put.ETag });
  });

  it("decodes a streamed upload sent with aws-chunked encoding and a trailing checksum", async () => {
    const body = Buffer.alloc(200_000, "trail");

    await s3.send(
      new PutObjectCommand({
        Bucket: "uploads",
        Key: "streamed.bin",
        Body: Readable.from([body]),
        ContentLength: body.length,
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "streamed.bin" }));

    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it("serves a byte range", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "range.txt", Body: "0123456789" }));

    const got = await s3.send(
      new GetObjectCommand({ Bucket: "uploads", Key: "range.txt", Range: "bytes=2-5" }),
    );

    expect(await got.Body?.transformToString()).toBe("2345");
    expect(got.ContentRange).toBe("bytes 2-5/10");
  });

  it("answers NoSuchKey, NotFound for a HEAD, and NoSuchBucket", async () => {
    await expect(s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "missing" }))).rejects.toBeInstanceOf(
      NoSuchKey,
    );
    await expect(
      s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "missing" })),
    ).rejects.toBeInstanceOf(NotFound);
    await expect(s3.send(new GetObjectCommand({ Bucket: "nope", Key: "x" }))).rejects.toBeInstanceOf(
      NoSuchBucket,
    );
  });
});

describe("ListObjectsV2", () => {
  it("lists by prefix and delimiter, and pages with a continuation token", async () => {
    for (const key of ["logs/a/1", "logs/a/2", "logs/b/1", "logs/c", "other"]) {
      await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: key, Body: key }));
    }

    const folders = await s3.send(
      new ListObjectsV2Command({ Bucket: "uploads", Prefix: "logs/", Delimiter: "/" }),
    );
    const first = await s3.send(new ListObjectsV2Command({ Bucket: "uploads", Prefix: "logs/", MaxKeys: 2 }));
    const second = await s3.send(
      new ListObjectsV2Command({
        Bucket: "uploads",
        Prefix: "logs/",
        ContinuationToken: first.NextContinuationToken,
      }),
    );

    expect(folders.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["logs/a/", "logs/b/"]);
    expect(folders.Contents?.map((object) => object.Key)).toEqual(["logs/c"]);
    expect(first.Contents?.map((object) => object.Key)).toEqual(["logs/a/1", "logs/a/2"]);
    expect(first.IsTruncated).toBe(true);
    expect(second.Contents?.map((object) => object.Key)).toEqual(["logs/b/1", "logs/c"]);
    expect(second.IsTruncated).toBe(false);
  });
});

describe("the trail bucket", () => {
  it("receives the sandbox's CloudTrail as gzipped trail files in the S3 layout", async () => {
    const secrets = new SecretsManagerClient(sandbox.clientConfig());
    await secrets.send(
      new CreateSecretCommand({ Name: "trail/delivered", SecretString: "value-not-in-trail" }),
    );
    secrets.destroy();

    const keys = await sandbox.deliverTrailFiles();
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: sandbox.env.TRAIL_BUCKET_NAME, Prefix: "AWSLogs/" }),
    );
    const file = await s3.send(new GetObjectCommand({ Bucket: sandbox.env.TRAIL_BUCKET_NAME, Key: keys[0] }));
    const records = JSON.parse(gunzipSync(await file.Body!.transformToByteArray()).toString("utf8")) as {
      Records: { eventName: string }[];
    };

    expect(sandbox.env.TRAIL_BUCKET_NAME).toBe("vigil-local-trail");
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(
      /^AWSLogs\/111122223333\/CloudTrail\/us-east-1\/\d{4}\/\d{2}\/\d{2}\/111122223333_CloudTrail_us-east-1_\d{8}T\d{4}Z_[0-9a-f]{16}\.json\.gz$/,
    );
    expect(listed.Contents?.map((object) => object.Key)).toContain(keys[0]);
    expect(records.Records.map((record) => record.eventName)).toContain("CreateSecret");
    expect(JSON.stringify(records)).not.toContain("value-not-in-trail");
    expect(await sandbox.deliverTrailFiles()).toEqual([]);
  });

  it("notifies the scanner of each new trail file with an S3 ObjectCreated event it can fetch", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "not-the-trail", Body: "x" }));
    const [key] = await sandbox.deliverTrailFiles();
    await sandbox.scannerSettled();

    const s3Events = delivered.filter((event) => JSON.stringify(event).includes('"aws:s3"'));
    expect(s3Events).toEqual([
      {
        Records: [
          expect.objectContaining({
            eventVersion: "2.1",
            eventSource: "aws:s3",
            eventName: "ObjectCreated:Put",
            awsRegion: "us-east-1",
            s3: expect.objectContaining({
              bucket: expect.objectContaining({
                name: "vigil-local-trail",
                arn: "arn:aws:s3:::vigil-local-trail",
              }),
              object: expect.objectContaining({ key, size: expect.any(Number), eTag: expect.any(String) }),
            }),
          }),
        ],
      },
    ]);
    expect(sandbox.scannerInvocations().at(-1)).toMatchObject({
      kind: "s3:ObjectCreated:Put",
      subject: `s3://vigil-local-trail/${key}`,
      status: "succeeded",
    });
  });

  it("does not log data events on its own bucket, so reading a trail file makes no new one", async () => {
    await sandbox.deliverTrailFiles();
    const [key] = (await s3.send(new ListObjectsV2Command({ Bucket: "vigil-local-trail" }))).Contents!.map(
      (o) => o.Key!,
    );
    const before = sandbox.cloudTrailRecords().length;

    await s3.send(new GetObjectCommand({ Bucket: "vigil-local-trail", Key: key }));

    expect(sandbox.cloudTrailRecords().length).toBe(before);
  });
});
