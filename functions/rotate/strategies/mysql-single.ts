import { singleUserStrategy } from "./database-single.ts";
import { mysqlDriver } from "./mysql.ts";

/** MySQL / Aurora MySQL / MariaDB, one user that changes its own password. */
export const mysqlSingle = singleUserStrategy("mysql-single", mysqlDriver);
