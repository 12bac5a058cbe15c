import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  decodeTwsMessages,
  encodeTwsGreeting,
  encodeTwsMessage,
  TwsHandshakeError,
  twsHandshake,
} from "../../functions/rotate/strategies/ibkr/tws.ts";
import { type IbGateway, startIbGateway } from "../../local/ib-gateway.ts";

/** A scripted TCP peer on 127.0.0.1 for behaviours the gateway peer does not have. */
async function startPeer(onConnection: (socket: Socket) => void): Promise<{ port: number; server: Server }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return { port: typeof address === "object" && address ? address.port : 0, server };
}

async function freePort(): Promise<number> {
  const { port, server } = await startPeer(() => {});
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("TWS API framing", () => {
  it("encodes the greeting as API NUL then the length-prefixed version range", () => {
    const greeting = encodeTwsGreeting(100, 176);

    expect(greeting.subarray(0, 4).toString("latin1")).toBe("API\0");
    expect(greeting.readUInt32BE(4)).toBe("v100..176".length);
    expect(greeting.subarray(8).toString("latin1")).toBe("v100..176");
  });

  it("decodes complete messages and keeps a partial one for later", () => {
    const whole = Buffer.concat([encodeTwsMessage([15, 1, "DU1,DU2"]), encodeTwsMessage([9, 1, 42])]);
    const partial = whole.subarray(0, whole.length - 3);

    const first = decodeTwsMessages(partial);
    const second = decodeTwsMessages(Buffer.concat([first.rest, whole.subarray(whole.length - 3)]));

    expect(first.messages).toEqual([["15", "1", "DU1,DU2"]]);
    expect(second.messages).toEqual([["9", "1", "42"]]);
    expect(second.rest.length).toBe(0);
  });

  it("refuses an implausible message length", () => {
    const bogus = Buffer.from("HTTP/1.1 400 Bad Request\r\n", "latin1");

    expect(() => decodeTwsMessages(bogus)).toThrow(TwsHandshakeError);
  });
});

describe("twsHandshake", () => {
  let gateway: IbGateway | undefined;
  const servers: Server[] = [];

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    for (const server of servers.splice(0)) {
      server.close();
    }
  });

  it("negotiates, starts the API and returns the managed accounts", async () => {
    gateway = await startIbGateway({ accounts: ["DU1234567", "DU7654321"], serverVersion: 151 });

    const result = await twsHandshake({
      host: gateway.host,
      port: gateway.port,
      clientId: 77,
      timeoutMs: 5_000,
    });

    expect(result.serverVersion).toBe(151);
    expect(result.managedAccounts).toEqual(["DU1234567", "DU7654321"]);
    expect(result.nextValidId).toBeGreaterThan(0);
    expect(result.connectionTime).toMatch(/^\d{8} \d{2}:\d{2}:\d{2} /);
  });

  it("disconnects once the handshake is complete", async () => {
    gateway = await startIbGateway({ accounts: ["DU1"] });

    await twsHandshake({ host: gateway.host, port: gateway.port, clientId: 5, timeoutMs: 5_000 });
    const again = await twsHandshake({
      host: gateway.host,
      port: gateway.port,
      clientId: 5,
      timeoutMs: 5_000,
    });

    expect(again.managedAccounts).toEqual(["DU1"]);
  });

  it("reports a client id already in use (error 326)", async () => {
    gateway = await startIbGateway({ accounts: ["DU1"] });
    const holder = await holdConnection(gateway.port, 9);

    const attempt = twsHandshake({ host: gateway.host, port: gateway.port, clientId: 9, timeoutMs: 5_000 });

    await expect(attempt).rejects.toMatchObject({ reason: "client-id-in-use" });
    holder.destroy();
  });

  it("reports an unreachable gateway", async () => {
    const port = await freePort();

    const attempt = twsHandshake({ host: "127.0.0.1", port, clientId: 1, timeoutMs: 5_000 });

    await expect(attempt).rejects.toMatchObject({ name: "TwsHandshakeError", reason: "unreachable" });
  });

  it("times out when the peer never answers", async () => {
    const peer = await startPeer(() => {});
    servers.push(peer.server);

    const attempt = twsHandshake({ host: "127.0.0.1", port: peer.port, clientId: 1, timeoutMs: 200 });

    await expect(attempt).rejects.toMatchObject({ reason: "timeout" });
    await expect(attempt).rejects.toThrow(/did not complete the version negotiation within 200 ms/);
  });

  it("reports a peer that drops the connection before negotiating", async () => {
    const peer = await startPeer((socket) => socket.destroy());
    servers.push(peer.server);

    const attempt = twsHandshake({ host: "127.0.0.1", port: peer.port, clientId: 1, timeoutMs: 5_000 });

    await expect(attempt).rejects.toMatchObject({ reason: "closed" });
  });

  it("refuses a server version older than the v100 protocol", async () => {
    const peer = await startPeer((socket) => {
      socket.once("data", () => socket.write(encodeTwsMessage([76, "20260101 00:00:00 UTC"])));
    });
    servers.push(peer.server);

    const attempt = twsHandshake({ host: "127.0.0.1", port: peer.port, clientId: 1, timeoutMs: 5_000 });

    await expect(attempt).rejects.toMatchObject({ reason: "unsupported-version" });
  });

  it("reads errors in the layout of servers from version 194 and ignores farm notices", async () => {
    const peer = await startPeer((socket) => {
      let greeted = false;
      socket.on("data", () => {
        if (greeted) {
          socket.write(encodeTwsMessage([4, -1, 2104, "Market data farm connection is OK:usfarm", "", 1]));
          socket.write(encodeTwsMessage([15, 1, "U1111111"]));
          socket.write(encodeTwsMessage([9, 1, 3]));
          return;
        }
        greeted = true;
        socket.write(encodeTwsMessage([200, "20260101 00:00:00 UTC"]));
      });
    });
    servers.push(peer.server);

    const result = await twsHandshake({ host: "127.0.0.1", port: peer.port, clientId: 1, timeoutMs: 5_000 });

    expect(result.managedAccounts).toEqual(["U1111111"]);
    expect(result.notices).toEqual([{ code: 2104, message: "Market data farm connection is OK:usfarm" }]);
  });
});

/** Connects with `clientId` and keeps the session open, like a running trading application. */
async function holdConnection(port: number, clientId: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(encodeTwsGreeting()));
    let buffer: Buffer = Buffer.alloc(0);
    let negotiated = false;
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      const decoded = decodeTwsMessages(Buffer.concat([buffer, chunk]));
      buffer = decoded.rest;
      for (const fields of decoded.messages) {
        if (!negotiated) {
          negotiated = true;
          socket.write(encodeTwsMessage([71, 2, clientId, ""]));
        } else if (fields[0] === "9") {
          resolve(socket);
        }
      }
    });
  });
}
