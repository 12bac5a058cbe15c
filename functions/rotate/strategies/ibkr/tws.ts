import { connect, type Socket } from "node:net";
import { VigilError } from "../../../../lib/errors.ts";

/**
 * A TWS API client that does the IB Gateway / TWS connection handshake and nothing else: version
 * negotiation, START_API, then waits for MANAGED_ACCTS and NEXT_VALID_ID. The TWS API never carries
 * IBKR credentials, so this cannot attempt a login (no lockout risk). It is deliberately not a trading
 * client: see docs/ibkr.md for why this is not @stoqey/ib.
 */

export interface TwsHandshakeOptions {
  host: string;
  port: number;
  /** Must be unique per gateway: a client id already connected is refused with error 326. */
  clientId: number;
  /** Overall budget for connect + handshake. */
  timeoutMs: number;
}

export interface TwsHandshakeResult {
  serverVersion: number;
  /** The gateway's "yyyymmdd hh:mm:ss zone" connection time, as sent. */
  connectionTime: string;
  managedAccounts: string[];
  nextValidId: number;
  /** Informational messages (e.g. 2104 "market data farm connection is OK") seen during the handshake. */
  notices: { code: number; message: string }[];
}

/** Why the handshake failed; `reason` lets callers explain the next step without parsing messages. */
export type TwsFailureReason =
  | "unreachable"
  | "timeout"
  | "closed"
  | "client-id-in-use"
  | "gateway-error"
  | "unsupported-version"
  | "protocol";

/** Thrown when the gateway cannot be reached or does not complete the handshake. */
export class TwsHandshakeError extends VigilError {
  constructor(
    readonly reason: TwsFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TwsHandshakeError";
  }
}

// Message ids and versions of the TWS API (EClient / EDecoder constants).
const START_API = 71;
const START_API_VERSION = 2;
const ERR_MSG = 4;
const NEXT_VALID_ID = 9;
const MANAGED_ACCTS = 15;

/**
 * Client protocol range we offer. 100 is the first "v100+" version (4-byte length framing for every
 * message); 176 is well below the versions where messages switch to protobuf (201+), so every message
 * the handshake needs stays in the plain NUL-separated text form.
 */
export const MIN_CLIENT_VERSION = 100;
export const MAX_CLIENT_VERSION = 176;
// From this server version ERR_MSG drops its version field and carries an error time.
const MIN_SERVER_VERSION_ERROR_TIME = 194;
// Error codes 2100-2199 are notices about farm connections, never failures.
const isNotice = (code: number) => code >= 2100 && code < 2200;
const CLIENT_ID_IN_USE = 326;
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Frames one message: 4-byte big-endian length, then NUL-terminated fields. */
export function encodeTwsMessage(fields: readonly (string | number)[]): Buffer {
  const payload = Buffer.from(fields.map((field) => `${field}\0`).join(""), "utf8");
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** The first bytes a client sends: "API\0" then the length-prefixed "v<min>..<max>" range. */
export function encodeTwsGreeting(min = MIN_CLIENT_VERSION, max = MAX_CLIENT_VERSION): Buffer {
  const range = Buffer.from(`v${min}..${max}`, "latin1");
  const header = Buffer.alloc(4);
  header.writeUInt32BE(range.length, 0);
  return Buffer.concat([Buffer.from("API\0", "latin1"), header, range]);
}

/**
 * Splits complete length-prefixed messages off the front of `buffer`; returns them as field lists and
 * the unconsumed rest. Throws on an absurd length (not a TWS peer).
 */
export function decodeTwsMessages(buffer: Buffer): { messages: string[][]; rest: Buffer } {
  const messages: string[][] = [];
  let offset = 0;
  while (buffer.length - offset >= 4) {
    const length = buffer.readUInt32BE(offset);
    if (length > MAX_MESSAGE_BYTES) {
      throw new TwsHandshakeError("protocol", `message length ${length} is not plausible for the TWS API`);
    }
    if (buffer.length - offset - 4 < length) break;
    const fields = buffer
      .subarray(offset + 4, offset + 4 + length)
      .toString("utf8")
      .split("\0");
    // Fields are NUL-terminated, so the last element is the empty rest after the final NUL.
    if (fields.at(-1) === "") fields.pop();
    messages.push(fields);
    offset += 4 + length;
  }
  return { messages, rest: buffer.subarray(offset) };
}

/** Parses ERR_MSG fields into (request id, code, message) for either layout. */
function parseError(fields: readonly string[], serverVersion: number) {
  const base = serverVersion >= MIN_SERVER_VERSION_ERROR_TIME ? 1 : 2;
  return {
    requestId: Number(fields[base]),
    code: Number(fields[base + 1]),
    message: fields[base + 2] ?? "",
  };
}

/**
 * Connects, negotiates, sends START_API with `clientId` and resolves once the gateway has sent both
 * MANAGED_ACCTS and NEXT_VALID_ID (the point at which a TWS API client is "ready"), then disconnects.
 */
export function twsHandshake(options: TwsHandshakeOptions): Promise<TwsHandshakeResult> {
  const { host, port, clientId, timeoutMs } = options;
  const where = `${host}:${port}`;
  return new Promise((resolve, reject) => {
    let socket: Socket | undefined;
    let settled = false;
    let buffer: Buffer = Buffer.alloc(0);
    let serverVersion = 0;
    let connectionTime = "";
    let managedAccounts: string[] | undefined;
    let nextValidId: number | undefined;
    const notices: TwsHandshakeResult["notices"] = [];
    const errors: string[] = [];

    const finish = (outcome: { result: TwsHandshakeResult } | { error: TwsHandshakeError }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.removeAllListeners("data");
      socket?.destroy();
      if ("error" in outcome) reject(outcome.error);
      else resolve(outcome.result);
    };
    const fail = (reason: TwsFailureReason, message: string, cause?: unknown) =>
      finish({ error: new TwsHandshakeError(reason, message, cause === undefined ? undefined : { cause }) });

    const timer = setTimeout(() => {
      const stage =
        serverVersion === 0
          ? "the version negotiation"
          : managedAccounts === undefined
            ? "the managed accounts list"
            : "the next valid order id";
      const seen = errors.length > 0 ? ` (gateway said: ${errors.join("; ")})` : "";
      fail("timeout", `TWS API gateway at ${where} did not complete ${stage} within ${timeoutMs} ms${seen}`);
    }, timeoutMs);

    const onMessage = (fields: string[]) => {
      if (serverVersion === 0) {
        // The first reply is [server version, connection time]; nothing else is framed before it.
        const version = Number(fields[0]);
        if (!Number.isInteger(version) || version <= 0) {
          fail("protocol", `TWS API gateway at ${where} answered the greeting with "${fields[0]}"`);
          return;
        }
        if (version < MIN_CLIENT_VERSION) {
          fail(
            "unsupported-version",
            `TWS API gateway at ${where} speaks server version ${version}; at least ${MIN_CLIENT_VERSION} is needed (update IB Gateway)`,
          );
          return;
        }
        serverVersion = version;
        connectionTime = fields[1] ?? "";
        // The trailing empty field is the optional-capabilities string (none).
        socket?.write(encodeTwsMessage([START_API, START_API_VERSION, clientId, ""]));
        return;
      }
      const messageId = Number(fields[0]);
      if (messageId === MANAGED_ACCTS) {
        managedAccounts = (fields[2] ?? "")
          .split(",")
          .map((account) => account.trim())
          .filter(Boolean);
      } else if (messageId === NEXT_VALID_ID) {
        nextValidId = Number(fields[2]);
      } else if (messageId === ERR_MSG) {
        const error = parseError(fields, serverVersion);
        if (isNotice(error.code)) {
          notices.push({ code: error.code, message: error.message });
        } else if (error.code === CLIENT_ID_IN_USE) {
          fail(
            "client-id-in-use",
            `TWS API gateway at ${where} refused client id ${clientId}: already in use (error 326)`,
          );
          return;
        } else {
          errors.push(`${error.code} ${error.message}`);
        }
      }
      if (managedAccounts !== undefined && nextValidId !== undefined) {
        finish({
          result: { serverVersion, connectionTime, managedAccounts, nextValidId, notices },
        });
      }
    };

    socket = connect({ host, port });
    socket.setNoDelay(true);
    socket.on("connect", () => socket?.write(encodeTwsGreeting()));
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      let decoded: ReturnType<typeof decodeTwsMessages>;
      try {
        decoded = decodeTwsMessages(buffer);
      } catch (error) {
        fail("protocol", `TWS API gateway at ${where}: ${(error as Error).message}`, error);
        return;
      }
      buffer = decoded.rest;
      for (const message of decoded.messages) {
        onMessage(message);
        if (settled) return;
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      const code = error.code ?? "socket error";
      if (["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"].includes(code)) {
        fail("unreachable", `TWS API gateway at ${where} is unreachable (${code})`, error);
      } else {
        fail("closed", `TWS API connection to ${where} failed (${code})`, error);
      }
    });
    socket.on("close", () => {
      const seen = errors.length > 0 ? `: ${errors.join("; ")}` : "";
      if (serverVersion === 0) {
        // Gateways drop clients silently, e.g. when the API is disabled or the IP is not trusted.
        fail(
          "closed",
          `TWS API gateway at ${where} closed the connection before the version negotiation (is the API enabled and this address a trusted IP?)${seen}`,
        );
      } else {
        fail(
          errors.length > 0 ? "gateway-error" : "closed",
          `TWS API gateway at ${where} closed the connection before listing the managed accounts${seen}`,
        );
      }
    });
  });
}
