import type { Server } from "node:net";

/** The only address the sandbox's peers listen on: development and tests only, never reachable from outside. */
export const LOOPBACK = "127.0.0.1";

/** Listens on LOOPBACK at `port` (0 or undefined = a free one) and returns the port; rejects on EADDRINUSE etc. */
export async function listenOnLoopback(server: Server, port: number | undefined): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port ?? 0, LOOPBACK, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === "object" && address ? address.port : 0;
}
