import { alternatingUsersStrategy } from "./alternating.ts";
import { postgresDriver } from "./postgres.ts";

/** PostgreSQL / Aurora PostgreSQL, `username` and `username_clone` acting as one owner role. */
export const postgresAlternating = alternatingUsersStrategy("postgres-alternating", postgresDriver);
