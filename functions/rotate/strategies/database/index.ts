// The database strategies' public surface: one line per strategy (a topology over an engine's driver),
// and what the registry, the bench and the tests use.
import { alternatingUsersStrategy } from "./alternating.ts";
import { mysqlDriver } from "./mysql.ts";
import { postgresDriver } from "./postgres.ts";
import { singleUserStrategy } from "./single-user.ts";

/** PostgreSQL / Aurora PostgreSQL, one user that changes its own password. */
export const postgresSingle = singleUserStrategy("postgres-single", postgresDriver);
/** PostgreSQL / Aurora PostgreSQL, `username` and `username_clone` acting as one owner role. */
export const postgresAlternating = alternatingUsersStrategy("postgres-alternating", postgresDriver);
/** MySQL / Aurora MySQL / MariaDB, one user that changes its own password. */
export const mysqlSingle = singleUserStrategy("mysql-single", mysqlDriver);
/** MySQL / Aurora MySQL / MariaDB, `username` and `username_clone` with synchronised grants. */
export const mysqlAlternating = alternatingUsersStrategy("mysql-alternating", mysqlDriver);

export { ADMIN_BINDING_TAG } from "./admin.ts";
export { statementHooks } from "./driver.ts";
export { DATABASE_ENGINES, type DatabaseEngine, parseDatabaseSecret } from "./secret.ts";
