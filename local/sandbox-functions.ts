import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { type Sandbox, type SandboxOptions, startSandbox } from "./sandbox.ts";

/**
 * The sandbox with Vigil's own functions running inside it, wired as in AWS: RotateSecret runs the rotate
 * bundle, rotation failures and findings go to the findings queue, the notifier consumes it and pages the
 * sandbox's PagerDuty (and publishes to the alerts topic), and the scanner hears of trail files and API
 * calls. The functions run in this process and read their configuration from `process.env`, which
 * `startSandboxWithFunctions` therefore sets.
 */

/** Names of what the functions use, as the deployed stack would name them. */
export const localFunctionNames = {
  rotate: "vigil-local-rotate",
  notify: "vigil-local-notify",
  findingsQueue: "vigil-local-findings",
  alertsTopic: "vigil-local-alerts",
  routingKeySecret: "vigil/local/pagerduty-routing-key",
} as const;

/**
 * The functions sign with their own key, an assumed role as their execution role would be, so CloudTrail
 * (and the scanner) tell their calls from the developer's.
 */
export const functionsAccessKeyId = "ASIAVIGILFUNCTIONS01";
const functionsIdentity = {
  accessKeyId: functionsAccessKeyId,
  type: "AssumedRole",
  name: "vigil-local-functions",
  sessionName: "vigil-local-functions",
} as const;

/** A PagerDuty integration key of the right shape (32 characters); the sandbox's PagerDuty accepts any. */
const localRoutingKey = "VIGILLOCALSANDBOXROUTINGKEY00001";

/** The built function bundles (`npm run build`), by name; a bundle that is not built is absent. */
export function builtBundles(): { rotate?: string; notify?: string; scanner?: string } {
  const dist = join(packageRoot(), "dist");
  const bundle = (name: string) => {
    const path = join(dist, name, "index.mjs");
    return existsSync(path) ? path : undefined;
  };
  const rotate = bundle("rotate");
  const notify = bundle("notify");
  const scanner = bundle("audit-scan");
  return { ...(rotate ? { rotate } : {}), ...(notify ? { notify } : {}), ...(scanner ? { scanner } : {}) };
}

export interface SandboxWithFunctions {
  sandbox: Sandbox;
  /** The sandbox's environment plus the functions' (FINDINGS_QUEUE_URL, ALERTS_TOPIC_ARN, ...), for a person. */
  env: Record<string, string>;
  /** The Lambda ARN to give RotateSecret (`--rotation-lambda-arn`); set when a rotate handler runs. */
  rotationLambdaArn?: string;
  /** The handlers that run, as given (module paths or "function"). */
  functions: { rotate?: string; notify?: string; scanner?: string };
}

/** Starts the sandbox with the rotate, notify and scanner handlers given (module paths or functions). */
export async function startSandboxWithFunctions(
  options: SandboxOptions,
  handlers: {
    rotate?: SandboxOptions["rotationLambda"];
    notify?: string | NonNullable<SandboxOptions["queueConsumers"]>[number]["handler"];
    scanner?: SandboxOptions["scannerLambda"];
  },
): Promise<SandboxWithFunctions> {
  const names = localFunctionNames;
  const sandbox = await startSandbox({
    ...options,
    identities: [functionsIdentity, ...(options.identities ?? [])],
    ...(handlers.rotate ? { rotationLambda: handlers.rotate } : {}),
    ...(handlers.scanner
      ? {
          scannerLambda: handlers.scanner,
          // As the stack schedules them; CloudTrail itself delivers about every 5 minutes, here every minute.
          scannerSchedules: options.scannerSchedules ?? [
            { detail: { task: "lookup-sweep" }, everyMs: 5 * 60_000 },
            { detail: { task: "compliance-sweep" }, everyMs: 60 * 60_000 },
          ],
          trailDeliveryIntervalMs: options.trailDeliveryIntervalMs ?? 60_000,
        }
      : {}),
    snsTopics: [...(options.snsTopics ?? []), names.alertsTopic],
    sqsQueues: [...(options.sqsQueues ?? []), names.findingsQueue],
    queueConsumers: [
      ...(options.queueConsumers ?? []),
      ...(handlers.notify
        ? [{ queue: names.findingsQueue, functionName: names.notify, handler: handlers.notify }]
        : []),
    ],
  });
  // The functions' role is this sandbox's rotation role: without a policy saying so, the scanner would
  // page on the rotate function's own writes, which it sees on the EventBridge path outside RotationStarted.
  let policyFolder: string | undefined;
  if (handlers.scanner && process.env.POLICY_PATH === undefined) {
    policyFolder = await mkdtemp(join(tmpdir(), "vigil-sandbox-policy-"));
    const role = `arn:aws:iam::${sandbox.accountId}:role/${functionsIdentity.name}`;
    await writeFile(join(policyFolder, "policy.yaml"), `version: 1\nrotationRoles: [${role}]\n`);
    const stop = sandbox.stop;
    sandbox.stop = async () => {
      await stop();
      await rm(policyFolder!, { recursive: true, force: true });
    };
  }
  const env = {
    ...sandbox.env,
    FINDINGS_QUEUE_URL: sandbox.createQueue(names.findingsQueue),
    ALERTS_TOPIC_ARN: sandbox.createTopic(names.alertsTopic),
    PAGERDUTY_ROUTING_KEY_SECRET_ID: names.routingKeySecret,
  };
  // The functions run in this process and read their configuration (and credentials) from its environment.
  Object.assign(process.env, env, {
    AWS_ACCESS_KEY_ID: functionsAccessKeyId,
    ...(policyFolder ? { POLICY_PATH: join(policyFolder, "policy.yaml") } : {}),
  });
  // Only now may anything reach the functions: creating the routing-key secret is a write the sandbox
  // delivers to the scanner at once, and a module that loads before its environment is set fails for good.
  try {
    const secrets = new SecretsManagerClient(sandbox.clientConfig());
    await secrets.send(
      new CreateSecretCommand({ Name: names.routingKeySecret, SecretString: localRoutingKey }),
    );
    secrets.destroy();
  } catch (error) {
    await sandbox.stop();
    throw error;
  }
  const describe = (handler: unknown) =>
    typeof handler === "string" ? handler : handler ? "function" : undefined;
  const functions = {
    ...(handlers.rotate ? { rotate: describe(handlers.rotate) } : {}),
    ...(handlers.notify ? { notify: describe(handlers.notify) } : {}),
    ...(handlers.scanner ? { scanner: describe(handlers.scanner) } : {}),
  } as SandboxWithFunctions["functions"];
  return {
    sandbox,
    env,
    ...(handlers.rotate
      ? {
          rotationLambdaArn: `arn:aws:lambda:${sandbox.region}:${sandbox.accountId}:function:${names.rotate}`,
        }
      : {}),
    functions,
  };
}

/** The folder holding Vigil's package.json, from this module (source or bundle) upwards. */
function packageRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, "package.json")) && dirname(folder) !== folder) folder = dirname(folder);
  return folder;
}
