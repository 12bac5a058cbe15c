import { postgresDriver } from "./postgres.ts";
import { singleUserStrategy } from "./single-user.ts";

/** PostgreSQL / Aurora PostgreSQL, one user that changes its own password. */
export const postgresSingle = singleUserStrategy("postgres-single", postgresDriver);
