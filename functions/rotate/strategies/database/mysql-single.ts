import { mysqlDriver } from "./mysql.ts";
import { singleUserStrategy } from "./single-user.ts";

/** MySQL / Aurora MySQL / MariaDB, one user that changes its own password. */
export const mysqlSingle = singleUserStrategy("mysql-single", mysqlDriver);
