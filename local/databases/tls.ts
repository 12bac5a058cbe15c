import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./process.ts";

export interface TestCertificates {
  /** PEM of the CA that signed the server certificate (what a client must trust). */
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Creates a throwaway CA and a server certificate with openssl, for 127.0.0.1 / localhost unless
 * `subjectAltNames` says otherwise (e.g. a name the client does not use, to test hostname verification).
 */
export async function makeServerCertificates(
  dir: string,
  subjectAltNames: readonly string[] = ["IP:127.0.0.1", "DNS:localhost"],
): Promise<TestCertificates> {
  const caKey = join(dir, "ca.key");
  const caFile = join(dir, "ca.pem");
  const keyFile = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const certFile = join(dir, "server.pem");
  const ext = join(dir, "server.ext");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "2",
    "-subj",
    "/CN=Vigil Test CA",
  ]);
  await run("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csr,
    "-subj",
    "/CN=127.0.0.1",
  ]);
  await writeFile(ext, `subjectAltName=${subjectAltNames.join(",")}\nbasicConstraints=CA:FALSE\n`);
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return { caPem: await readFile(caFile, "utf8"), caFile, certFile, keyFile };
}
