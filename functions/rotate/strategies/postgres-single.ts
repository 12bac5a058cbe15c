import { singleUserStrategy } from "./database-single.ts";
import { postgresDriver } from "./postgres.ts";

/** PostgreSQL / Aurora PostgreSQL, one user that changes its own password. */
export const postgresSingle = singleUserStrategy("postgres-single", postgresDriver);
