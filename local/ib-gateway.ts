import { createServer, type Server, type Socket } from "node:net";
import { LOOPBACK, listenOnLoopback } from "./loopback.ts";

/**
 * A TWS API peer that answers the IB Gateway connection handshake and nothing else: version
 * negotiation, START_API, then MANAGED_ACCTS and NEXT_VALID_ID. No credentials cross this API, so it is
 * what Vigil's IBKR testSecret talks to instead of a real gateway. Requests after the handshake are read
 * and ignored, like a gateway with no market-data permissions.
 */

export interface IbGatewayOptions {
  /** Accounts listed in MANAGED_ACCTS. */
  accounts: string[];
  /** 0 or undefined = a free port; binds 127.0.0.1 only. */
  port?: number;
  /** Highest server version to negotiate (default 176); the client's maximum caps it. */
  serverVersion?: number;
  /** Consulted once per connection (operation "connect"); the sandbox wires its fault injector here. */
  fault?: (
    operation: string,
  ) => { kind: "throttle" | "5xx" | "latency" | "drop"; latencyMs?: number } | undefined;
}

export interface IbGateway {
  host: string;
  port: number;
  /** Replaces the account list sent to later connections. */
  setAccounts(accounts: string[]): void;
  /** Number of clients that completed START_API and are still connected. */
  connections(): number;
  stop(): Promise<void>;
}

/** Message ids of the TWS API (EDecoder / EClient constants). */
const incoming = { startApi: 71 } as const;
const outgoing = { errorMessage: 4, nextValidId: 9, managedAccounts: 15 } as const;

/** The oldest client protocol that frames every message with a 4-byte length ("v100+"). */
const minClientVersion = 100;
/** Server versions from which ERR_MSG carries advancedOrderRejectJson, and then an error time without a version. */
const minServerVersionAdvancedOrderReject = 166;
const minServerVersionErrorTime = 194;

/** What a faulted connection is told: TWS error 100 for throttling, 1100 for a lost backend. */
const faultErrors = {
  throttle: { code: 100, message: "Max rate of messages per second has been exceeded." },
  "5xx": { code: 1100, message: "Connectivity between IB and Trader Workstation has been lost." },
};

const clientIdInUse = {
  code: 326,
  message: "Unable to connect as the client id is already in use. Retry with a unique client id.",
};
const maxMessageBytes = 16 * 1024 * 1024;

/** Starts the TWS API peer on 127.0.0.1. */
export async function startIbGateway(options: IbGatewayOptions): Promise<IbGateway> {
  let accounts = [...options.accounts];
  const maxServerVersion = options.serverVersion ?? 176;
  const clientIds = new Map<Socket, number>();
  const sockets = new Set<Socket>();
  let nextOrderId = 1;

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("close", () => {
      sockets.delete(socket);
      clientIds.delete(socket);
    });
    socket.on("error", () => socket.destroy());

    let buffer = Buffer.alloc(0);
    let state: "prefix" | "version" | "startApi" | "ready" = "prefix";
    let serverVersion = maxServerVersion;
    const fault = options.fault?.("connect");
    if (fault?.kind === "drop") {
      socket.destroy();
      return;
    }
    // Latency holds back every answer of this connection by the given time.
    const latencyMs = fault?.kind === "latency" ? (fault.latencyMs ?? 1000) : 0;

    const send = (fields: (string | number)[]) => {
      const message = frame(fields);
      if (latencyMs === 0) socket.write(message);
      else setTimeout(() => socket.writable && socket.write(message), latencyMs).unref();
    };

    const sendError = (requestId: number, code: number, message: string) => {
      const fields: (string | number)[] = [outgoing.errorMessage];
      if (serverVersion < minServerVersionErrorTime) fields.push(2);
      fields.push(requestId, code, message);
      if (serverVersion >= minServerVersionAdvancedOrderReject) fields.push("");
      if (serverVersion >= minServerVersionErrorTime) fields.push(Date.now());
      send(fields);
    };

    const onMessage = (fields: string[]) => {
      if (state === "version") {
        const range = /^v(\d+)(?:\.\.(\d+))?/.exec(fields[0] ?? "");
        const clientMin = Number(range?.[1] ?? Number.NaN);
        const clientMax = Number(range?.[2] ?? range?.[1] ?? Number.NaN);
        if (!range || clientMax < minClientVersion || clientMin > maxServerVersion) {
          // A real gateway drops clients it cannot serve without a word.
          socket.destroy();
          return;
        }
        serverVersion = Math.min(maxServerVersion, clientMax);
        send([serverVersion, connectionTime(new Date())]);
        state = "startApi";
        return;
      }
      const messageId = Number(fields[0]);
      if (state === "startApi") {
        if (messageId !== incoming.startApi) return;
        const clientId = Number(fields[2]);
        if (fault?.kind === "throttle" || fault?.kind === "5xx") {
          const error = faultErrors[fault.kind];
          sendError(-1, error.code, error.message);
          socket.end();
          return;
        }
        if ([...clientIds.values()].includes(clientId)) {
          sendError(-1, clientIdInUse.code, clientIdInUse.message);
          socket.end();
          return;
        }
        clientIds.set(socket, clientId);
        state = "ready";
        send([outgoing.managedAccounts, 1, accounts.join(",")]);
        send([outgoing.nextValidId, 1, nextOrderId]);
        nextOrderId += 1;
      }
    };

    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (state === "prefix") {
        if (buffer.length < 4) return;
        if (buffer.subarray(0, 4).toString("latin1") !== "API\0") {
          socket.destroy();
          return;
        }
        buffer = buffer.subarray(4);
        state = "version";
      }
      while (buffer.length >= 4) {
        const length = buffer.readUInt32BE(0);
        if (length > maxMessageBytes) {
          socket.destroy();
          return;
        }
        if (buffer.length < 4 + length) return;
        const payload = buffer.subarray(4, 4 + length).toString("utf8");
        buffer = buffer.subarray(4 + length);
        // The version string is one bare field; every later message is NUL-terminated fields.
        const fields = state === "version" ? [payload] : payload.split("\0").slice(0, -1);
        onMessage(fields);
        if (socket.destroyed) return;
      }
    });
  });

  const port = await listenOnLoopback(server, options.port);

  return {
    host: LOOPBACK,
    port,
    setAccounts(next) {
      accounts = [...next];
    },
    connections: () => clientIds.size,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Frames NUL-terminated fields with the 4-byte big-endian length prefix of the v100+ protocol. */
export function frame(fields: (string | number)[]): Buffer {
  const payload = Buffer.from(fields.map((field) => `${field}\0`).join(""), "utf8");
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** TWS reports its connection time as "yyyymmdd hh:mm:ss <zone>". */
function connectionTime(now: Date): string {
  const pad = (value: number) => String(value).padStart(2, "0");
  return (
    `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())} ` +
    `${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())} UTC`
  );
}
