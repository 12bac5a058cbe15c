import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMariaDb, type ThrowawayMariaDb } from "../../local/databases/mariadb.ts";
import { startPostgres, type ThrowawayPostgres } from "../../local/databases/postgres.ts";
import { startDaemon, waitFor } from "../../local/databases/process.ts";

describe("startPostgres", () => {
  let server: ThrowawayPostgres;
  beforeAll(async () => {
    server = await startPostgres({ tls: true });
  });
  afterAll(async () => server?.stop());

  it("accepts the right password", async () => {
    const client = await server.connect();
    const { rows } = await client.query(
      "SELECT current_user AS who, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    await client.end();
    expect(rows[0]).toEqual({ who: server.superuser, ssl: true });
  });

  it("rejects a wrong password for an existing role", async () => {
    const admin = await server.connect();
    await admin.query("CREATE ROLE app_user LOGIN PASSWORD 'right-Password-1'");
    await admin.end();

    const good = await server.connect({ user: "app_user", password: "right-Password-1" });
    await good.end();
    await expect(server.connect({ user: "app_user", password: "wrong-Password-1" })).rejects.toThrow(
      /password authentication failed/,
    );
  });
});

describe("startMariaDb", () => {
  let server: ThrowawayMariaDb;
  beforeAll(async () => {
    server = await startMariaDb({ tls: true });
  });
  afterAll(async () => server?.stop());

  it("accepts the right password over TLS", async () => {
    const connection = await server.connect();
    const [rows] = await connection.query("SHOW STATUS LIKE 'Ssl_cipher'");
    await connection.end();
    expect((rows as { Value: string }[])[0]?.Value).not.toBe("");
  });

  it("rejects a wrong password for 'user'@'%' from localhost", async () => {
    const admin = await server.connect();
    await admin.query("CREATE USER 'app_user'@'%' IDENTIFIED BY 'right-Password-1'");
    await admin.end();

    const good = await server.connect({ user: "app_user", password: "right-Password-1" });
    await good.end();
    await expect(server.connect({ user: "app_user", password: "wrong-Password-1" })).rejects.toThrow(
      /Access denied/,
    );
  });
});

describe("waitFor", () => {
  it("fails at once, naming the cause, when the server binary cannot be started", async () => {
    const daemon = startDaemon("/nonexistent/vigil-no-such-server", []);
    const started = Date.now();

    await expect(
      waitFor(() => Promise.reject(new Error("connection refused")), 30_000, "throwaway server", daemon),
    ).rejects.toThrow(/throwaway server could not start: spawn \/nonexistent\/vigil-no-such-server ENOENT/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
