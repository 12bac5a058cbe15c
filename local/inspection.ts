import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SandboxError } from "./errors.ts";
import type { SandboxRequest, SandboxResponse } from "./service.ts";

/**
 * The inspection and control API under `/_sandbox`: GET a view, POST a JSON body to a control, DELETE to
 * clear. Views and controls come from the sandbox and its services (`SandboxService.views/controls`).
 */
export async function serveInspection(
  request: SandboxRequest,
  api: {
    views: Record<string, () => unknown>;
    controls: Record<string, (body: unknown) => unknown>;
    removals: Record<string, () => unknown>;
  },
): Promise<SandboxResponse> {
  const json = (status: number, value: unknown): SandboxResponse => ({
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(value, null, 2),
  });
  const path = request.url.pathname.replace(/\/+$/, "").replace(/^\/_sandbox\/?/, "");
  if (request.method === "GET") {
    const view = api.views[path];
    if (view) return json(200, await view());
    const known = Object.keys(api.views).filter(Boolean).map(inspectionPath);
    return json(404, { message: `no such view; try ${known.join(", ")}` });
  }
  const removal = api.removals[path];
  if (request.method === "DELETE" && removal) return json(200, await removal());
  const control = api.controls[path];
  if (request.method === "POST" && control) {
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString("utf8"));
    } catch {
      return json(400, {
        message: `POST /_sandbox/${path}: the body must be JSON (got ${request.body.length} bytes that do not parse)`,
      });
    }
    try {
      return json(200, await control(body));
    } catch (error) {
      if (error instanceof SandboxError) return json(400, { message: error.message });
      throw error;
    }
  }
  return json(405, { message: `${request.method} ${request.url.pathname} is not supported` });
}

/** "/_sandbox" for the index, "/_sandbox/<key>" for a view. */
export function inspectionPath(key: string): string {
  return key === "" ? "/_sandbox" : `/_sandbox/${key}`;
}

/** The whole body of a request. */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Writes an answer; a stream body is piped, and a HEAD answer has no body. */
export async function writeResponse(
  response: ServerResponse,
  method: string,
  answer: SandboxResponse,
): Promise<void> {
  response.writeHead(answer.status, answer.headers);
  const body = answer.body;
  if (method === "HEAD" || body === undefined) {
    if (body instanceof Readable) body.destroy();
    response.end();
    return;
  }
  if (body instanceof Readable) {
    await pipeline(body, response);
    return;
  }
  response.end(body);
}
