import { chmod, mkdir } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import {
  cleanUpOnFailure,
  findExecutable,
  freePort,
  run,
  startDaemon,
  stopServer,
  tempDir,
  waitFor,
} from "./process.ts";
import { makeServerCertificates, type TestCertificates } from "./tls.ts";

export interface ThrowawayMariaDb {
  host: "127.0.0.1";
  port: number;
  /** Administrator that logs in over TCP with a password ('vigil_admin'@'%', all privileges). */
  adminUser: string;
  adminPassword: string;
  /** Where its data, logs and certificates are kept until `stop()` removes them. */
  dir: string;
  tls?: TestCertificates;
  connect(options?: { user?: string; password?: string; database?: string }): Promise<mysql.Connection>;
  stop(): Promise<void>;
}

/**
 * Starts a MariaDB server in a temp dir on a free port. The anonymous accounts a fresh data directory
 * carries are dropped (they would shadow 'user'@'%' logins from localhost) and root is socket-only,
 * so every TCP login is checked against its password.
 */
export async function startMariaDb(
  options: {
    tls?: boolean;
    /** The server certificate's subjectAltName entries (default: 127.0.0.1 and localhost). */
    certificateNames?: readonly string[];
  } = {},
): Promise<ThrowawayMariaDb> {
  const server = await findExecutable("mariadbd");
  const installDb = await findExecutable("mariadb-install-db");
  if (!server || !installDb) {
    throw new Error(
      "MariaDB server binaries (mariadbd, mariadb-install-db) not found: install mariadb-server",
    );
  }
  const dir = await tempDir("vigil-maria-");
  return cleanUpOnFailure("throwaway MariaDB", dir, async (track) => {
    const dataDir = join(dir, "data");
    const socket = join(dir, "mysqld.sock");
    const asRoot = process.getuid?.() === 0;
    const userArgs = asRoot ? ["--user=root"] : [];
    // A temp directory of its own: servers bootstrapping at the same time collide in a shared /tmp.
    const serverTmp = join(dir, "tmp");
    await mkdir(serverTmp);
    await run(installDb, [
      "--no-defaults",
      `--datadir=${dataDir}`,
      `--tmpdir=${serverTmp}`,
      "--auth-root-authentication-method=socket",
      "--skip-test-db",
      ...userArgs,
    ]);
    let tls: TestCertificates | undefined;
    const tlsArgs: string[] = [];
    if (options.tls) {
      tls = await makeServerCertificates(dir, options.certificateNames);
      await chmod(tls.keyFile, 0o600);
      tlsArgs.push(`--ssl-ca=${tls.caFile}`, `--ssl-cert=${tls.certFile}`, `--ssl-key=${tls.keyFile}`);
    }
    const port = await freePort();
    const daemon = startDaemon(server, [
      "--no-defaults",
      `--datadir=${dataDir}`,
      `--tmpdir=${serverTmp}`,
      `--socket=${socket}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--pid-file=${join(dir, "mysqld.pid")}`,
      `--log-error=${join(dir, "error.log")}`,
      "--skip-log-bin",
      "--innodb-buffer-pool-size=16M",
      "--innodb-log-file-size=8M",
      "--skip-name-resolve",
      "--innodb-flush-log-at-trx-commit=0",
      ...tlsArgs,
      ...userArgs,
    ]);
    track(daemon);
    const adminUser = "vigil_admin";
    const adminPassword = `admin-${Math.random().toString(36).slice(2)}-Pw1`;
    const root = await waitFor(
      // mariadb-install-db gives socket login to root and to the OS user that ran it.
      () => mysql.createConnection({ socketPath: socket, user: asRoot ? "root" : userInfo().username }),
      30_000,
      "throwaway MariaDB",
      daemon,
    );
    await root.query("DELETE FROM mysql.global_priv WHERE User = ''");
    await root.query("FLUSH PRIVILEGES");
    await root.query("CREATE USER ?@'%' IDENTIFIED BY ?", [adminUser, adminPassword]);
    await root.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [adminUser]);
    await root.end();
    return {
      host: "127.0.0.1",
      port,
      adminUser,
      adminPassword,
      dir,
      ...(tls ? { tls } : {}),
      connect: (login = {}) =>
        mysql.createConnection({
          host: "127.0.0.1",
          port,
          user: login.user ?? adminUser,
          password: login.password ?? adminPassword,
          ...(login.database ? { database: login.database } : {}),
          ...(tls ? { ssl: { ca: tls.caPem } } : {}),
          connectTimeout: 5000,
        }),
      stop: () => stopServer(daemon, dir),
    };
  });
}
