import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
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
  it("names the start failure instead of polling a server that never started", async () => {
    const daemon = startDaemon("/nonexistent/vigil-no-such-server", []);

    await expect(
      waitFor(() => Promise.reject(new Error("connection refused")), 30_000, "throwaway server", daemon),
    ).rejects.toThrow(/throwaway server could not start: spawn \/nonexistent\/vigil-no-such-server ENOENT/);
  });
});

describe("a server that fails to start", () => {
  let parent: string;
  beforeEach(async () => {
    parent = await mkdtemp(join(tmpdir(), "vigil-start-failure-"));
    vi.stubEnv("TMPDIR", parent);
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await chmod(parent, 0o700);
    await rm(parent, { recursive: true, force: true });
  });

  it("leaves no PostgreSQL directory (or password file) behind when initdb fails", async () => {
    // Under root the server runs as an unprivileged user, which cannot enter this parent: initdb fails.
    await chmod(parent, 0o000);

    await expect(startPostgres()).rejects.toThrow();

    await chmod(parent, 0o700);
    expect(await readdir(parent)).toEqual([]);
  });

  it("removes MariaDB's temporary directory after a failure and says so", async () => {
    // openssl refuses a subjectAltName entry without a type, after the data directory was created.
    const start = startMariaDb({ tls: true, certificateNames: ["not-a-valid-name"] });

    await expect(start).rejects.toThrow(
      new RegExp(`removed throwaway MariaDB's temporary directory ${parent}/vigil-maria-`),
    );
    expect(await readdir(parent)).toEqual([]);
  });
});
