import { createHash, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { AwsServiceError } from "./errors.ts";
import { decodeAwsChunked } from "./s3-chunked.ts";
import {
  type SandboxRequest,
  type SandboxResponse,
  type ServiceCall,
  type ServiceContext,
  type ServiceFactory,
  type WireProtocol,
  withApi,
} from "./service.ts";
import { escapeXml } from "./sns.ts";

/**
 * Amazon S3 for trail files, path-style (`<endpoint>/<bucket>/<key>`, what the SDK does with
 * `forcePathStyle` and the AWS CLI with `--endpoint-url`): buckets, PutObject, GetObject (streamed, with
 * Range), HeadObject, DeleteObject, ListObjectsV2. The trail bucket receives the sandbox's CloudTrail files
 * and notifies the scanner of every object created in it with a real S3 event.
 */

interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: number;
  contentType: string;
  contentEncoding?: string;
  metadata: Record<string, string>;
}

interface Bucket {
  name: string;
  created: number;
  objects: Map<string, StoredObject>;
}

const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/";
const chunkBytes = 64 * 1024;
const operations = [
  "ListBuckets",
  "CreateBucket",
  "HeadBucket",
  "ListObjectsV2",
  "PutObject",
  "GetObject",
  "HeadObject",
  "DeleteObject",
] as const;
const readOnlyOperations = new Set<string>([
  "ListBuckets",
  "HeadBucket",
  "ListObjectsV2",
  "GetObject",
  "HeadObject",
]);
const managementOperations = new Set<string>(["ListBuckets", "CreateBucket", "HeadBucket"]);

/** The sandbox's S3; creates the trail bucket (`trailBucket`, default "vigil-local-trail") at start. */
export const s3Service = ((context: ServiceContext) => {
  const buckets = new Map<string, Bucket>();
  const trailBucket = context.options.trailBucket ?? "vigil-local-trail";
  const createBucket = (name: string) => {
    if (!buckets.has(name)) buckets.set(name, { name, created: Date.now(), objects: new Map() });
  };
  createBucket(trailBucket);
  const bucketOf = (name: unknown) => {
    const bucket = buckets.get(String(name));
    if (!bucket) throw s3Error("NoSuchBucket", "The specified bucket does not exist", 404);
    return bucket;
  };

  /** Stores an object; in the trail bucket, the scanner hears of it as S3 would tell it. */
  const putObject = (
    bucket: Bucket,
    key: string,
    object: StoredObject,
    principalId: string,
    sourceIp: string,
  ) => {
    bucket.objects.set(key, object);
    if (bucket.name !== trailBucket) return;
    context.scanner.deliver(
      "s3:ObjectCreated:Put",
      `s3://${bucket.name}/${key}`,
      objectCreatedEvent(context.region, bucket.name, key, object, principalId, sourceIp),
    );
  };

  const deliverTrailFiles = async (): Promise<string[]> => {
    const files = await context.trail.trailFiles(`bucket:${trailBucket}`);
    for (const file of files) {
      putObject(
        bucketOf(trailBucket),
        file.key,
        storedObject(file.body, "application/json", {}, "gzip"),
        "AWS:cloudtrail.amazonaws.com",
        "cloudtrail.amazonaws.com",
      );
    }
    return files.map((file) => file.key);
  };
  const interval = context.options.trailDeliveryIntervalMs ?? 0;
  const timer = interval > 0 ? setInterval(() => void deliverTrailFiles(), interval) : undefined;
  timer?.unref();

  const handle = (call: ServiceCall): SandboxResponse => {
    const { bucket: bucketName, key } = call.input as { bucket?: string; key?: string };
    const query = call.input.query as Record<string, string>;
    const headers = call.input.headers as Record<string, string | undefined>;
    if (bucketName) {
      call.resource = key
        ? { type: "AWS::S3::Object", name: `arn:aws:s3:::${bucketName}/${key}` }
        : { type: "AWS::S3::Bucket", name: `arn:aws:s3:::${bucketName}` };
    }
    switch (call.operation) {
      case "ListBuckets":
        return xml(
          `<ListAllMyBucketsResult xmlns="${xmlns}"><Owner><ID>${context.accountId}</ID></Owner><Buckets>${[
            ...buckets.values(),
          ]
            .map(
              (bucket) =>
                `<Bucket><Name>${escapeXml(bucket.name)}</Name><CreationDate>${new Date(bucket.created).toISOString()}</CreationDate></Bucket>`,
            )
            .join("")}</Buckets></ListAllMyBucketsResult>`,
        );
      case "CreateBucket": {
        if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(String(bucketName))) {
          throw s3Error("InvalidBucketName", "The specified bucket is not valid.", 400);
        }
        if (buckets.has(String(bucketName))) {
          throw s3Error(
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
            409,
          );
        }
        createBucket(String(bucketName));
        return { status: 200, headers: { location: `/${bucketName}` } };
      }
      case "HeadBucket":
        bucketOf(bucketName);
        return { status: 200, headers: { "x-amz-bucket-region": context.region } };
      case "ListObjectsV2":
        return listObjects(bucketOf(bucketName), query);
      case "PutObject": {
        const bucket = bucketOf(bucketName);
        const body = decodeAwsChunked(call.input.body as Buffer, headers);
        const metadata = Object.fromEntries(
          Object.entries(headers)
            .filter(([name]) => name.startsWith("x-amz-meta-"))
            .map(([name, value]) => [name.slice("x-amz-meta-".length), String(value)]),
        );
        const contentEncoding = headers["content-encoding"]
          ?.split(",")
          .map((part) => part.trim())
          .filter((part) => part !== "aws-chunked")
          .join(", ");
        const object = storedObject(
          body,
          headers["content-type"] ?? "binary/octet-stream",
          metadata,
          contentEncoding || undefined,
        );
        const principalId = `AWS:${call.identity?.accessKeyId ?? "anonymous"}`;
        putObject(bucket, String(key), object, principalId, call.identity?.sourceIp ?? "127.0.0.1");
        return { status: 200, headers: { etag: object.etag } };
      }
      case "GetObject":
      case "HeadObject": {
        const object = bucketOf(bucketName).objects.get(String(key));
        if (!object) throw s3Error("NoSuchKey", "The specified key does not exist.", 404);
        return objectResponse(object, call.operation === "HeadObject" ? undefined : headers.range);
      }
      case "DeleteObject":
        bucketOf(bucketName).objects.delete(String(key));
        return { status: 204, headers: {} };
      default:
        throw s3Error("NotImplemented", `The sandbox does not implement ${call.operation}.`, 501);
    }
  };

  return withApi(
    {
      name: "s3",
      protocol: s3Protocol,
      operations,
      handle,
      cloudTrail: {
        eventSource: "s3.amazonaws.com",
        readOnly: (operation) => readOnlyOperations.has(operation),
        requestParameters: ({ input }) => ({
          ...(input.bucket ? { bucketName: input.bucket } : {}),
          ...(input.key ? { key: input.key } : {}),
          Host: "s3.amazonaws.com",
        }),
        category: (operation) => (managementOperations.has(operation) ? "Management" : "Data"),
        // A trail does not log data events on its own bucket: reading a trail file would make the next one.
        recorded: (call) =>
          managementOperations.has(call.operation) ||
          (call.input as { bucket?: string }).bucket !== trailBucket,
      },
      faults: {
        throttle: { code: "SlowDown", message: "Please reduce your request rate.", status: 503 },
        server: {
          code: "InternalError",
          message: "We encountered an internal error. Please try again.",
          status: 500,
        },
      },
      views: {
        s3: () =>
          [...buckets.values()].map((bucket) => ({
            name: bucket.name,
            objects: [...bucket.objects.entries()].map(([key, object]) => ({
              key,
              size: object.body.length,
              etag: object.etag,
              lastModified: new Date(object.lastModified).toISOString(),
            })),
          })),
      },
      controls: {
        /** Delivers the records not yet delivered to the trail bucket now (CloudTrail does so every ~5 minutes). */
        "cloudtrail/deliver": async () => ({ delivered: await deliverTrailFiles() }),
      },
      stop: () => clearInterval(timer),
    },
    { trailBucket, deliverTrailFiles },
  );
}) satisfies ServiceFactory;

/** S3's REST protocol, path-style; a request is S3's when it is signed for the "s3" service. */
const s3Protocol: WireProtocol = {
  signed: true,
  missingAuthenticationCode: "AccessDenied",
  operationOf(request: SandboxRequest): string | undefined {
    const scope =
      /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\//.exec(String(request.headers.authorization ?? ""))?.[1] ??
      request.url.searchParams.get("X-Amz-Credential")?.split("/")[3];
    if (scope !== "s3") return undefined;
    const { bucket, key } = splitPath(request.url.pathname);
    const method = request.method;
    if (!bucket) return method === "GET" ? "ListBuckets" : `${method}Service`;
    if (!key) {
      if (method === "PUT") return "CreateBucket";
      if (method === "HEAD") return "HeadBucket";
      if (method === "GET" && request.url.searchParams.get("list-type") === "2") return "ListObjectsV2";
      return `${method}Bucket`;
    }
    if (method === "PUT" && !request.headers["x-amz-copy-source"]) return "PutObject";
    if (method === "GET") return "GetObject";
    if (method === "HEAD") return "HeadObject";
    if (method === "DELETE") return "DeleteObject";
    return `${method}Object`;
  },
  decode(request: SandboxRequest): Record<string, unknown> {
    return {
      ...splitPath(request.url.pathname),
      query: Object.fromEntries(request.url.searchParams),
      headers: request.headers,
      body: request.body,
    };
  },
  encode(output: unknown, requestId: string): SandboxResponse {
    const response = output as SandboxResponse;
    return { ...response, headers: { ...response.headers, "x-amz-request-id": requestId } };
  },
  encodeError(error: AwsServiceError, requestId: string): SandboxResponse {
    return {
      status: error.status,
      headers: { "content-type": "application/xml", "x-amz-request-id": requestId },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message><RequestId>${requestId}</RequestId></Error>`,
    };
  },
};

function s3Error(code: string, message: string, status: number): AwsServiceError {
  return new AwsServiceError(code, message, status);
}

/** "/bucket/some/key" -> bucket and key (decoded; a key keeps its slashes). */
function splitPath(pathname: string): { bucket?: string; key?: string } {
  const [, bucket = "", ...rest] = pathname.split("/");
  const key = rest.join("/");
  return {
    ...(bucket ? { bucket: decodeURIComponent(bucket) } : {}),
    ...(key ? { key: decodeURIComponent(key) } : {}),
  };
}

function storedObject(
  body: Buffer,
  contentType: string,
  metadata: Record<string, string>,
  contentEncoding?: string,
): StoredObject {
  return {
    body,
    etag: `"${createHash("md5").update(body).digest("hex")}"`,
    lastModified: Date.now(),
    contentType,
    metadata,
    ...(contentEncoding ? { contentEncoding } : {}),
  };
}

function xml(body: string): SandboxResponse {
  return {
    status: 200,
    headers: { "content-type": "application/xml" },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}`,
  };
}

/** GetObject/HeadObject headers, and the body streamed in chunks (one `bytes=a-b` Range honoured). */
function objectResponse(object: StoredObject, range: string | undefined): SandboxResponse {
  const headers: Record<string, string> = {
    "content-type": object.contentType,
    etag: object.etag,
    "last-modified": new Date(object.lastModified).toUTCString(),
    "accept-ranges": "bytes",
    ...(object.contentEncoding ? { "content-encoding": object.contentEncoding } : {}),
    ...Object.fromEntries(
      Object.entries(object.metadata).map(([name, value]) => [`x-amz-meta-${name}`, value]),
    ),
  };
  let start = 0;
  let end = object.body.length - 1;
  let status = 200;
  const match = range ? /^bytes=(\d*)-(\d*)$/.exec(range) : null;
  if (match && (match[1] || match[2])) {
    start = match[1] ? Number(match[1]) : Math.max(0, object.body.length - Number(match[2]));
    end = match[1] && match[2] ? Math.min(Number(match[2]), end) : end;
    if (start > end) throw s3Error("InvalidRange", "The requested range is not satisfiable", 416);
    status = 206;
    headers["content-range"] = `bytes ${start}-${end}/${object.body.length}`;
  }
  headers["content-length"] = String(end - start + 1);
  const slice = object.body.subarray(start, end + 1);
  return { status, headers, body: Readable.from(chunks(slice)) };
}

function* chunks(body: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < body.length; offset += chunkBytes)
    yield body.subarray(offset, offset + chunkBytes);
}

/** ListObjectsV2: prefix, delimiter (CommonPrefixes), start-after, max-keys, continuation-token, encoding-type=url. */
function listObjects(bucket: Bucket, query: Record<string, string>): SandboxResponse {
  const prefix = query.prefix ?? "";
  const delimiter = query.delimiter ?? "";
  const maxKeys = Math.min(1000, Math.max(0, Number(query["max-keys"] ?? 1000) || 0));
  const after = query["continuation-token"]
    ? Buffer.from(query["continuation-token"], "base64").toString("utf8")
    : (query["start-after"] ?? "");
  const encode =
    query["encoding-type"] === "url"
      ? (value: string) => encodeURIComponent(value).replace(/%2F/g, "/")
      : (value: string) => value;
  const entries: ({ key: string; object: StoredObject } | { commonPrefix: string })[] = [];
  const seenPrefixes = new Set<string>();
  for (const key of [...bucket.objects.keys()].sort()) {
    if (!key.startsWith(prefix) || key <= after) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (cut >= 0) {
      const commonPrefix = key.slice(0, cut + delimiter.length);
      if (seenPrefixes.has(commonPrefix) || commonPrefix <= after) continue;
      seenPrefixes.add(commonPrefix);
      entries.push({ commonPrefix });
    } else {
      entries.push({ key, object: bucket.objects.get(key)! });
    }
  }
  const page = entries.slice(0, maxKeys);
  const truncated = entries.length > page.length;
  const last = page.at(-1);
  const lastName = last ? ("key" in last ? last.key : last.commonPrefix) : "";
  const contents = page
    .map((entry) =>
      "key" in entry
        ? `<Contents><Key>${escapeXml(encode(entry.key))}</Key><LastModified>${new Date(entry.object.lastModified).toISOString()}</LastModified><ETag>${escapeXml(entry.object.etag)}</ETag><Size>${entry.object.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`
        : `<CommonPrefixes><Prefix>${escapeXml(encode(entry.commonPrefix))}</Prefix></CommonPrefixes>`,
    )
    .join("");
  return xml(
    `<ListBucketResult xmlns="${xmlns}"><Name>${escapeXml(bucket.name)}</Name><Prefix>${escapeXml(encode(prefix))}</Prefix>` +
      (delimiter ? `<Delimiter>${escapeXml(encode(delimiter))}</Delimiter>` : "") +
      `<MaxKeys>${maxKeys}</MaxKeys><KeyCount>${page.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>` +
      (query["encoding-type"] === "url" ? "<EncodingType>url</EncodingType>" : "") +
      (query["continuation-token"]
        ? `<ContinuationToken>${escapeXml(query["continuation-token"])}</ContinuationToken>`
        : "") +
      (truncated
        ? `<NextContinuationToken>${Buffer.from(lastName).toString("base64")}</NextContinuationToken>`
        : "") +
      `${contents}</ListBucketResult>`,
  );
}

/** The S3 event notification S3 sends for a new object (event structure version 2.1). */
function objectCreatedEvent(
  region: string,
  bucket: string,
  key: string,
  object: StoredObject,
  principalId: string,
  sourceIp: string,
): { Records: Record<string, unknown>[] } {
  return {
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: region,
        eventTime: new Date(object.lastModified).toISOString(),
        eventName: "ObjectCreated:Put",
        userIdentity: { principalId },
        requestParameters: { sourceIPAddress: sourceIp },
        responseElements: {
          "x-amz-request-id": randomUUID().replace(/-/g, "").slice(0, 16).toUpperCase(),
          "x-amz-id-2": randomUUID(),
        },
        s3: {
          s3SchemaVersion: "1.0",
          configurationId: "vigil-trail-scanner",
          bucket: { name: bucket, ownerIdentity: { principalId }, arn: `arn:aws:s3:::${bucket}` },
          object: {
            // S3 URL-encodes the key in notifications, with "+" for a space.
            key: encodeURIComponent(key).replace(/%2F/g, "/").replace(/%20/g, "+"),
            size: object.body.length,
            eTag: object.etag.replace(/"/g, ""),
            sequencer: object.lastModified.toString(16).toUpperCase().padStart(16, "0"),
          },
        },
      },
    ],
  };
}
