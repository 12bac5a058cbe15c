import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { frame, type IbGateway, startIbGateway } from "../../local/ib-gateway.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

interface Handshake {
  serverVersion: number;
  messages: string[][];
  socket: Socket;
}

/** A minimal TWS API client: sends the handshake and START_API, collects messages until `until` holds. */
function handshake(
  port: number,
  clientId: number,
  until: (messages: string[][]) => boolean,
  versions = "v100..176",
): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buffer = Buffer.alloc(0);
    let serverVersion = 0;
    const messages: string[][] = [];
    const finish = () => resolve({ serverVersion, messages, socket });
    socket.on("error", reject);
    socket.on("close", finish);
    socket.on("connect", () => {
      const version = Buffer.from(versions, "utf8");
      const length = Buffer.alloc(4);
      length.writeUInt32BE(version.length, 0);
      socket.write(Buffer.concat([Buffer.from("API\0", "latin1"), length, version]));
    });
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
        const length = buffer.readUInt32BE(0);
        const fields = buffer
          .subarray(4, 4 + length)
          .toString("utf8")
          .split("\0")
          .slice(0, -1);
        buffer = buffer.subarray(4 + length);
        if (serverVersion === 0) {
          serverVersion = Number(fields[0]);
          socket.write(frame([71, 2, clientId, ""]));
        } else {
          messages.push(fields);
        }
        if (until(messages)) {
          socket.removeListener("close", finish);
          finish();
          return;
        }
      }
    });
  });
}

const hasNextValidId = (messages: string[][]) => messages.some((fields) => fields[0] === "9");

describe("startIbGateway", () => {
  let gateway: IbGateway | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await gateway?.stop();
    gateway = undefined;
  });

  it("negotiates the server version and lists the managed accounts", async () => {
    gateway = await startIbGateway({ accounts: ["DU1234567", "DU7654321"] });

    const result = await handshake(gateway.port, 7, hasNextValidId, "v100..151");
    sockets.push(result.socket);

    expect(result.serverVersion).toBe(151);
    expect(result.messages).toContainEqual(["15", "1", "DU1234567,DU7654321"]);
    expect(result.messages.find((fields) => fields[0] === "9")?.[1]).toBe("1");
    expect(gateway.connections()).toBe(1);
  });

  it("refuses a second client with the same client id with error 326", async () => {
    gateway = await startIbGateway({ accounts: ["DU1"] });
    const first = await handshake(gateway.port, 3, hasNextValidId);
    sockets.push(first.socket);

    const second = await handshake(gateway.port, 3, () => false);

    const error = second.messages.find((fields) => fields[0] === "4");
    expect(error?.slice(2, 4)).toEqual(["-1", "326"]);
    expect(second.messages.some((fields) => fields[0] === "15")).toBe(false);
    expect(gateway.connections()).toBe(1);
  });

  it("accepts a different client id alongside an existing one", async () => {
    gateway = await startIbGateway({ accounts: ["DU1"] });
    const first = await handshake(gateway.port, 1, hasNextValidId);
    const second = await handshake(gateway.port, 2, hasNextValidId);
    sockets.push(first.socket, second.socket);

    expect(gateway.connections()).toBe(2);
  });

  it("lists the accounts set after start to later connections", async () => {
    gateway = await startIbGateway({ accounts: ["DU1"] });
    gateway.setAccounts(["U9999999"]);

    const result = await handshake(gateway.port, 1, hasNextValidId);
    sockets.push(result.socket);

    expect(result.messages).toContainEqual(["15", "1", "U9999999"]);
  });

  it("drops a connection that does not start with the API prefix", async () => {
    gateway = await startIbGateway({ accounts: ["DU1"] });

    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(gateway!.port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\n\r\n"));
      socket.on("close", () => resolve(true));
    });

    expect(closed).toBe(true);
    expect(gateway.connections()).toBe(0);
  });
});

describe("startSandbox with ibGateway", () => {
  let sandbox: Sandbox | undefined;

  afterEach(async () => {
    await sandbox?.stop();
    sandbox = undefined;
  });

  it("starts the peer and exports its host and port", async () => {
    sandbox = await startSandbox({ ibGateway: { accounts: ["DU1234567"] } });

    const result = await handshake(sandbox.ibGateway!.port, 0, hasNextValidId);
    result.socket.destroy();

    expect(sandbox.env.IBKR_GATEWAY_HOST).toBe("127.0.0.1");
    expect(sandbox.env.IBKR_GATEWAY_PORT).toBe(String(sandbox.ibGateway!.port));
    expect(result.messages).toContainEqual(["15", "1", "DU1234567"]);
  });

  it("drops a connection when a drop fault is injected", async () => {
    sandbox = await startSandbox({ ibGateway: { accounts: ["DU1"] } });
    sandbox.faults.inject({ target: "ibgateway", kind: "drop", times: 1 });

    const dropped = await handshake(sandbox.ibGateway!.port, 1, () => false);
    const next = await handshake(sandbox.ibGateway!.port, 1, hasNextValidId);
    next.socket.destroy();

    expect(dropped.serverVersion).toBe(0);
    expect(next.messages.some((fields) => fields[0] === "15")).toBe(true);
  });

  it("answers TWS error 1100 instead of the accounts for a 5xx fault", async () => {
    sandbox = await startSandbox({ ibGateway: { accounts: ["DU1"] } });
    sandbox.faults.inject({ target: "ibgateway", operation: "connect", kind: "5xx" });

    const result = await handshake(sandbox.ibGateway!.port, 1, () => false);

    expect(result.messages.find((fields) => fields[0] === "4")?.slice(2, 4)).toEqual(["-1", "1100"]);
    expect(result.messages.some((fields) => fields[0] === "15")).toBe(false);
  });
});
