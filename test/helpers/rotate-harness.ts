// Drives database rotations against the local sandbox's Secrets Manager and throwaway databases, with
// crash injection after every side effect: each Secrets Manager write (an SDK middleware that throws once
// the write has succeeded) and each database statement (the strategies' statement hook).
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  RotateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { Deadline } from "../../functions/rotate/deadline.ts";
import { rotateSecretStep } from "../../functions/rotate/protocol.ts";
import { loadRotationSettings, type RotationSettings } from "../../functions/rotate/settings.ts";
import { statementHooks } from "../../functions/rotate/strategies/database/driver.ts";
import { ROTATION_STEPS, type RotationStep } from "../../functions/rotate/strategy.ts";
import { createLogger } from "../../lib/logger.ts";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";
import { type CapturedOutput, captureOutput } from "./output.ts";

export const ROTATION_LAMBDA = "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate";
const SM_WRITES = new Set(["PutSecretValueCommand", "UpdateSecretVersionStageCommand"]);

/** Thrown by the harness to simulate a crash right after a side effect. */
export class SimulatedCrash extends Error {
  constructor(readonly effect: string) {
    super(`simulated crash after ${effect}`);
    this.name = "SimulatedCrash";
  }
}

export interface StoredVersions {
  current: Record<string, unknown>;
  pending?: Record<string, unknown>;
  previous?: Record<string, unknown>;
  stages: Record<string, string[]>;
}

/** Everything a rotation test needs; one per test file (one sandbox). */
export class RotationHarness {
  /** Side effects seen since the last `resetEffects()`, in order. */
  effects: string[] = [];
  /** Crash after this many side effects (1-based); undefined = never. */
  crashAfter: number | undefined;
  /** Called after every side effect (before a crash), e.g. to check that a stored credential logs in. */
  observe: ((effect: string) => Promise<void>) | undefined;
  settings: RotationSettings;
  private readonly logger = createLogger("vigil-rotate-test");
  private captured: CapturedOutput | undefined;
  private released = "";

  private constructor(
    readonly sandbox: Sandbox,
    /** Client used by the rotation steps: instrumented for crashes. */
    readonly client: SecretsManagerClient,
    /** Client used by the test itself (setup and inspection). */
    readonly admin: SecretsManagerClient,
    caBundlePath: string | undefined,
  ) {
    this.settings = loadRotationSettings(caBundlePath ? { DB_CA_BUNDLE_PATH: caBundlePath } : {});
  }

  static async start(options: { caBundlePath?: string } = {}): Promise<RotationHarness> {
    let self: RotationHarness | undefined;
    const sandbox = await startSandbox({
      port: 0,
      rotationLambda: async (event, context) => {
        await self!.step(event.SecretId, event.ClientRequestToken, event.Step as RotationStep, () =>
          context.getRemainingTimeInMillis(),
        );
      },
    });
    const client = new SecretsManagerClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
    const admin = new SecretsManagerClient({ ...sandbox.clientConfig(), maxAttempts: 1 });
    self = new RotationHarness(sandbox, client, admin, options.caBundlePath);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (SM_WRITES.has(context.commandName ?? "")) {
          const label = (args.input as { VersionStage?: string }).VersionStage;
          await self!.sideEffect(`SM ${context.commandName}${label ? ` ${label}` : ""}`);
        }
        return result;
      },
      { step: "initialize", name: "vigilCrashInjection" },
    );
    statementHooks.afterStatement = ({ label }) => self!.sideEffect(`DB ${label}`);
    return self;
  }

  async stop(): Promise<void> {
    statementHooks.afterStatement = undefined;
    this.client.destroy();
    this.admin.destroy();
    await this.sandbox.stop();
  }

  /** Records a side effect, lets the observer look, then crashes if armed for this one. */
  private async sideEffect(effect: string): Promise<void> {
    this.effects.push(effect);
    await this.observe?.(effect);
    if (this.crashAfter !== undefined && this.effects.length === this.crashAfter) {
      this.crashAfter = undefined;
      throw new SimulatedCrash(effect);
    }
  }

  resetEffects(): void {
    this.effects = [];
    this.crashAfter = undefined;
  }

  /** Captures stdout and stderr (every log line) until `releaseOutput()`. */
  captureOutput(): void {
    this.captured ??= captureOutput();
  }

  releaseOutput(): void {
    if (!this.captured) return;
    this.released += this.captured.text();
    this.captured.restore();
    this.captured = undefined;
  }

  /** Everything written to stdout/stderr while the output was captured. */
  get output(): string {
    return this.released + (this.captured?.text() ?? "");
  }

  /** Runs one step through the real protocol (guards, strategy selection, promotion). */
  async step(secretId: string, token: string, step: RotationStep, remaining = () => 60_000) {
    return rotateSecretStep(
      { SecretId: secretId, ClientRequestToken: token, Step: step },
      new Deadline(remaining, 500),
      {
        secretsManager: this.client,
        ecs: () => {
          throw new Error("no ECS in these tests");
        },
        logger: this.logger,
        settings: this.settings,
        publish: undefined,
      },
    );
  }

  /** Runs the steps from `from` to finishSecret with the same token. */
  async continueRotation(secretId: string, token: string, from: RotationStep = "createSecret") {
    for (const step of ROTATION_STEPS.slice(ROTATION_STEPS.indexOf(from)))
      await this.step(secretId, token, step);
  }

  /** RotateSecret (`secretId` an ARN): the sandbox creates the pending version and drives the four steps; returns its record. */
  async rotate(secretId: string, token: string) {
    await this.admin.send(
      new RotateSecretCommand({
        SecretId: secretId,
        RotationLambdaARN: ROTATION_LAMBDA,
        ClientRequestToken: token,
      }),
    );
    // Every secret's first rotation uses token(1): match the secret too, never another one's record.
    const record = this.sandbox
      .rotations()
      .findLast((r) => r.versionId === token && r.secretArn === secretId);
    if (!record) throw new Error(`RotateSecret recorded no rotation of ${secretId} version ${token}`);
    return record;
  }

  /** Creates a secret with a JSON value (and tags); returns its ARN. */
  async createSecret(name: string, value: Record<string, unknown>, tags: Record<string, string> = {}) {
    const created = await this.admin.send(
      new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) }),
    );
    if (Object.keys(tags).length > 0) {
      await this.admin.send(
        new TagResourceCommand({
          SecretId: created.ARN!,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
    }
    return created.ARN!;
  }

  /** Every password any version of the secret has held (for the "never in any output" checks). */
  async allPasswords(secretId: string): Promise<string[]> {
    const { Versions = [] } = await this.admin.send(
      new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }),
    );
    const passwords: string[] = [];
    for (const { VersionId } of Versions) {
      try {
        const { SecretString } = await this.admin.send(
          new GetSecretValueCommand({ SecretId: secretId, VersionId }),
        );
        const password = (JSON.parse(SecretString ?? "{}") as { password?: unknown }).password;
        if (typeof password === "string") passwords.push(password);
      } catch {
        // a version without a value, or not JSON
      }
    }
    return passwords;
  }

  /** The values of AWSCURRENT, AWSPENDING (when it has one) and AWSPREVIOUS. */
  async versions(secretId: string): Promise<StoredVersions> {
    const { VersionIdsToStages = {} } = await this.admin.send(
      new DescribeSecretCommand({ SecretId: secretId }),
    );
    const read = async (stage: string) => {
      const versionId = Object.entries(VersionIdsToStages).find(([, stages]) => stages.includes(stage))?.[0];
      if (!versionId) return undefined;
      try {
        const { SecretString } = await this.admin.send(
          new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId, VersionStage: stage }),
        );
        return SecretString === undefined ? undefined : (JSON.parse(SecretString) as Record<string, unknown>);
      } catch {
        return undefined; // the empty version RotateSecret creates
      }
    };
    const [current, pending, previous] = await Promise.all([
      read("AWSCURRENT"),
      read("AWSPENDING"),
      read("AWSPREVIOUS"),
    ]);
    return { current: current!, pending, previous, stages: VersionIdsToStages };
  }
}

/** A deterministic UUID-shaped token. */
export function token(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
}
