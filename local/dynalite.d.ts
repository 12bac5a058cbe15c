// dynalite ships no types; this is the part of its API the sandbox uses.
declare module "dynalite" {
  import type { Server } from "node:http";

  interface DynaliteOptions {
    /** Milliseconds a new table stays CREATING (default 500). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** A LevelDB folder; in memory when absent. */
    path?: string;
  }

  /** An HTTP server speaking the DynamoDB API; its "request" listener can also be called directly. */
  export default function dynalite(options?: DynaliteOptions): Server;
}
