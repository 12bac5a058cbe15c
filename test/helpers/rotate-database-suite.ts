// The behaviour every database strategy shares, run against one real engine (PostgreSQL or MariaDB)
// with password authentication and TLS, and the sandbox's Secrets Manager.
import { GetRandomPasswordCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectionPolicyError,
  NoWorkingCredentialError,
  PasswordNotCheckedError,
  RotationDisabledError,
  SecretFormatError,
  TargetError,
  TestSecretFailedError,
  TokenMismatchError,
  UnknownStrategyError,
} from "../../functions/rotate/errors.ts";
import { ADMIN_BINDING_TAG } from "../../functions/rotate/strategies/database/admin.ts";
import { statementHooks } from "../../functions/rotate/strategies/database/driver.ts";
import { RotationHarness, SimulatedCrash, token } from "./rotate-harness.ts";

/** What the suite needs of one engine. */
export interface TestEngine {
  family: "postgres" | "mysql";
  /** Engine name written into secrets. */
  engine: string;
  maxUsername: number;
  start(): Promise<{ caFile: string; stop(): Promise<void> }>;
  /** The RDS-format fields that locate the server. */
  target(): { engine: string; host: string; port: number; dbname?: string };
  adminSecret(): Record<string, unknown>;
  /** Creates a login user with privileges an application would have. */
  createUser(username: string, password: string): Promise<void>;
  /** True when the database accepts the credential; throws when it cannot be reached. */
  logsIn(username: string, password: string): Promise<boolean>;
}

const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");

/** Defines the shared rotation suite for one engine: single-user and alternating strategies. */
export function databaseRotationSuite(engine: TestEngine, onReady?: (harness: RotationHarness) => void) {
  let harness: RotationHarness;
  let server: { caFile: string; stop(): Promise<void> };
  let adminArn: string;
  const secretArns: string[] = [];
  const extraPasswords: string[] = [];
  const errorsSeen: string[] = [];
  let counter = 0;
  const prefix = `${engine.family}`;

  const unique = (base: string) => `${base}${++counter}`;
  const single = `${engine.family}-single`;
  const alternating = `${engine.family}-alternating`;

  function rethrowRemembered(error: unknown): never {
    throw remember(error);
  }

  /** Records an error's text (message, stack, causes) for the "no password in any output" check. */
  function remember(error: unknown): unknown {
    let current: unknown = error;
    while (current) {
      errorsSeen.push(current instanceof Error ? `${current.message}\n${current.stack}` : String(current));
      current = current instanceof Error ? current.cause : undefined;
    }
    return error;
  }

  async function newSecret(
    kind: "single" | "alternating",
    options: { username?: string; password?: string } = {},
  ) {
    const username = options.username ?? unique(`${prefix}_app_`);
    const password = options.password ?? `Initial-${counter}-pw!`;
    extraPasswords.push(password);
    await engine.createUser(username, password);
    const value: Record<string, unknown> = { ...engine.target(), username, password };
    const name = unique(`vigil/${prefix}/app-`);
    if (kind === "alternating") value.masterarn = await boundAdmin(name);
    const arn = await harness.createSecret(name, value, {
      "vigil:rotation": kind === "single" ? single : alternating,
    });
    secretArns.push(arn);
    return { arn, username, password };
  }

  /** An admin secret (the engine's admin credential) whose owner bound it to the secret `name`. */
  async function boundAdmin(name: string, admin: Record<string, unknown> = engine.adminSecret()) {
    const arn = await harness.createSecret(unique(`vigil/${prefix}/admin-for-`), admin, {
      [ADMIN_BINDING_TAG]: name,
    });
    secretArns.push(arn);
    return arn;
  }

  /** An alternating secret of an existing user, with an admin secret bound to it; returns its ARN. */
  async function boundSecret(username: string, password: string) {
    extraPasswords.push(password);
    const name = unique(`vigil/${prefix}/bound-`);
    const value = { ...engine.target(), username, password, masterarn: await boundAdmin(name) };
    const arn = await harness.createSecret(name, value);
    secretArns.push(arn);
    return arn;
  }

  async function currentLogsIn(arn: string): Promise<boolean> {
    const { current } = await harness.versions(arn);
    return engine.logsIn(String(current.username), String(current.password));
  }

  /** Checks the invariant at one instant: AWSCURRENT logs in (alternating), or AWSCURRENT or AWSPENDING (single). */
  async function checkInvariant(arn: string, kind: "single" | "alternating", at: string) {
    const { current, pending } = await harness.versions(arn);
    if (await engine.logsIn(String(current.username), String(current.password))) return;
    const pendingWorks =
      pending !== undefined && (await engine.logsIn(String(pending.username), String(pending.password)));
    if (kind === "single" && pendingWorks) return; // the documented single-user window
    throw new Error(`invariant broken after ${at}: no stored credential logs in (${kind})`);
  }

  async function expectConverged(arn: string, versionId: string) {
    const { current, stages } = await harness.versions(arn);
    expect(stages[versionId]).toContain("AWSCURRENT");
    // AWSPENDING may stay on the new current version (a finishSecret interrupted after moving AWSCURRENT:
    // the protocol treats the token as done, as Secrets Manager does), never on another version.
    for (const [version, labels] of Object.entries(stages)) {
      if (version !== versionId) expect(labels).not.toContain("AWSPENDING");
    }
    expect(await engine.logsIn(String(current.username), String(current.password))).toBe(true);
  }

  beforeAll(async () => {
    server = await engine.start();
    harness = await RotationHarness.start({ caBundlePath: server.caFile });
    adminArn = await harness.createSecret(`vigil/${prefix}/admin`, engine.adminSecret());
    secretArns.push(adminArn);
    harness.captureOutput();
    onReady?.(harness);
  });

  afterAll(async () => {
    harness?.releaseOutput();
    if (harness) {
      // Every log line and error written during the whole file contains none of the passwords.
      const passwords = [...extraPasswords];
      for (const arn of secretArns) passwords.push(...(await harness.allPasswords(arn)));
      const failures = harness.sandbox
        .rotations()
        .map((record) => record.failure?.message ?? "")
        .join("\n");
      const everything = `${harness.output}\n${errorsSeen.join("\n")}\n${failures}`;
      expect(passwords.length).toBeGreaterThan(0);
      expect(harness.output).toContain("rotation step finished");
      for (const password of passwords)
        expect(everything.includes(password), "a password leaked").toBe(false);
      await harness.stop();
    }
    await server?.stop();
  });

  describe(`${single}: full rotation`, () => {
    it("rotates through RotateSecret: AWSCURRENT logs in afterwards and the old password no longer does", async () => {
      const { arn, username, password } = await newSecret("single");
      const record = await harness.rotate(arn, token(1));
      expect(record.status, record.failure?.message).toBe("succeeded");
      await expectConverged(arn, token(1));
      const { current, previous } = await harness.versions(arn);
      expect(current.username).toBe(username);
      expect(current.password).not.toBe(password);
      expect(previous?.password).toBe(password);
      expect(await engine.logsIn(username, password)).toBe(false);
    });

    it("rotates again from the rotated value", async () => {
      const { arn } = await newSecret("single");
      expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
      const first = (await harness.versions(arn)).current;
      expect((await harness.rotate(arn, token(2))).status).toBe("succeeded");
      await expectConverged(arn, token(2));
      expect(await engine.logsIn(String(first.username), String(first.password))).toBe(false);
    });
  });

  describe(`${alternating}: full rotation`, () => {
    it("moves AWSCURRENT to username_clone and the previous user keeps working; the next rotation returns to username", async () => {
      const { arn, username, password } = await newSecret("alternating");
      const firstRecord = await harness.rotate(arn, token(1));
      expect(firstRecord.status, firstRecord.failure?.message).toBe("succeeded");
      await expectConverged(arn, token(1));
      const first = await harness.versions(arn);
      expect(first.current.username).toBe(`${username}_clone`);
      expect(await engine.logsIn(username, password)).toBe(true);

      const record = await harness.rotate(arn, token(2));
      expect(record.status, record.failure?.message).toBe("succeeded");
      await expectConverged(arn, token(2));
      const second = await harness.versions(arn);
      expect(second.current.username).toBe(username);
      expect(second.current.password).not.toBe(password);
      expect(await engine.logsIn(`${username}_clone`, String(first.current.password))).toBe(true);
      expect(await engine.logsIn(username, password)).toBe(false);
    });

    it("refuses a username with no room for the _clone suffix, naming the limit, and changes nothing", async () => {
      const username = `l${"x".repeat(engine.maxUsername - 1)}`;
      const { arn } = await newSecret("alternating", { username });
      const record = await harness.rotate(arn, token(1));
      expect(record.status).toBe("failed");
      expect(record.failure?.message).toMatch(new RegExp(`allows 1 to ${engine.maxUsername}`));
      const { pending } = await harness.versions(arn);
      expect(pending).toBeUndefined();
      expect(await currentLogsIn(arn)).toBe(true);
    });
  });

  describe("crash-point matrix", () => {
    for (const kind of ["single", "alternating"] as const) {
      it(`${kind}: converges after an interruption after every side effect, by resuming or by restarting`, async () => {
        // A clean run lists the side effects: each Secrets Manager write and each database statement.
        const probe = await newSecret(kind);
        harness.resetEffects();
        expect((await harness.rotate(probe.arn, token(1))).status).toBe("succeeded");
        const effects = [...harness.effects];
        expect(effects.some((effect) => effect.startsWith("DB "))).toBe(true);
        // PutSecretValue, AWSCURRENT moved, VIGIL_ANNOUNCED moved, AWSPENDING removed.
        expect(effects.filter((effect) => effect.startsWith("SM "))).toHaveLength(4);

        for (let crashAt = 1; crashAt <= effects.length; crashAt++) {
          for (const recovery of ["resume", "restart"] as const) {
            const { arn } = await newSecret(kind);
            harness.resetEffects();
            harness.observe = (effect) => checkInvariant(arn, kind, effect);
            harness.crashAfter = crashAt;
            const record = await harness.rotate(arn, token(1));
            if (record.status === "succeeded") {
              // testSecret retries its read-only check within the step, and finishSecret's announced label
              // is best effort: a failure there is absorbed.
              expect(effects[crashAt - 1]).toMatch(/^DB SELECT|VIGIL_ANNOUNCED$/);
              harness.observe = undefined;
              await expectConverged(arn, token(1));
              continue;
            }
            expect(record.status, `crash after ${effects[crashAt - 1]}`).toBe("failed");
            expect(record.failure?.message).toMatch(/simulated crash/);
            await checkInvariant(arn, kind, `crash after ${effects[crashAt - 1]}`);
            const failedStep = record.failure!.step as "createSecret";
            await harness.continueRotation(
              arn,
              token(1),
              recovery === "resume" ? failedStep : "createSecret",
            );
            harness.observe = undefined;
            await expectConverged(arn, token(1));
          }
        }
        // Every side effect is a crash point, twice: allow for a loaded machine.
      }, 600_000);
    }
  });

  describe(`${single}: rollback`, () => {
    it("puts the database back on AWSCURRENT when testSecret fails for good, then converges when retried", async () => {
      const { arn, password } = await newSecret("single");
      statementHooks.afterStatement = ({ label }) => {
        if (label.startsWith("SELECT")) throw new Error("check failed (test)");
      };
      let record: Awaited<ReturnType<RotationHarness["rotate"]>>;
      try {
        record = await harness.rotate(arn, token(1));
      } finally {
        statementHooks.afterStatement = undefined;
      }
      expect(record.status).toBe("failed");
      expect(record.failure?.step).toBe("testSecret");
      expect(record.failure?.message).toMatch(/rollback/);
      expect(await engine.logsIn(String((await harness.versions(arn)).current.username), password)).toBe(
        true,
      );
      const { pending } = await harness.versions(arn);
      expect(await engine.logsIn(String(pending?.username), String(pending?.password))).toBe(false);

      await harness.continueRotation(arn, token(1), "setSecret");
      await expectConverged(arn, token(1));
    });
  });

  describe("concurrency", () => {
    for (const kind of ["single", "alternating"] as const) {
      it(`${kind}: two concurrent invocations of every step do not corrupt the secret`, async () => {
        const { arn } = await newSecret(kind);
        // The sandbox creates the pending version and createSecret stores it; then every step runs twice at once.
        harness.resetEffects();
        harness.crashAfter = 1;
        await harness.rotate(arn, token(1)); // stops after createSecret stored the pending value
        const stored = (await harness.versions(arn)).pending;
        for (const step of ["createSecret", "setSecret", "testSecret", "finishSecret"] as const) {
          const results = await Promise.allSettled([
            harness.step(arn, token(1), step),
            harness.step(arn, token(1), step),
          ]);
          for (const result of results) if (result.status === "rejected") remember(result.reason);
          if (results.every((result) => result.status === "rejected"))
            await harness.step(arn, token(1), step);
        }
        await harness.continueRotation(arn, token(1), "setSecret");
        await expectConverged(arn, token(1));
        expect((await harness.versions(arn)).current).toEqual(stored);
      });
    }

    it("createSecret run twice at once stores one pending value", async () => {
      const { arn } = await newSecret("single");
      harness.resetEffects();
      harness.crashAfter = 1;
      await harness.rotate(arn, token(1));
      const first = (await harness.versions(arn)).pending;
      await Promise.all([
        harness.step(arn, token(1), "createSecret"),
        harness.step(arn, token(1), "createSecret"),
      ]);
      expect((await harness.versions(arn)).pending).toEqual(first);
    });
  });

  describe("quoting and escaping (fast-check)", () => {
    const awkwardName = fc
      .array(fc.constantFrom(..."aZ_ 'q\"`\\x9-Ü$%".split("")), { minLength: 1, maxLength: 12 })
      .map((chars) => chars.join(""))
      .filter((name) => name.trim() === name && !name.startsWith("$"));

    it("rotates users with awkward names and passwords over the whole printable character set", async () => {
      const original = harness.settings;
      // The policy allows every printable character, quotes and backslashes included.
      harness.settings = { ...original, excludeCharacters: "" };
      try {
        await fc.assert(
          fc.asyncProperty(
            awkwardName,
            fc.string({ unit: fc.constantFrom(...PRINTABLE.split("")), minLength: 8, maxLength: 40 }),
            fc.constantFrom("single", "alternating") as fc.Arbitrary<"single" | "alternating">,
            async (name, initialPassword, kind) => {
              const username = `${unique("u")}${name}`;
              const { arn } = await newSecret(kind, { username, password: initialPassword });
              const record = await harness.rotate(arn, token(1));
              expect(record.status, record.failure?.message).toBe("succeeded");
              await expectConverged(arn, token(1));
            },
          ),
          { numRuns: 12 },
        );
      } finally {
        harness.settings = original;
      }
    });

    it(`rotates a user whose name has the engine's maximum length (${engine.maxUsername})`, async () => {
      const username = `M'x ${"y".repeat(engine.maxUsername - 4 - String(counter + 1).length)}${counter + 1}`;
      expect(username.length).toBe(engine.maxUsername);
      const { arn } = await newSecret("single", { username });
      expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
      await expectConverged(arn, token(1));
    });

    it(`rotates alternating users whose clone name has exactly the maximum length (${engine.maxUsername})`, async () => {
      const suffix = String(counter + 1);
      const username = `A"b ${"z".repeat(engine.maxUsername - 6 - 4 - suffix.length)}${suffix}`;
      expect(`${username}_clone`.length).toBe(engine.maxUsername);
      const { arn } = await newSecret("alternating", { username });
      expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
      await expectConverged(arn, token(1));
      expect((await harness.versions(arn)).current.username).toBe(`${username}_clone`);
    });

    it("generates passwords with GetRandomPassword and the configured policy", async () => {
      const original = harness.settings;
      harness.settings = { ...original, passwordLength: 48, excludeCharacters: "abcdefghijklmnopqrstuvwxyz" };
      try {
        const { arn } = await newSecret("single");
        expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
        const password = String((await harness.versions(arn)).current.password);
        expect(password).toHaveLength(48);
        expect(password).not.toMatch(/[a-z]/);
      } finally {
        harness.settings = original;
      }
      const sample = await harness.admin.send(new GetRandomPasswordCommand({ PasswordLength: 8 }));
      expect(sample.RandomPassword).toHaveLength(8);
    });
  });

  describe("the admin secret (masterarn): no secret borrows its power", () => {
    const bogus = "Bogus-Password-1";

    /**
     * A secret of `username` with a password the database never accepted, whose masterarn is the shared
     * admin secret (bound to nothing) or, with `bound`, an admin secret its owner bound to this secret.
     */
    async function attackerSecret(username: string, options: { bound?: boolean } = {}) {
      extraPasswords.push(bogus);
      const name = unique(`vigil/${prefix}/attack-`);
      const masterarn = options.bound ? await boundAdmin(name) : adminArn;
      const arn = await harness.createSecret(name, {
        ...engine.target(),
        username,
        password: bogus,
        masterarn,
      });
      secretArns.push(arn);
      return { arn, masterarn };
    }

    /** Runs the rotation, then the step it stopped at again, and returns that step's error. */
    async function refusal(arn: string) {
      const record = await harness.rotate(arn, token(1));
      expect(record.status).toBe("failed");
      const step = record.failure!.step as "createSecret";
      return harness.step(arn, token(1), step).then(
        () => undefined,
        (error: unknown) => remember(error) as Error & { severity?: string },
      );
    }

    async function expectAdminIntact(usernames: string[]) {
      const admin = engine.adminSecret();
      expect(await engine.logsIn(String(admin.username), String(admin.password))).toBe(true);
      const { pending } = await harness.versions(secretArns.at(-1)!);
      for (const username of usernames) {
        if (pending) expect(await engine.logsIn(username, String(pending.password))).toBe(false);
      }
    }

    it("refuses a secret naming the admin's clone with a bogus password (critical, naming both secrets)", async () => {
      const adminUser = String(engine.adminSecret().username);
      const { arn } = await attackerSecret(`${adminUser}_clone`);

      const error = await refusal(arn);

      expect(error?.severity).toBe("critical");
      expect(error?.message).toContain(arn);
      expect(error?.message).toContain(adminArn);
      expect(error?.message).toMatch(/not bound/);
      await expectAdminIntact([adminUser, `${adminUser}_clone`]);
    });

    it("refuses a secret naming the admin's own user, so no clone of the admin is made", async () => {
      const adminUser = String(engine.adminSecret().username);
      const { arn } = await attackerSecret(adminUser);

      const error = await refusal(arn);

      expect(error?.severity).toBe("critical");
      expect(error?.message).toContain(adminArn);
      await expectAdminIntact([adminUser, `${adminUser}_clone`]);
    });

    it("refuses the admin's user or its clone even in a secret the admin is bound to", async () => {
      const adminUser = String(engine.adminSecret().username);
      for (const username of [adminUser, `${adminUser}_clone`]) {
        const { arn, masterarn } = await attackerSecret(username, { bound: true });

        const error = await refusal(arn);

        expect(error?.severity).toBe("critical");
        expect(error?.message).toContain(masterarn);
        expect(error?.message).toMatch(/include the admin's own user or its clone/);
        await expectAdminIntact([adminUser, `${adminUser}_clone`]);
      }
    });

    it("refuses a bound secret that names another user it cannot log in as, and leaves that user alone", async () => {
      const victim = unique(`${prefix}_victim_`);
      await engine.createUser(victim, "Victim-Password-1");
      extraPasswords.push("Victim-Password-1");
      for (const username of [victim, `${victim}_clone`]) {
        const { arn } = await attackerSecret(username, { bound: true });

        const error = await refusal(arn);

        expect(error?.severity).toBe("critical");
        expect(error?.message).toMatch(/AWSCURRENT password does not log in/);
        expect(await engine.logsIn(victim, "Victim-Password-1")).toBe(true);
        const { pending } = await harness.versions(arn);
        expect(await engine.logsIn(`${victim}_clone`, String(pending?.password))).toBe(false);
      }
    });
  });

  describe("bad input: a clear error and no change", () => {
    async function expectUnchanged(arn: string, before: Awaited<ReturnType<RotationHarness["versions"]>>) {
      const after = await harness.versions(arn);
      expect(after.current).toEqual(before.current);
      expect(after.pending).toBeUndefined();
    }

    async function failsWith(
      value: unknown,
      pattern: RegExp,
      tags: Record<string, string> = {},
      options: { pendingStored?: boolean; name?: string } = {},
    ) {
      const name = options.name ?? unique(`vigil/${prefix}/bad-`);
      const arn = await harness.createSecret(name, {}, tags);
      await harness.admin.send(
        new PutSecretValueCommand({
          SecretId: arn,
          SecretString: typeof value === "string" ? value : JSON.stringify(value),
        }),
      );
      secretArns.push(arn);
      const before = await harness.versions(arn).catch(() => undefined);
      const record = await harness.rotate(arn, token(1));
      expect(record.status).toBe("failed");
      expect(record.failure?.message).toMatch(pattern);
      remember(record.failure?.message);
      if (before?.current && !options.pendingStored) await expectUnchanged(arn, before);
      if (options.pendingStored) expect((await harness.versions(arn)).current).toEqual(before?.current);
      return record;
    }

    it("malformed JSON", async () => {
      await failsWith("{not json", /is not valid JSON/, { "vigil:rotation": single });
    });

    it("missing fields, named without echoing values", async () => {
      const {
        password: _password,
        host: _host,
        ...rest
      } = { ...engine.target(), username: "x", password: "Secret-Value-1" };
      const record = await failsWith(rest, /missing "host"; missing "password"/, {
        "vigil:rotation": single,
      });
      expect(record.failure?.message).not.toContain("Secret-Value-1");
    });

    it("a wrong engine for the tagged strategy", async () => {
      const other = engine.family === "postgres" ? "mysql" : "postgres";
      await failsWith(
        { ...engine.target(), engine: other, username: "u", password: "Pw-123456" },
        /do not rotate/,
        {
          "vigil:rotation": single,
        },
      );
    });

    it("an engine no strategy knows", async () => {
      await failsWith(
        { ...engine.target(), engine: "oracle", username: "u", password: "Pw-123456" },
        /oracle/,
      );
    });

    it("an unreachable database", async () => {
      await failsWith(
        { ...engine.target(), port: 1, username: "u", password: "Pw-1234567" },
        /cannot connect/,
        { "vigil:rotation": single },
        { pendingStored: true },
      );
    });

    it("a wrong current password", async () => {
      const username = unique(`${prefix}_wrong_`);
      await engine.createUser(username, "Right-Password-1");
      const record = await failsWith(
        { ...engine.target(), username, password: "Wrong-Password-1" },
        /refuses the AWSPENDING, AWSCURRENT and AWSPREVIOUS/,
        { "vigil:rotation": single },
        { pendingStored: true },
      );
      expect(record.failure?.step).toBe("setSecret");
      expect(await engine.logsIn(username, "Right-Password-1")).toBe(true);
    });

    it("rotation disabled", async () => {
      const { arn } = await newSecret("single");
      const before = await harness.versions(arn);
      await expect(
        harness.step(arn, token(98), "createSecret").catch(rethrowRemembered),
      ).rejects.toBeInstanceOf(RotationDisabledError);
      await expectUnchanged(arn, before);
    });

    it("a token that is unknown, or neither AWSPENDING nor AWSCURRENT", async () => {
      const { arn } = await newSecret("single");
      const initial = Object.keys((await harness.versions(arn)).stages)[0]!;
      expect((await harness.rotate(arn, token(1))).status).toBe("succeeded");
      const before = await harness.versions(arn);
      await expect(harness.step(arn, token(99), "setSecret").catch(rethrowRemembered)).rejects.toBeInstanceOf(
        TokenMismatchError,
      );
      await expect(harness.step(arn, initial, "setSecret").catch(rethrowRemembered)).rejects.toThrow(
        /neither AWSPENDING nor AWSCURRENT/,
      );
      await expectUnchanged(arn, before);
    });

    it("an admin secret that is not a database secret", async () => {
      const username = unique(`${prefix}_noadmin_`);
      await engine.createUser(username, "Right-Password-2");
      const name = unique(`vigil/${prefix}/bad-`);
      const broken = await harness.createSecret(
        unique(`vigil/${prefix}/broken-admin-`),
        { user: "x" },
        { [ADMIN_BINDING_TAG]: name },
      );
      const record = await failsWith(
        { ...engine.target(), username, password: "Right-Password-2", masterarn: broken },
        /admin secret named by masterarn.*missing "engine"/,
        {},
        { name },
      );
      expect(record.failure?.step).toBe("createSecret");
    });
  });

  return {
    errors: {
      ConnectionPolicyError,
      SecretFormatError,
      TargetError,
      TestSecretFailedError,
      NoWorkingCredentialError,
      PasswordNotCheckedError,
      UnknownStrategyError,
    },
    harness: () => harness,
    newSecret,
    boundAdmin,
    boundSecret,
    remember,
    /** Adds a password to the "never in any output" check. */
    trackPassword: (password: string) => extraPasswords.push(password),
    logsIn: (username: string, password: string) => engine.logsIn(username, password),
    crashType: SimulatedCrash,
  };
}
