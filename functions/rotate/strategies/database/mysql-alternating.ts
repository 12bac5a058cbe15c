import { alternatingUsersStrategy } from "./alternating.ts";
import { mysqlDriver } from "./mysql.ts";

/** MySQL / Aurora MySQL / MariaDB, `username` and `username_clone` with synchronised grants. */
export const mysqlAlternating = alternatingUsersStrategy("mysql-alternating", mysqlDriver);
