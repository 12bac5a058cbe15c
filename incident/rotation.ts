import type { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import {
  DescribeSecretCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
  SecretsManagerServiceException,
} from "@aws-sdk/client-secrets-manager";
import { normaliseRecord } from "../functions/audit-scan/normalise.ts";
import { stripArnSuffix } from "../functions/audit-scan/policy.ts";
import { lookupEventsPage, parseCloudTrailEvent } from "../functions/audit-scan/sources/lookup.ts";
import { RequestPacer } from "../functions/audit-scan/sources/pacer.ts";
import { IncidentError } from "./errors.ts";

export interface FollowOptions {
  timeoutMs: number;
  pollMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  say: (line: string) => void;
}

/** How often (in polls) Secrets Manager's RotationFailed events are looked up while following a rotation. */
const FAILURE_LOOKUP_EVERY = 5;

/**
 * Starts a rotation now (RotateSecret with the configured function) and follows it until the new version is
 * AWSCURRENT and no longer AWSPENDING. Secrets Manager has no per-step status, so progress comes from the
 * version's labels and its RotationFailed event. Throws IncidentError naming the state it left.
 */
export async function rotateNow(
  input: { secretArn: string; name: string },
  deps: { secretsManager: SecretsManagerClient; cloudTrail: CloudTrailClient | undefined },
  options: FollowOptions,
): Promise<{ versionId: string; startedAt: string; finishedAt: string }> {
  const startedMs = options.now();
  let versionId: string | undefined;
  try {
    versionId = (await deps.secretsManager.send(new RotateSecretCommand({ SecretId: input.secretArn })))
      .VersionId;
  } catch (error) {
    if (error instanceof SecretsManagerServiceException && error.$fault === "client") {
      throw new IncidentError(
        `Secrets Manager refused to start the rotation: ${error.name}: ${error.message}; AWSCURRENT is unchanged`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!versionId)
    throw new IncidentError("RotateSecret returned no version id; check the secret with `vigil status`");
  options.say(`  rotation started: pending version ${versionId}`);
  options.say("  createSecret, setSecret, testSecret and finishSecret run in the rotation function ...");
  await followRotation({ ...input, versionId, startedMs }, deps, options);
  const finishedAt = new Date(options.now()).toISOString();
  options.say(
    `  ✔ finishSecret: AWSCURRENT is version ${versionId} (${Math.round((options.now() - startedMs) / 1000)} s)`,
  );
  return { versionId, startedAt: new Date(startedMs).toISOString(), finishedAt };
}

async function followRotation(
  input: { secretArn: string; name: string; versionId: string; startedMs: number },
  deps: { secretsManager: SecretsManagerClient; cloudTrail: CloudTrailClient | undefined },
  options: FollowOptions,
): Promise<void> {
  const deadline = input.startedMs + options.timeoutMs;
  const pacer = new RequestPacer(2);
  let reported = "";
  for (let poll = 0; ; poll += 1) {
    const described = await deps.secretsManager.send(
      new DescribeSecretCommand({ SecretId: input.secretArn }),
    );
    const stages = described.VersionIdsToStages?.[input.versionId] ?? [];
    if (stages.includes("AWSCURRENT") && !stages.includes("AWSPENDING")) return;
    const state = stages.includes("AWSCURRENT")
      ? "AWSCURRENT moved, AWSPENDING not yet removed"
      : stages.join(", ") || "no label";
    if (state !== reported) {
      options.say(`  … version ${input.versionId}: ${state}`);
      reported = state;
    }
    if (!stages.includes("AWSPENDING") && !stages.includes("AWSCURRENT")) {
      throw new IncidentError(
        `the rotation stopped: version ${input.versionId} is no longer pending and did not become current; AWSCURRENT is unchanged (see the rotation function's log and \`vigil status\`)`,
      );
    }
    if (deps.cloudTrail && poll % FAILURE_LOOKUP_EVERY === 0) {
      const failure = await rotationFailure(
        deps.cloudTrail,
        pacer,
        input.secretArn,
        input.startedMs,
        options.now(),
      );
      if (failure !== undefined) {
        throw new IncidentError(
          `the rotation failed (Secrets Manager: ${failure}); AWSCURRENT is unchanged and version ${input.versionId} stays AWSPENDING until a rotation succeeds (see the rotation function's log and \`vigil status\`)`,
        );
      }
    }
    if (options.now() >= deadline) {
      throw new IncidentError(
        `the rotation has not finished after ${Math.round(options.timeoutMs / 1000)} s; it goes on in AWS (version ${input.versionId} becomes AWSCURRENT when it is done: \`aws secretsmanager describe-secret --secret-id ${input.name}\`)`,
      );
    }
    await options.sleep(options.pollMs);
  }
}

/** The message of a RotationFailed event of the secret since `sinceMs`, if CloudTrail has one yet. */
async function rotationFailure(
  cloudTrail: CloudTrailClient,
  pacer: RequestPacer,
  secretArn: string,
  sinceMs: number,
  nowMs: number,
): Promise<string | undefined> {
  const wanted = stripArnSuffix(secretArn);
  // CloudTrail records times in whole seconds: a second of slack keeps an event of this very second.
  const page = await lookupEventsPage(
    cloudTrail,
    {
      attribute: { key: "EventName", value: "RotationFailed" },
      startMs: sinceMs - 1_000,
      endMs: nowMs + 1_000,
    },
    { pacer, requestsPerSecond: 2 },
  );
  for (const event of page.events) {
    const normalised = normaliseRecord(parseCloudTrailEvent(event));
    if (normalised.ok && normalised.event.secretArns.includes(wanted)) {
      return normalised.event.errorMessage ?? normalised.event.errorCode ?? "RotationFailed";
    }
  }
  return undefined;
}
