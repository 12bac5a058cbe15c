/** Throwaway database servers with real password authentication, for tests and the local demo. */
import { chmod, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import {
  chownTree,
  cleanUpOnFailure,
  freePort,
  run,
  startDaemon,
  stopServer,
  tempDir,
  unprivilegedUser,
  waitFor,
} from "./process.ts";
import { makeServerCertificates, type TestCertificates } from "./tls.ts";

export interface ThrowawayPostgres {
  host: "127.0.0.1";
  port: number;
  /** Superuser that logs in with a password (scram-sha-256 over TCP). */
  superuser: string;
  superuserPassword: string;
  database: string;
  /** Where its data, configuration and certificates are kept until `stop()` removes them. */
  dir: string;
  /** Present when started with `tls: true`; the server then accepts TLS connections. */
  tls?: TestCertificates;
  /** A connected client as the superuser (caller ends it). */
  connect(options?: { user?: string; password?: string; database?: string }): Promise<pg.Client>;
  stop(): Promise<void>;
}

async function postgresBinDir(): Promise<string> {
  try {
    const { stdout } = await run("pg_config", ["--bindir"]);
    const dir = stdout.trim();
    const entries = await readdir(dir);
    if (entries.includes("initdb") && entries.includes("postgres")) return dir;
  } catch {
    // fall through to the Debian layout
  }
  const versions = (await readdir("/usr/lib/postgresql").catch(() => [])).sort(
    (a, b) => Number(b) - Number(a),
  );
  if (versions.length === 0)
    throw new Error("PostgreSQL server binaries (initdb, postgres) not found: install postgresql");
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

/**
 * Starts a PostgreSQL cluster in a temp dir on a free port where every TCP login is checked with
 * scram-sha-256 (unlike the machine's trust-auth server). Runs as an unprivileged user when root.
 */
export async function startPostgres(
  options: {
    tls?: boolean;
    /**
     * pg_hba.conf lines instead of the default (scram-sha-256 for every TCP login), e.g. to require
     * hostssl, reject a user, or trust one. The superuser must still log in over 127.0.0.1.
     */
    hba?: readonly string[];
  } = {},
): Promise<ThrowawayPostgres> {
  const bin = await postgresBinDir();
  const user = await unprivilegedUser();
  const dir = await tempDir("vigil-pg-", user);
  return cleanUpOnFailure("throwaway PostgreSQL", dir, async (track) => {
    const dataDir = join(dir, "data");
    const superuser = "vigil_super";
    const superuserPassword = `super-${Math.random().toString(36).slice(2)}-Pw1`;
    const pwFile = join(dir, "pwfile");
    await writeFile(pwFile, `${superuserPassword}\n`);
    if (user) await chownTree(dir, user);

    await run(
      join(bin, "initdb"),
      [
        "-D",
        dataDir,
        "-U",
        superuser,
        "--pwfile",
        pwFile,
        "--auth=scram-sha-256",
        "--no-sync",
        "--encoding=UTF8",
        "--locale=C",
      ],
      user?.name,
    );
    // initdb has read the superuser password: no copy of it stays on disk.
    await rm(pwFile);
    await writeFile(
      join(dataDir, "pg_hba.conf"),
      [
        ...(options.hba ?? ["host all all 127.0.0.1/32 scram-sha-256", "host all all ::1/128 scram-sha-256"]),
        "",
      ].join("\n"),
    );
    let tls: TestCertificates | undefined;
    const settings = [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      "password_encryption = 'scram-sha-256'",
      "fsync = off",
      "synchronous_commit = off",
      "full_page_writes = off",
      "shared_buffers = 16MB",
      "max_connections = 50",
    ];
    if (options.tls) {
      tls = await makeServerCertificates(dir);
      await chmod(tls.keyFile, 0o600);
      settings.push("ssl = on", `ssl_cert_file = '${tls.certFile}'`, `ssl_key_file = '${tls.keyFile}'`);
    }
    const port = await freePort();
    settings.push(`port = ${port}`);
    await writeFile(join(dataDir, "postgresql.auto.conf"), `${settings.join("\n")}\n`);
    if (user) await chownTree(dir, user);

    const daemon = startDaemon(join(bin, "postgres"), ["-D", dataDir], user?.name);
    track(daemon);
    const connect = async (login: { user?: string; password?: string; database?: string } = {}) => {
      const client = new pg.Client({
        host: "127.0.0.1",
        port,
        user: login.user ?? superuser,
        password: login.password ?? superuserPassword,
        database: login.database ?? "postgres",
        ssl: tls ? { ca: tls.caPem } : false,
        connectionTimeoutMillis: 5000,
      });
      await client.connect();
      return client;
    };
    await waitFor(async () => (await connect()).end(), 30_000, "throwaway PostgreSQL", daemon);
    return {
      host: "127.0.0.1",
      port,
      superuser,
      superuserPassword,
      database: "postgres",
      dir,
      ...(tls ? { tls } : {}),
      connect,
      stop: () => stopServer(daemon, dir),
    };
  });
}
