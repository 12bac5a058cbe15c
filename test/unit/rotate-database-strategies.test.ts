import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { Deadline } from "../../functions/rotate/deadline.ts";
import {
  AdminSecretRefusedError,
  DeadlineExceededError,
  LoginRejectedError,
  NoWorkingCredentialError,
  PasswordNotCheckedError,
  SecretFormatError,
  TargetError,
  TestSecretFailedError,
} from "../../functions/rotate/errors.ts";
import { loadRotationSettings } from "../../functions/rotate/settings.ts";
import { ADMIN_BINDING_TAG } from "../../functions/rotate/strategies/database/admin.ts";
import { alternatingUsersStrategy } from "../../functions/rotate/strategies/database/alternating.ts";
import type { DatabaseDriver, DatabaseSession } from "../../functions/rotate/strategies/database/driver.ts";
import type { DatabaseSecret } from "../../functions/rotate/strategies/database/secret.ts";
import { singleUserStrategy } from "../../functions/rotate/strategies/database/single-user.ts";
import type { RotationStep, StepContext } from "../../functions/rotate/strategy.ts";
import { createLogger } from "../../lib/logger.ts";

const ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:app/db-AbCdEf";
const ADMIN_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:app/db-admin-AbCdEf";
const TOKEN = "11111111-2222-3333-4444-555555555555";
const PREVIOUS_VERSION = "00000000-2222-3333-4444-555555555555";
const NEW_PASSWORD = "N3w-Generated-Password-0123456789";
const target = { engine: "mysql", host: "db.internal", port: 3306 };
const current = { ...target, username: "app", password: "Current-Password-1" };

interface FakeSession extends DatabaseSession {
  login: string;
}

/** A database in memory: which password each user logs in with, and what the strategy did to it. */
class FakeDatabase implements DatabaseDriver {
  readonly family = "mysql" as const;
  users = new Map<string, string>();
  unreachable = false;
  checkFails = false;
  passwordChangeFails = false;
  /** Users the database lets in with any password (trust authentication). */
  trusted = new Set<string>();
  /** What excessPrivileges reports (undefined: nothing). */
  excess: string | undefined;
  calls: string[] = [];

  async connect(secret: DatabaseSecret) {
    if (this.unreachable) throw new TargetError("cannot connect (test)");
    const accepted = this.trusted.has(secret.username) || this.users.get(secret.username) === secret.password;
    if (!accepted) throw new LoginRejectedError("refused (test)");
    const session: FakeSession = {
      login: secret.username,
      run: async () => [],
      close: async () => undefined,
    };
    return session;
  }
  async changeOwnPassword(session: DatabaseSession, _secret: DatabaseSecret, password: string) {
    const { login } = session as FakeSession;
    this.calls.push(`password ${login}`);
    if (this.passwordChangeFails) throw new TargetError("password change refused (test)");
    this.users.set(login, password);
  }
  async prepareAlternateUser(session: DatabaseSession, source: DatabaseSecret, pending: DatabaseSecret) {
    this.calls.push(
      `prepare ${pending.username} like ${source.username} as ${(session as FakeSession).login}`,
    );
    this.users.set(pending.username, pending.password);
  }
  async excessPrivileges(_session: DatabaseSession, source: DatabaseSecret, pending: DatabaseSecret) {
    this.calls.push(`compare ${pending.username} with ${source.username}`);
    return this.excess;
  }
  async checkSession() {
    if (this.checkFails) throw new TargetError("check failed (test)");
  }
}

const secretsManager = mockClient(SecretsManagerClient);
let database: FakeDatabase;
const retry = { attempts: 2, delayMs: 0 };

function context(step: RotationStep, value: Record<string, unknown> = current): StepContext {
  return {
    step,
    secretsManager: new SecretsManagerClient({ region: "us-east-1" }),
    secretArn: ARN,
    token: TOKEN,
    metadata: {
      ARN,
      Name: "app/db",
      VersionIdsToStages: { [PREVIOUS_VERSION]: ["AWSPREVIOUS"], [TOKEN]: ["AWSPENDING"] },
      $metadata: {},
    },
    current: value,
    deadline: new Deadline(() => 60_000, 1_000),
    logger: createLogger("database-strategy-test"),
    settings: loadRotationSettings({ PASSWORD_LENGTH: "40", EXCLUDE_CHARACTERS: "'\\" }),
  };
}

function givenPending(value: Record<string, unknown> | undefined) {
  const stub = secretsManager.on(GetSecretValueCommand, {
    SecretId: ARN,
    VersionStage: "AWSPENDING",
    VersionId: TOKEN,
  });
  if (value) stub.resolves({ SecretString: JSON.stringify(value) });
  else stub.rejects(new ResourceNotFoundException({ message: "no value", $metadata: {} }));
}

beforeEach(() => {
  secretsManager.reset();
  database = new FakeDatabase();
  secretsManager.on(GetRandomPasswordCommand).resolves({ RandomPassword: NEW_PASSWORD });
  secretsManager.on(PutSecretValueCommand).resolves({});
});

describe("single-user createSecret", () => {
  const strategy = () => singleUserStrategy("mysql-single", database, retry);

  it("stores a GetRandomPassword password with the configured policy as the AWSPENDING version", async () => {
    givenPending(undefined);
    await strategy().createSecret(context("createSecret"));
    expect(secretsManager).toHaveReceivedCommandWith(GetRandomPasswordCommand, {
      PasswordLength: 40,
      ExcludeCharacters: "'\\",
    });
    expect(secretsManager).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretId: ARN,
      ClientRequestToken: TOKEN,
      VersionStages: ["AWSPENDING"],
      SecretString: JSON.stringify({ ...current, password: NEW_PASSWORD }),
    });
  });

  it("does nothing when the pending version already has a value", async () => {
    givenPending({ ...current, password: NEW_PASSWORD });
    await strategy().createSecret(context("createSecret"));
    expect(secretsManager).not.toHaveReceivedCommand(GetRandomPasswordCommand);
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("accepts that a concurrent invocation stored the pending value first", async () => {
    givenPending(undefined);
    secretsManager
      .on(PutSecretValueCommand)
      .rejects(new ResourceExistsException({ message: "exists", $metadata: {} }));
    await expect(strategy().createSecret(context("createSecret"))).resolves.toBeUndefined();
  });

  it("refuses a secret of another engine family without writing anything", async () => {
    await expect(
      strategy().createSecret(context("createSecret", { ...current, engine: "postgres" })),
    ).rejects.toThrow(/accepted engines: mysql, aurora-mysql, mariadb/);
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });
});

describe("single-user setSecret", () => {
  const strategy = () => singleUserStrategy("mysql-single", database, retry);
  beforeEach(() => givenPending({ ...current, password: NEW_PASSWORD }));

  it("logs in with AWSCURRENT and changes the user's own password", async () => {
    database.users.set("app", current.password);
    await strategy().setSecret(context("setSecret"));
    expect(database.users.get("app")).toBe(NEW_PASSWORD);
    expect(database.calls).toEqual(["password app"]);
  });

  it("does nothing when the database already accepts the pending password", async () => {
    database.users.set("app", NEW_PASSWORD);
    await strategy().setSecret(context("setSecret"));
    expect(database.calls).toEqual([]);
  });

  it("falls back to AWSPREVIOUS when AWSCURRENT is refused", async () => {
    database.users.set("app", "Previous-Password-1");
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSPREVIOUS" })
      .resolves({ SecretString: JSON.stringify({ ...current, password: "Previous-Password-1" }) });
    await strategy().setSecret(context("setSecret"));
    expect(database.users.get("app")).toBe(NEW_PASSWORD);
  });

  it("fails loudly and changes nothing when no stored password logs in", async () => {
    database.users.set("app", "Someone-Elses-Password");
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ARN, VersionStage: "AWSPREVIOUS" })
      .rejects(new ResourceNotFoundException({ message: "none", $metadata: {} }));
    const error = await strategy()
      .setSecret(context("setSecret"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoWorkingCredentialError);
    expect((error as NoWorkingCredentialError).severity).toBe("critical");
    expect(database.users.get("app")).toBe("Someone-Elses-Password");
  });

  it("refuses a pending version that names another user", async () => {
    givenPending({ ...current, username: "intruder", password: NEW_PASSWORD });
    await expect(strategy().setSecret(context("setSecret"))).rejects.toBeInstanceOf(SecretFormatError);
  });

  it("refuses a database that also accepts a wrong password instead of counting the pending one as set", async () => {
    givenPending({ ...current, password: NEW_PASSWORD });
    database.users.set("app", current.password);
    database.trusted.add("app");

    const refused = strategy().setSecret(context("setSecret"));

    await expect(refused).rejects.toBeInstanceOf(PasswordNotCheckedError);
    await expect(refused).rejects.toThrow(/also accepts a deliberately wrong password/);
    expect(database.calls).toEqual([]);
  });
});

describe("single-user testSecret", () => {
  const strategy = () => singleUserStrategy("mysql-single", database, retry);
  beforeEach(() => givenPending({ ...current, password: NEW_PASSWORD }));

  it("passes when the pending password logs in and the session check passes", async () => {
    database.users.set("app", NEW_PASSWORD);
    await expect(strategy().testSecret(context("testSecret"))).resolves.toBeUndefined();
  });

  it("rolls the database back to AWSCURRENT when the check fails for good", async () => {
    database.users.set("app", NEW_PASSWORD);
    database.checkFails = true;
    await expect(strategy().testSecret(context("testSecret"))).rejects.toThrow(
      new TestSecretFailedError(
        `testSecret failed for good with the AWSPENDING credential of ${ARN}; the database was put back on the AWSCURRENT password (rollback), so consumers keep working`,
      ),
    );
    expect(database.users.get("app")).toBe(current.password);
  });

  it("says the database accepts only AWSPENDING when the rollback itself is refused", async () => {
    database.users.set("app", NEW_PASSWORD);
    database.checkFails = true;
    database.passwordChangeFails = true; // e.g. MySQL password history refusing the old password
    const error = await strategy()
      .testSecret(context("testSecret"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TestSecretFailedError);
    expect((error as Error).message).toMatch(
      /the rollback to the AWSCURRENT password failed too: the database accepts only AWSPENDING/,
    );
    expect(database.users.get("app")).toBe(NEW_PASSWORD);
  });

  it("has nothing to roll back when the database refuses the pending password but accepts AWSCURRENT", async () => {
    database.users.set("app", current.password);
    await expect(strategy().testSecret(context("testSecret"))).rejects.toThrow(/nothing to roll back/);
    expect(database.calls).toEqual([]);
  });

  it("reports an unreachable database without touching it", async () => {
    database.unreachable = true;
    await expect(strategy().testSecret(context("testSecret"))).rejects.toThrow(/could not reach/);
    expect(database.calls).toEqual([]);
  });
});

describe("alternating users", () => {
  const strategy = () => alternatingUsersStrategy("mysql-alternating", database, retry);
  const withAdmin = { ...current, masterarn: ADMIN_ARN };
  const admin = { ...target, username: "admin", password: "Admin-Password-1" };

  function givenAdmin(value: Record<string, unknown> = admin, binding = "other/db app/db") {
    secretsManager
      .on(DescribeSecretCommand, { SecretId: ADMIN_ARN })
      .resolves({ ARN: ADMIN_ARN, Tags: [{ Key: ADMIN_BINDING_TAG, Value: binding }] });
    secretsManager
      .on(GetSecretValueCommand, { SecretId: ADMIN_ARN, VersionStage: "AWSCURRENT" })
      .resolves({ SecretString: JSON.stringify(value) });
  }

  beforeEach(() => {
    givenAdmin();
    database.users.set("app", current.password);
  });

  it("createSecret stores username_clone, and username again from the clone", async () => {
    givenPending(undefined);
    await strategy().createSecret(context("createSecret", withAdmin));
    expect(secretsManager).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretString: JSON.stringify({ ...withAdmin, username: "app_clone", password: NEW_PASSWORD }),
    });
    secretsManager.resetHistory();
    await strategy().createSecret(context("createSecret", { ...withAdmin, username: "app_clone" }));
    expect(secretsManager).toHaveReceivedCommandWith(PutSecretValueCommand, {
      SecretString: JSON.stringify({ ...withAdmin, username: "app", password: NEW_PASSWORD }),
    });
  });

  it("createSecret enforces the engine's user name limit with room for _clone", async () => {
    givenPending(undefined);
    const long = { ...withAdmin, username: "a".repeat(27) };
    await expect(strategy().createSecret(context("createSecret", long))).rejects.toThrow(
      /is 33 characters long; mysql allows 1 to 32, so "username" may have at most 26 characters/,
    );
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("needs masterarn", async () => {
    await expect(strategy().createSecret(context("createSecret", current))).rejects.toThrow(
      /missing "masterarn"/,
    );
  });

  it("setSecret prepares the clone as the admin named by masterarn", async () => {
    givenPending({ ...withAdmin, username: "app_clone", password: NEW_PASSWORD });
    database.users.set("admin", admin.password);
    await strategy().setSecret(context("setSecret", withAdmin));
    expect(database.calls).toEqual(["compare app_clone with app", "prepare app_clone like app as admin"]);
    expect(database.users.get("app_clone")).toBe(NEW_PASSWORD);
  });

  it("setSecret does nothing when the pending user already logs in", async () => {
    givenPending({ ...withAdmin, username: "app_clone", password: NEW_PASSWORD });
    database.users.set("app_clone", NEW_PASSWORD);
    await strategy().setSecret(context("setSecret", withAdmin));
    expect(database.calls).toEqual([]);
    expect(secretsManager).not.toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: ADMIN_ARN });
  });

  it("setSecret fails clearly when the admin credential is refused", async () => {
    givenPending({ ...withAdmin, username: "app_clone", password: NEW_PASSWORD });
    await expect(strategy().setSecret(context("setSecret", withAdmin))).rejects.toThrow(
      /refuses the admin credential/,
    );
  });

  it("createSecret refuses an admin secret not bound to this secret, without reading its value", async () => {
    givenAdmin(admin, "other/db arn:aws:secretsmanager:us-east-1:111122223333:secret:app/db-Zz9999");
    givenPending(undefined);

    const refused = strategy().createSecret(context("createSecret", withAdmin));

    await expect(refused).rejects.toBeInstanceOf(AdminSecretRefusedError);
    await expect(refused).rejects.toThrow(
      `${ADMIN_ARN} (masterarn) for ${ARN}: the admin secret is not bound`,
    );
    expect(secretsManager).not.toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: ADMIN_ARN });
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("accepts a binding that lists this secret's full ARN", async () => {
    givenAdmin(admin, ARN);
    givenPending(undefined);
    await strategy().createSecret(context("createSecret", withAdmin));
    expect(secretsManager).toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("createSecret refuses an admin secret for another host or port", async () => {
    givenPending(undefined);
    for (const elsewhere of [{ host: "other.internal" }, { port: 3307 }]) {
      givenAdmin({ ...admin, ...elsewhere });
      await expect(strategy().createSecret(context("createSecret", withAdmin))).rejects.toThrow(
        /must name the same engine family, host and port/,
      );
    }
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("refuses users that are the admin's own user or its clone, either way round", async () => {
    givenPending(undefined);
    for (const [adminUser, username] of [
      ["admin", "admin"],
      ["admin", "admin_clone"],
      ["admin_clone", "admin"],
      ["root_clone", "root_clone_clone"],
    ]) {
      givenAdmin({ ...admin, username: adminUser });
      const refused = strategy().createSecret(context("createSecret", { ...withAdmin, username }));
      await expect(refused, username).rejects.toMatchObject({ severity: "critical" });
      await expect(refused, username).rejects.toThrow(/include the admin's own user or its clone/);
    }
    expect(secretsManager).not.toHaveReceivedCommand(PutSecretValueCommand);
  });

  it("setSecret refuses a secret whose AWSCURRENT password does not log in, before the admin acts", async () => {
    givenPending({ ...withAdmin, username: "app_clone", password: NEW_PASSWORD });
    database.users.set("admin", admin.password);
    database.users.set("app", "Someone-Elses-Password-1");

    const refused = strategy().setSecret(context("setSecret", withAdmin));

    await expect(refused).rejects.toBeInstanceOf(AdminSecretRefusedError);
    await expect(refused).rejects.toThrow(/AWSCURRENT password does not log in as "app"/);
    expect(database.calls).toEqual([]);
  });

  it("setSecret refuses when the driver finds privileges the secret does not hold, and changes nothing", async () => {
    givenPending({ ...withAdmin, username: "app_clone", password: NEW_PASSWORD });
    database.users.set("admin", admin.password);
    database.excess = 'user "app_clone" already holds CREATEROLE, which "app" lacks';

    const refused = strategy().setSecret(context("setSecret", withAdmin));

    await expect(refused).rejects.toMatchObject({ severity: "critical" });
    await expect(refused).rejects.toThrow(/already holds CREATEROLE/);
    expect(database.calls).toEqual(["compare app_clone with app"]);
  });

  it("testSecret failure leaves AWSCURRENT alone", async () => {
    givenPending({ ...withAdmin, username: "app_clone", password: NEW_PASSWORD });
    await expect(strategy().testSecret(context("testSecret", withAdmin))).rejects.toThrow(
      /is refused; AWSCURRENT is untouched/,
    );
  });
});

describe("the deadline", () => {
  it("stops before logging in when too little time is left, and changes nothing", async () => {
    givenPending({ ...current, password: NEW_PASSWORD });
    database.users.set("app", current.password);
    const late = { ...context("setSecret"), deadline: new Deadline(() => 1_500, 1_000) };
    await expect(singleUserStrategy("mysql-single", database, retry).setSecret(late)).rejects.toBeInstanceOf(
      DeadlineExceededError,
    );
    expect(database.calls).toEqual([]);
  });
});
