import { AwsServiceError } from "./errors.ts";
import type { SandboxRequest, SandboxResponse, WireProtocol } from "./service.ts";

/** Options of the AWS JSON protocol: the `X-Amz-Target` a service answers and the JSON version it speaks. */
export interface AwsJsonOptions {
  version: "1.0" | "1.1";
  /** "secretsmanager." (a prefix before the operation) or a pattern whose first group is the operation. */
  target: string | RegExp;
  /** SQS's awsQueryCompatible errors also carry `x-amzn-query-error: Code;Sender|Receiver`. */
  queryCompatible?: boolean;
}

/** The AWS JSON 1.0/1.1 protocol: POST, `X-Amz-Target: <prefix>.<Operation>`, a JSON body both ways. */
export function awsJson(options: AwsJsonOptions): WireProtocol {
  const contentType = `application/x-amz-json-${options.version}`;
  return {
    signed: true,
    operationOf(request: SandboxRequest): string | undefined {
      const target = String(request.headers["x-amz-target"] ?? "");
      if (typeof options.target === "string") {
        return target.startsWith(options.target) ? target.slice(options.target.length) : undefined;
      }
      return options.target.exec(target)?.[1];
    },
    decode(request: SandboxRequest): Record<string, unknown> {
      const body = request.body.toString("utf8");
      if (body.trim() === "") return {};
      try {
        return JSON.parse(body) as Record<string, unknown>;
      } catch {
        throw new AwsServiceError(
          "SerializationException",
          "Start of structure or map found where not expected.",
        );
      }
    },
    encode(output: unknown, requestId: string): SandboxResponse {
      return {
        status: 200,
        headers: { "content-type": contentType, "x-amzn-requestid": requestId },
        body: JSON.stringify(output),
      };
    },
    encodeError(error: AwsServiceError, requestId: string): SandboxResponse {
      const headers: Record<string, string> = {
        "content-type": contentType,
        "x-amzn-requestid": requestId,
        "x-amzn-errortype": error.code,
      };
      if (options.queryCompatible) {
        headers["x-amzn-query-error"] =
          `${error.queryCode ?? error.code.replace(/^.*#/, "")};${error.status >= 500 ? "Receiver" : "Sender"}`;
      }
      return {
        status: error.status,
        headers,
        body: JSON.stringify({ __type: error.code, message: error.message }),
      };
    },
  };
}
