import { randomInt, randomUUID } from "node:crypto";
import { describeError } from "../lib/errors.ts";
import { awsJson } from "./aws-json.ts";
import { consoleDate, lowerCamel, type Trail } from "./cloudtrail.ts";
import { AwsServiceError } from "./errors.ts";
import {
  functionNameOf,
  invokeStep,
  type RotationLambda,
  type RotationRecord,
  type RotationStep,
  rotationHandlerResolver,
  rotationSteps,
} from "./rotation.ts";
import { awsFaults, type ServiceCall, type ServiceContext, type ServiceFactory, withApi } from "./service.ts";

/** The sandbox's Secrets Manager: AWS JSON 1.1, `X-Amz-Target: secretsmanager.<Operation>`. */
export const secretsManagerService = ((context: ServiceContext) => {
  const secretsManager = new SecretsManager({
    region: context.region,
    accountId: context.accountId,
    trail: context.trail,
    rotationTimeoutMs: context.options.rotationTimeoutMs ?? 30_000,
    rotateAsynchronously: context.options.rotateAsynchronously ?? false,
    rotationHandler: rotationHandlerResolver(context.options.rotationLambda, context.options.rotationLambdas),
    onRotationFinished: (rotation) => context.emit({ type: "rotation", rotation }),
  });
  return withApi(
    {
      name: "secretsmanager",
      protocol: awsJson({ version: "1.1", target: "secretsmanager." }),
      operations: secretsManagerOperations,
      async handle(call: ServiceCall): Promise<Json> {
        const noted: CallContext = {};
        try {
          return await secretsManager.handle(call.operation, call.input, noted);
        } finally {
          if (noted.secretArn) call.resource = secretResource(noted.secretArn);
          call.impliedRecords = noted.impliedCalls?.map(({ secretArn, ...implied }) => ({
            ...implied,
            ...(secretArn ? { resource: secretResource(secretArn) } : {}),
          }));
          if (noted.startRotation) call.after = () => secretsManager.afterCall(noted);
        }
      },
      cloudTrail: {
        eventSource: "secretsmanager.amazonaws.com",
        readOnly: (operation: string) => readOnlyOperations.has(operation),
        requestParameters: (call: ServiceCall) => SecretsManager.requestParameters(call.input),
        responseElements: (call: ServiceCall, output: unknown) =>
          SecretsManager.responseElements(call.operation, output as Json),
      },
      faults: awsFaults("InternalServiceError"),
      views: { rotations: () => secretsManager.rotations() },
    },
    {
      rotations: () => secretsManager.rotations(),
      settled: () => secretsManager.settled(),
    },
  );
}) satisfies ServiceFactory;

function secretResource(arn: string): { type: string; name: string } {
  return { type: "AWS::SecretsManager::Secret", name: arn };
}

/**
 * An in-memory AWS Secrets Manager with the semantics the API reference documents: ARNs with a random
 * 6-character suffix, lookup by name, partial or full ARN, staging labels, ClientRequestToken
 * idempotency, scheduled deletion, rotation through a Lambda-shaped handler, tags and resource policies.
 */

type Json = Record<string, unknown>;

const CURRENT = "AWSCURRENT";
const PREVIOUS = "AWSPREVIOUS";
const PENDING = "AWSPENDING";
/** Secrets Manager keeps about 100 versions; older versions without a label are removed. */
const maxDeprecatedVersions = 100;
const dayMs = 24 * 60 * 60 * 1000;
const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

interface SecretVersion {
  id: string;
  secretString?: string;
  secretBinary?: string;
  stages: Set<string>;
  created: number;
  lastAccessed?: number;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: { Key: string; Value: string }[];
  versions: Map<string, SecretVersion>;
  created: number;
  lastChanged: number;
  lastAccessed?: number;
  /** Undefined until rotation is configured (DescribeSecret then omits it); false after CancelRotateSecret. */
  rotationEnabled?: boolean;
  rotationLambdaArn?: string;
  rotationRules?: Json;
  lastRotated?: number;
  deletionDate?: number;
  deleted?: number;
  resourcePolicy?: string;
}

/** Every operation the sandbox's Secrets Manager serves. */
export const secretsManagerOperations = [
  "CreateSecret",
  "DescribeSecret",
  "GetSecretValue",
  "BatchGetSecretValue",
  "PutSecretValue",
  "UpdateSecret",
  "UpdateSecretVersionStage",
  "ListSecrets",
  "ListSecretVersionIds",
  "GetRandomPassword",
  "RotateSecret",
  "CancelRotateSecret",
  "DeleteSecret",
  "RestoreSecret",
  "TagResource",
  "UntagResource",
  "PutResourcePolicy",
  "GetResourcePolicy",
  "DeleteResourcePolicy",
] as const;

/** Operations that only read; their records have readOnly true and no responseElements. */
export const readOnlyOperations = new Set([
  "GetSecretValue",
  "DescribeSecret",
  "ListSecrets",
  "ListSecretVersionIds",
  "GetRandomPassword",
  "GetResourcePolicy",
  "BatchGetSecretValue",
]);

/** Where a call's resolved secret is noted, so its CloudTrail record can name the resource. */
export interface CallContext {
  secretArn?: string;
  /** A rotation RotateSecret accepted, started by afterCall() once the RotateSecret call is recorded. */
  startRotation?: () => Promise<void>;
  /** Further records the call causes: BatchGetSecretValue logs a GetSecretValue entry per secret. */
  impliedCalls?: {
    eventName: string;
    requestParameters: Json;
    secretArn?: string;
    errorCode?: string;
    errorMessage?: string;
  }[];
}

export interface SecretsManagerOptions {
  region: string;
  accountId: string;
  trail: Trail;
  /** Resolves the rotation handler for a Lambda ARN; undefined when the sandbox has none. */
  rotationHandler: (lambdaArn: string) => Promise<RotationLambda | undefined>;
  rotationTimeoutMs: number;
  /** Run the four steps after answering RotateSecret (like AWS) instead of before (deterministic). */
  rotateAsynchronously: boolean;
  /** Called with each rotation once it has succeeded or failed. */
  onRotationFinished?: (rotation: RotationRecord) => void;
}

const notFound = () =>
  new AwsServiceError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
const markedForDeletion = () =>
  new AwsServiceError(
    "InvalidRequestException",
    "You can't perform this operation on the secret because it was marked for deletion.",
  );

function epochSeconds(time: number | undefined): number | undefined {
  return time === undefined ? undefined : time / 1000;
}

/** Secrets Manager reports last-accessed dates truncated to the day. */
function startOfDay(time: number): number {
  return Math.floor(time / dayMs) * dayMs;
}

function compact(object: Json): Json {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

function randomSuffix(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from({ length: 6 }, () => alphabet[randomInt(alphabet.length)]).join("");
}

function stringParam(input: Json, name: string, required: true): string;
function stringParam(input: Json, name: string, required?: false): string | undefined;
function stringParam(input: Json, name: string, required = false): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) {
    if (required) {
      throw new AwsServiceError(
        "ValidationException",
        `1 validation error detected: Value null at '${name.charAt(0).toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`,
      );
    }
    return undefined;
  }
  if (typeof value !== "string")
    throw new AwsServiceError("InvalidParameterException", `${name} must be a string.`);
  return value;
}

/** A secret's Description, which Secrets Manager limits to 2048 characters. */
function descriptionParam(input: Json): string | undefined {
  const description = stringParam(input, "Description");
  if (description !== undefined && description.length > 2048) {
    throw new AwsServiceError(
      "ValidationException",
      "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 2048",
    );
  }
  return description;
}

function validateToken(token: string | undefined): void {
  if (token !== undefined && (token.length < 32 || token.length > 64)) {
    throw new AwsServiceError(
      "ValidationException",
      "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64",
    );
  }
}

export class SecretsManager {
  private readonly secrets: Secret[] = [];
  private readonly rotationLog: RotationRecord[] = [];
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: SecretsManagerOptions) {}

  /** Every rotation RotateSecret started, oldest first. */
  rotations(): RotationRecord[] {
    return this.rotationLog.map((rotation) => ({ ...rotation, steps: [...rotation.steps] }));
  }

  /** Resolves when every rotation started so far has finished (for asynchronous rotation). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /**
   * Runs what a call started once its CloudTrail record exists, so RotationStarted follows RotateSecret
   * as in AWS: the rotation, awaited (deterministic, the default) or in the background.
   */
  async afterCall(context: CallContext): Promise<void> {
    const start = context.startRotation;
    if (!start) return;
    const rotation = start();
    if (!this.options.rotateAsynchronously) return rotation;
    this.running.add(rotation);
    void rotation.catch(() => undefined).finally(() => this.running.delete(rotation));
  }

  /** Dispatches one JSON 1.1 operation; throws AwsServiceError for API errors. */
  async handle(operation: string, input: Json, context: CallContext): Promise<Json> {
    this.purgeExpired();
    switch (operation) {
      case "CreateSecret":
        return this.createSecret(input, context);
      case "DescribeSecret":
        return this.describeSecret(input, context);
      case "GetSecretValue":
        return this.getSecretValue(input, context);
      case "BatchGetSecretValue":
        return this.batchGetSecretValue(input, context);
      case "PutSecretValue":
        return this.putSecretValue(input, context);
      case "UpdateSecret":
        return this.updateSecret(input, context);
      case "UpdateSecretVersionStage":
        return this.updateSecretVersionStage(input, context);
      case "ListSecrets":
        return this.listSecrets(input);
      case "ListSecretVersionIds":
        return this.listSecretVersionIds(input, context);
      case "GetRandomPassword":
        return getRandomPassword(input);
      case "RotateSecret":
        return this.rotateSecret(input, context);
      case "CancelRotateSecret":
        return this.cancelRotateSecret(input, context);
      case "DeleteSecret":
        return this.deleteSecret(input, context);
      case "RestoreSecret":
        return this.restoreSecret(input, context);
      case "TagResource":
        return this.tagResource(input, context);
      case "UntagResource":
        return this.untagResource(input, context);
      case "PutResourcePolicy":
        return this.putResourcePolicy(input, context);
      case "GetResourcePolicy":
        return this.getResourcePolicy(input, context);
      case "DeleteResourcePolicy":
        return this.deleteResourcePolicy(input, context);
      default:
        throw new AwsServiceError(
          "UnknownOperationException",
          `The sandbox does not implement ${operation}.`,
        );
    }
  }

  /** CloudTrail requestParameters: the input with lower-camel keys and no secret value. */
  static requestParameters(input: Json): Json {
    const { SecretString: _string, SecretBinary: _binary, ...rest } = input;
    return lowerCamel(rest) as Json;
  }

  /** CloudTrail responseElements: null for reads; identifiers (never values) for writes. */
  static responseElements(operation: string, output: Json): Json | null {
    if (readOnlyOperations.has(operation) || operation === "TagResource" || operation === "UntagResource")
      return null;
    const { ARN, DeletionDate, ...rest } = output;
    return compact({
      // Since February 2024 every operation spells it `arn` (older records have `aRN`).
      arn: ARN,
      ...(lowerCamel(rest) as Json),
      deletionDate: typeof DeletionDate === "number" ? consoleDate(DeletionDate * 1000) : undefined,
    });
  }

  private purgeExpired(): void {
    const now = Date.now();
    for (let index = this.secrets.length - 1; index >= 0; index -= 1) {
      const secret = this.secrets[index]!;
      if (secret.deletionDate !== undefined && secret.deletionDate <= now) this.secrets.splice(index, 1);
    }
  }

  /** Finds a secret by full ARN, partial ARN (without the random suffix) or name. */
  private find(secretId: string, context: CallContext): Secret {
    const secret =
      this.secrets.find((candidate) => candidate.arn === secretId) ??
      (secretId.startsWith("arn:")
        ? this.secrets.find((candidate) => candidate.arn.slice(0, -7) === secretId)
        : this.secrets.find((candidate) => candidate.name === secretId));
    if (!secret) throw notFound();
    context.secretArn = secret.arn;
    return secret;
  }

  private findLive(input: Json, context: CallContext): Secret {
    const secret = this.find(stringParam(input, "SecretId", true), context);
    if (secret.deletionDate !== undefined) throw markedForDeletion();
    return secret;
  }

  private createSecret(input: Json, context: CallContext): Json {
    const name = stringParam(input, "Name", true);
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw new AwsServiceError(
        "InvalidParameterException",
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
      );
    }
    const token = stringParam(input, "ClientRequestToken");
    validateToken(token);
    const value = secretValueOf(input);
    const existing = this.secrets.find((candidate) => candidate.name === name);
    if (existing) {
      context.secretArn = existing.arn;
      if (existing.deletionDate !== undefined) {
        throw new AwsServiceError(
          "InvalidRequestException",
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      }
      // A retried CreateSecret (same token, same value) succeeds, as ClientRequestToken promises.
      const version = token ? existing.versions.get(token) : undefined;
      if (version && sameValue(version, value)) {
        return { ARN: existing.arn, Name: existing.name, VersionId: version.id };
      }
      throw new AwsServiceError(
        "ResourceExistsException",
        `The operation failed because the secret ${name} already exists.`,
      );
    }
    const now = Date.now();
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${this.options.region}:${this.options.accountId}:secret:${name}-${randomSuffix()}`,
      name,
      description: descriptionParam(input),
      kmsKeyId: stringParam(input, "KmsKeyId"),
      tags: tagsOf(input.Tags),
      versions: new Map(),
      created: now,
      lastChanged: now,
    };
    this.secrets.push(secret);
    context.secretArn = secret.arn;
    if (!value) return { ARN: secret.arn, Name: secret.name };
    const versionId = token ?? randomUUID();
    secret.versions.set(versionId, { id: versionId, ...value, stages: new Set([CURRENT]), created: now });
    return { ARN: secret.arn, Name: secret.name, VersionId: versionId };
  }

  private describeSecret(input: Json, context: CallContext): Json {
    const secret = this.find(stringParam(input, "SecretId", true), context);
    return { ...this.summary(secret), VersionIdsToStages: stagesMap(secret) };
  }

  private summary(secret: Secret): Json {
    return compact({
      ARN: secret.arn,
      Name: secret.name,
      Description: secret.description,
      KmsKeyId: secret.kmsKeyId,
      RotationEnabled: secret.rotationEnabled,
      RotationLambdaARN: secret.rotationLambdaArn,
      RotationRules: secret.rotationRules,
      LastRotatedDate: epochSeconds(secret.lastRotated),
      LastChangedDate: epochSeconds(secret.lastChanged),
      LastAccessedDate: epochSeconds(secret.lastAccessed),
      DeletedDate: epochSeconds(secret.deleted),
      NextRotationDate: epochSeconds(nextRotation(secret)),
      Tags: secret.tags.length > 0 ? secret.tags : undefined,
      CreatedDate: epochSeconds(secret.created),
    });
  }

  private getSecretValue(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    const versionId = stringParam(input, "VersionId");
    const stage = stringParam(input, "VersionStage");
    let version: SecretVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (!version || (stage !== undefined && !version.stages.has(stage))) {
        throw new AwsServiceError(
          "ResourceNotFoundException",
          `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`,
        );
      }
    } else {
      const label = stage ?? CURRENT;
      version = [...secret.versions.values()].find((candidate) => candidate.stages.has(label));
      if (!version) {
        throw new AwsServiceError(
          "ResourceNotFoundException",
          `Secrets Manager can't find the specified secret value for staging label: ${label}`,
        );
      }
    }
    if (version.secretString === undefined && version.secretBinary === undefined) {
      // The empty version RotateSecret creates has no value until createSecret stores one.
      throw new AwsServiceError(
        "ResourceNotFoundException",
        `Secrets Manager can't find the specified secret value for VersionId: ${version.id}`,
      );
    }
    const now = Date.now();
    secret.lastAccessed = startOfDay(now);
    version.lastAccessed = startOfDay(now);
    return compact({
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.secretString,
      SecretBinary: version.secretBinary,
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.created),
    });
  }

  /** Up to 20 secrets by id list, or a page of ListSecrets-style filter matches; failures go to Errors. */
  private batchGetSecretValue(input: Json, context: CallContext): Json {
    const ids = Array.isArray(input.SecretIdList) ? (input.SecretIdList as string[]) : undefined;
    const filters = Array.isArray(input.Filters) ? input.Filters : undefined;
    if ((ids === undefined) === (filters === undefined)) {
      throw new AwsServiceError(
        "InvalidParameterException",
        "Either SecretIdList or Filters must be specified, but not both.",
      );
    }
    if (ids && ids.length > 20) {
      throw new AwsServiceError(
        "InvalidParameterException",
        "SecretIdList can contain at most 20 secret ids.",
      );
    }
    if (ids && input.MaxResults !== undefined) {
      throw new AwsServiceError("InvalidParameterException", "MaxResults can only be used with Filters.");
    }
    let requested: string[];
    let nextToken: unknown;
    if (ids) {
      requested = ids;
    } else {
      const maxResults = typeof input.MaxResults === "number" ? input.MaxResults : 20;
      if (maxResults < 1 || maxResults > 20) {
        throw new AwsServiceError("InvalidParameterException", "MaxResults must be between 1 and 20.");
      }
      const listed = this.listSecrets({
        Filters: filters,
        MaxResults: maxResults,
        NextToken: input.NextToken,
      });
      requested = (listed.SecretList as { ARN: string }[]).map((secret) => secret.ARN);
      nextToken = listed.NextToken;
    }
    const values: Json[] = [];
    const errors: Json[] = [];
    context.impliedCalls = [];
    for (const secretId of requested) {
      const single: CallContext = {};
      try {
        values.push(this.getSecretValue({ SecretId: secretId }, single));
        context.impliedCalls.push({
          eventName: "GetSecretValue",
          requestParameters: { secretId },
          secretArn: single.secretArn,
        });
      } catch (error) {
        if (!(error instanceof AwsServiceError)) throw error;
        errors.push({ SecretId: secretId, ErrorCode: error.code, Message: error.message });
        context.impliedCalls.push({
          eventName: "GetSecretValue",
          requestParameters: { secretId },
          secretArn: single.secretArn,
          errorCode: error.code,
          errorMessage: error.message,
        });
      }
    }
    return compact({
      SecretValues: values,
      Errors: errors.length > 0 ? errors : undefined,
      NextToken: nextToken,
    });
  }

  private putSecretValue(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    const token = stringParam(input, "ClientRequestToken") ?? randomUUID();
    validateToken(token);
    const value = secretValueOf(input);
    if (!value) {
      throw new AwsServiceError(
        "InvalidRequestException",
        "You must provide either SecretString or SecretBinary.",
      );
    }
    const stages = stagesParam(input.VersionStages) ?? [CURRENT];
    const version = this.storeVersion(secret, token, value, stages);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  /**
   * Stores a value under `token` with ClientRequestToken semantics: a new version gets the stages; an
   * existing one with the same value is a no-op; a different value is refused; an existing version with
   * no value (the one RotateSecret created) receives it.
   */
  private storeVersion(
    secret: Secret,
    token: string,
    value: { secretString?: string; secretBinary?: string },
    stages: string[],
  ): SecretVersion {
    const existing = secret.versions.get(token);
    if (existing && (existing.secretString !== undefined || existing.secretBinary !== undefined)) {
      if (sameValue(existing, value)) return existing;
      throw new AwsServiceError(
        "ResourceExistsException",
        "You can't modify an existing version, you can only create a new version.",
      );
    }
    const now = Date.now();
    const version = existing ?? { id: token, stages: new Set<string>(), created: now };
    version.secretString = value.secretString;
    version.secretBinary = value.secretBinary;
    secret.versions.set(token, version);
    // The first version of a secret is always AWSCURRENT.
    const isFirst = ![...secret.versions.values()].some(
      (candidate) => candidate !== version && candidate.stages.has(CURRENT),
    );
    for (const stage of isFirst && !stages.includes(CURRENT) ? [...stages, CURRENT] : stages) {
      moveStage(secret, stage, version);
    }
    // A new AWSCURRENT written by hand abandons a rotation in progress: Secrets Manager removes AWSPENDING
    // from the unfinished version (so later rotations can start) and records RotationAbandoned.
    const abandoned = [...secret.versions.values()].find(
      (candidate) => candidate !== version && candidate.stages.has(PENDING) && !candidate.stages.has(CURRENT),
    );
    if (version.stages.has(CURRENT) && abandoned) {
      abandoned.stages.delete(PENDING);
      this.options.trail.recordServiceEvent("RotationAbandoned", secret.arn);
    }
    secret.lastChanged = now;
    pruneDeprecated(secret);
    return version;
  }

  private updateSecret(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    const token = stringParam(input, "ClientRequestToken") ?? randomUUID();
    validateToken(token);
    const description = descriptionParam(input);
    const kmsKeyId = stringParam(input, "KmsKeyId");
    const value = secretValueOf(input);
    // The value goes first: it is what can still be refused (ResourceExistsException), and a refused
    // UpdateSecret must change nothing, the description and key included.
    const version = value ? this.storeVersion(secret, token, value, [CURRENT]) : undefined;
    if (description !== undefined) secret.description = description;
    if (kmsKeyId !== undefined) secret.kmsKeyId = kmsKeyId;
    secret.lastChanged = Date.now();
    return compact({ ARN: secret.arn, Name: secret.name, VersionId: version?.id });
  }

  private updateSecretVersionStage(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    const stage = stringParam(input, "VersionStage", true);
    const removeFrom = stringParam(input, "RemoveFromVersionId");
    const moveTo = stringParam(input, "MoveToVersionId");
    const holder = [...secret.versions.values()].find((candidate) => candidate.stages.has(stage));
    const versionOf = (id: string) => {
      const version = secret.versions.get(id);
      if (!version) {
        throw new AwsServiceError(
          "ResourceNotFoundException",
          `Secrets Manager can't find the specified secret version: ${id}`,
        );
      }
      return version;
    };
    if (removeFrom !== undefined) versionOf(removeFrom);
    if (moveTo !== undefined) versionOf(moveTo);
    if (holder && moveTo !== undefined && holder.id !== moveTo && removeFrom !== holder.id) {
      throw new AwsServiceError(
        "InvalidParameterException",
        `The staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
      );
    }
    if (removeFrom !== undefined && holder?.id !== removeFrom) {
      throw new AwsServiceError(
        "InvalidParameterException",
        `The staging label ${stage} is not attached to version ${removeFrom}.`,
      );
    }
    if (moveTo === undefined) {
      if (stage === CURRENT) {
        throw new AwsServiceError(
          "InvalidParameterException",
          "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.",
        );
      }
      if (removeFrom !== undefined) secret.versions.get(removeFrom)!.stages.delete(stage);
    } else {
      moveStage(secret, stage, versionOf(moveTo));
    }
    secret.lastChanged = Date.now();
    pruneDeprecated(secret);
    return { ARN: secret.arn, Name: secret.name };
  }

  private listSecrets(input: Json): Json {
    const maxResults = typeof input.MaxResults === "number" ? input.MaxResults : 100;
    if (maxResults < 1 || maxResults > 100) {
      throw new AwsServiceError("InvalidParameterException", "MaxResults must be between 1 and 100.");
    }
    const filters = (Array.isArray(input.Filters) ? input.Filters : []) as {
      Key?: string;
      Values?: string[];
    }[];
    for (const filter of filters) {
      if (
        !["description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"].includes(
          filter.Key ?? "",
        )
      ) {
        throw new AwsServiceError("InvalidParameterException", `Invalid filter key: ${filter.Key}`);
      }
    }
    const includeDeleted = input.IncludePlannedDeletion === true;
    const sortBy = stringParam(input, "SortBy") ?? "created-date";
    const descending = stringParam(input, "SortOrder") === "desc";
    const sortKey = (secret: Secret): number | string =>
      sortBy === "name"
        ? secret.name
        : sortBy === "last-accessed-date"
          ? (secret.lastAccessed ?? 0)
          : sortBy === "last-changed-date"
            ? secret.lastChanged
            : secret.created;
    const matching = this.secrets
      .filter((secret) => includeDeleted || secret.deletionDate === undefined)
      .filter((secret) =>
        filters.every((filter) =>
          matchesFilter(secret, filter.Key!, filter.Values ?? [], this.options.region),
        ),
      )
      .sort((a, b) => {
        const [left, right] = [sortKey(a), sortKey(b)];
        const order = left < right ? -1 : left > right ? 1 : 0;
        return descending ? -order : order;
      });
    const offset = decodeOffset(input.NextToken);
    const page = matching.slice(offset, offset + maxResults);
    return compact({
      SecretList: page.map((secret) => ({
        ...this.summary(secret),
        SecretVersionsToStages: stagesMap(secret),
      })),
      NextToken: offset + maxResults < matching.length ? encodeOffset(offset + maxResults) : undefined,
    });
  }

  private listSecretVersionIds(input: Json, context: CallContext): Json {
    const secret = this.find(stringParam(input, "SecretId", true), context);
    const maxResults = typeof input.MaxResults === "number" ? input.MaxResults : 100;
    if (maxResults < 1 || maxResults > 100) {
      throw new AwsServiceError("InvalidParameterException", "MaxResults must be between 1 and 100.");
    }
    const versions = [...secret.versions.values()]
      .filter((version) => input.IncludeDeprecated === true || version.stages.size > 0)
      .reverse();
    const offset = decodeOffset(input.NextToken);
    const page = versions.slice(offset, offset + maxResults);
    return compact({
      Versions: page.map((version) =>
        compact({
          VersionId: version.id,
          VersionStages: version.stages.size > 0 ? [...version.stages] : undefined,
          LastAccessedDate: epochSeconds(version.lastAccessed),
          CreatedDate: epochSeconds(version.created),
          KmsKeyIds: [secret.kmsKeyId ?? "DefaultEncryptionKey"],
        }),
      ),
      NextToken: offset + maxResults < versions.length ? encodeOffset(offset + maxResults) : undefined,
      ARN: secret.arn,
      Name: secret.name,
    });
  }

  private async rotateSecret(input: Json, context: CallContext): Promise<Json> {
    const secret = this.findLive(input, context);
    const token = stringParam(input, "ClientRequestToken") ?? randomUUID();
    validateToken(token);
    const lambdaArn = stringParam(input, "RotationLambdaARN") ?? secret.rotationLambdaArn;
    if (!lambdaArn) {
      throw new AwsServiceError(
        "InvalidRequestException",
        "No Lambda rotation function ARN is associated with this secret.",
      );
    }
    const pending = [...secret.versions.values()].find(
      (version) => version.stages.has(PENDING) && !version.stages.has(CURRENT),
    );
    if (pending && pending.id !== token) {
      throw new AwsServiceError(
        "InvalidRequestException",
        "A previous rotation isn't complete. That rotation will be reattempted.",
      );
    }
    let handler: RotationLambda | undefined;
    try {
      handler = await this.options.rotationHandler(lambdaArn);
    } catch (error) {
      // A handler that cannot be loaded is AWS's "cannot invoke" (a 400, so clients do not retry it).
      throw new AwsServiceError(
        "AccessDeniedException",
        `Secrets Manager cannot invoke the specified Lambda function: ${describeError(error)}`,
      );
    }
    if (!handler) {
      throw new AwsServiceError(
        "AccessDeniedException",
        "Secrets Manager cannot invoke the specified Lambda function. The sandbox has no rotation handler configured.",
      );
    }
    secret.rotationEnabled = true;
    secret.rotationLambdaArn = lambdaArn;
    if (input.RotationRules && typeof input.RotationRules === "object")
      secret.rotationRules = input.RotationRules as Json;
    secret.lastChanged = Date.now();
    if (input.RotateImmediately === false) return { ARN: secret.arn, Name: secret.name };

    // A retry of a rotation that already finished, or one whose pending version exists, starts nothing new.
    const existing = secret.versions.get(token);
    if (existing) return { ARN: secret.arn, Name: secret.name, VersionId: token };

    secret.versions.set(token, { id: token, stages: new Set(), created: Date.now() });
    moveStage(secret, PENDING, secret.versions.get(token)!);
    context.startRotation = () => this.runRotation(secret, token, lambdaArn, handler);
    return { ARN: secret.arn, Name: secret.name, VersionId: token };
  }

  /** Drives the four steps like Secrets Manager, recording RotationStarted and its outcome. */
  private async runRotation(
    secret: Secret,
    token: string,
    lambdaArn: string,
    handler: RotationLambda,
  ): Promise<void> {
    const record: RotationRecord = {
      secretArn: secret.arn,
      versionId: token,
      lambdaArn,
      status: "running",
      steps: [],
      startedAt: new Date().toISOString(),
    };
    this.rotationLog.push(record);
    this.options.trail.recordServiceEvent("RotationStarted", secret.arn);
    const fail = (step: RotationStep | "verify", message: string, awsMessage: string) => {
      record.status = "failed";
      record.failure = { step, message };
      record.finishedAt = new Date().toISOString();
      this.options.trail.recordServiceEvent("RotationFailed", secret.arn, {
        code: "InternalFailure",
        message: awsMessage,
      });
      this.options.onRotationFinished?.({ ...record, steps: [...record.steps] });
    };
    for (const step of rotationSteps) {
      const started = Date.now();
      try {
        await invokeStep(
          handler,
          { SecretId: secret.arn, ClientRequestToken: token, Step: step },
          functionNameOf(lambdaArn),
          this.options.rotationTimeoutMs,
        );
        record.steps.push({ step, ok: true, durationMs: Date.now() - started });
      } catch (error) {
        const message = describeError(error);
        record.steps.push({ step, ok: false, durationMs: Date.now() - started, error: message });
        fail(step, message, `Error when executing lambda ${lambdaArn} during ${step} step`);
        return;
      }
    }
    if (!secret.versions.get(token)?.stages.has(CURRENT)) {
      const message = `Pending secret version ${token} for Secret ${secret.arn} was not set as AWSCURRENT by the rotation Lambda`;
      fail("verify", message, message);
      return;
    }
    secret.lastRotated = Date.now();
    record.status = "succeeded";
    record.finishedAt = new Date().toISOString();
    this.options.trail.recordServiceEvent("RotationSucceeded", secret.arn);
    this.options.onRotationFinished?.({ ...record, steps: [...record.steps] });
  }

  private cancelRotateSecret(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    secret.rotationEnabled = false;
    secret.lastChanged = Date.now();
    // Like AWS, the AWSPENDING label stays where it is; the caller may need to remove it.
    const pending = [...secret.versions.values()].find(
      (version) => version.stages.has(PENDING) && !version.stages.has(CURRENT),
    );
    return compact({ ARN: secret.arn, Name: secret.name, VersionId: pending?.id });
  }

  private deleteSecret(input: Json, context: CallContext): Json {
    const secret = this.find(stringParam(input, "SecretId", true), context);
    const force = input.ForceDeleteWithoutRecovery === true;
    const window = input.RecoveryWindowInDays;
    if (force && window !== undefined) {
      throw new AwsServiceError(
        "InvalidParameterException",
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    if (window !== undefined && (typeof window !== "number" || window < 7 || window > 30)) {
      throw new AwsServiceError(
        "InvalidParameterException",
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
      );
    }
    if (secret.deletionDate !== undefined && !force) throw markedForDeletion();
    const now = Date.now();
    secret.deleted = now;
    secret.deletionDate = force ? now : now + ((window as number | undefined) ?? 30) * dayMs;
    if (force) this.secrets.splice(this.secrets.indexOf(secret), 1);
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(secret.deletionDate) };
  }

  private restoreSecret(input: Json, context: CallContext): Json {
    const secret = this.find(stringParam(input, "SecretId", true), context);
    secret.deletionDate = undefined;
    secret.deleted = undefined;
    secret.lastChanged = Date.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  private tagResource(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    for (const tag of tagsOf(input.Tags)) {
      secret.tags = [...secret.tags.filter((existing) => existing.Key !== tag.Key), tag];
    }
    secret.lastChanged = Date.now();
    return {};
  }

  private untagResource(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    const keys = Array.isArray(input.TagKeys) ? (input.TagKeys as string[]) : [];
    secret.tags = secret.tags.filter((tag) => !keys.includes(tag.Key));
    secret.lastChanged = Date.now();
    return {};
  }

  private putResourcePolicy(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    const policy = stringParam(input, "ResourcePolicy", true);
    let document: unknown;
    try {
      document = JSON.parse(policy);
    } catch {
      throw new AwsServiceError(
        "MalformedPolicyDocumentException",
        "This resource policy contains a syntax error.",
      );
    }
    // BlockPublicPolicy defaults to true in the API.
    if (input.BlockPublicPolicy !== false && grantsPublicAccess(document)) {
      throw new AwsServiceError(
        "PublicPolicyException",
        "This resource policy contains a policy that grants public access.",
      );
    }
    secret.resourcePolicy = policy;
    secret.lastChanged = Date.now();
    return { ARN: secret.arn, Name: secret.name };
  }

  private getResourcePolicy(input: Json, context: CallContext): Json {
    const secret = this.find(stringParam(input, "SecretId", true), context);
    return compact({ ARN: secret.arn, Name: secret.name, ResourcePolicy: secret.resourcePolicy });
  }

  private deleteResourcePolicy(input: Json, context: CallContext): Json {
    const secret = this.findLive(input, context);
    secret.resourcePolicy = undefined;
    secret.lastChanged = Date.now();
    return { ARN: secret.arn, Name: secret.name };
  }
}

/** Moves `stage` to `target`; moving AWSCURRENT puts AWSPREVIOUS on the version that had it. */
function moveStage(secret: Secret, stage: string, target: SecretVersion): void {
  if (target.stages.has(stage)) return;
  let previousHolder: SecretVersion | undefined;
  for (const version of secret.versions.values()) {
    if (version.stages.delete(stage)) previousHolder = version;
  }
  target.stages.add(stage);
  if (stage === CURRENT && previousHolder) {
    for (const version of secret.versions.values()) version.stages.delete(PREVIOUS);
    previousHolder.stages.add(PREVIOUS);
  }
}

function pruneDeprecated(secret: Secret): void {
  const deprecated = [...secret.versions.values()].filter((version) => version.stages.size === 0);
  for (const version of deprecated.slice(0, Math.max(0, deprecated.length - maxDeprecatedVersions))) {
    secret.versions.delete(version.id);
  }
}

function stagesMap(secret: Secret): Json {
  return Object.fromEntries(
    [...secret.versions.values()]
      .filter((version) => version.stages.size > 0)
      .map((version) => [version.id, [...version.stages]]),
  );
}

function nextRotation(secret: Secret): number | undefined {
  if (!secret.rotationEnabled || !secret.rotationRules) return undefined;
  const rules = secret.rotationRules as { AutomaticallyAfterDays?: number; ScheduleExpression?: string };
  const rate = /^rate\((\d+) days?\)$/.exec(rules.ScheduleExpression ?? "");
  const days = rules.AutomaticallyAfterDays ?? (rate ? Number(rate[1]) : undefined);
  if (!days) return undefined;
  return startOfDay((secret.lastRotated ?? secret.created) + days * dayMs);
}

function secretValueOf(input: Json): { secretString?: string; secretBinary?: string } | undefined {
  const secretString = stringParam(input, "SecretString");
  const secretBinary = stringParam(input, "SecretBinary");
  if (secretString !== undefined && secretBinary !== undefined) {
    throw new AwsServiceError(
      "InvalidParameterException",
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (secretString === undefined && secretBinary === undefined) return undefined;
  return secretString !== undefined ? { secretString } : { secretBinary };
}

function sameValue(
  version: SecretVersion,
  value: { secretString?: string; secretBinary?: string } | undefined,
): boolean {
  return version.secretString === value?.secretString && version.secretBinary === value?.secretBinary;
}

function stagesParam(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  if (value.length > 20)
    throw new AwsServiceError("InvalidParameterException", "A version can have at most 20 staging labels.");
  return value.map(String);
}

function tagsOf(value: unknown): { Key: string; Value: string }[] {
  if (!Array.isArray(value)) return [];
  return value.map((tag: { Key?: unknown; Value?: unknown }) => ({
    Key: String(tag.Key ?? ""),
    Value: String(tag.Value ?? ""),
  }));
}

function matchesFilter(secret: Secret, key: string, values: string[], region: string): boolean {
  const candidates = (): string[] => {
    switch (key) {
      case "name":
        return [secret.name];
      case "description":
        return [secret.description ?? ""];
      case "tag-key":
        return secret.tags.map((tag) => tag.Key);
      case "tag-value":
        return secret.tags.map((tag) => tag.Value);
      case "primary-region":
        return [region];
      case "owning-service":
        return [];
      default:
        return [secret.name, secret.description ?? "", ...secret.tags.flatMap((tag) => [tag.Key, tag.Value])];
    }
  };
  // description and all match case-insensitively; the rest are case-sensitive prefix matches.
  const insensitive = key === "description" || key === "all";
  const matches = (value: string) => {
    const words = key === "all" ? value.split(/\s+/).filter(Boolean) : [value];
    return words.every((word) =>
      candidates().some((candidate) =>
        insensitive
          ? candidate
              .toLowerCase()
              .split(/[\s/_+=.@-]+/)
              .concat(candidate.toLowerCase())
              .some((part) => part.startsWith(word.toLowerCase()))
          : candidate.startsWith(word),
      ),
    );
  };
  const positive = values.filter((value) => !value.startsWith("!"));
  const negative = values.filter((value) => value.startsWith("!")).map((value) => value.slice(1));
  return (positive.length === 0 || positive.some(matches)) && !negative.some(matches);
}

function encodeOffset(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString("base64");
}

function decodeOffset(token: unknown): number {
  if (token === undefined || token === null) return 0;
  try {
    const parsed = JSON.parse(Buffer.from(String(token), "base64").toString("utf8")) as { offset?: unknown };
    if (typeof parsed.offset === "number" && parsed.offset >= 0) return parsed.offset;
  } catch {
    // falls through
  }
  throw new AwsServiceError("InvalidNextTokenException", "The NextToken value is invalid.");
}

function grantsPublicAccess(document: unknown): boolean {
  const statements = (document as { Statement?: unknown })?.Statement;
  const list = Array.isArray(statements) ? statements : statements ? [statements] : [];
  return list.some((statement: { Effect?: string; Principal?: unknown; Condition?: unknown }) => {
    if (statement.Effect !== "Allow" || statement.Condition) return false;
    const principal = statement.Principal;
    if (principal === "*") return true;
    const aws = (principal as { AWS?: unknown } | undefined)?.AWS;
    return aws === "*" || (Array.isArray(aws) && aws.includes("*"));
  });
}

/** GetRandomPassword with every option the API has; the output is never logged or recorded. */
export function getRandomPassword(input: Json): Json {
  const length = input.PasswordLength === undefined ? 32 : Number(input.PasswordLength);
  if (!Number.isInteger(length) || length < 1 || length > 4096) {
    throw new AwsServiceError("InvalidParameterException", "PasswordLength must be between 1 and 4096.");
  }
  const exclude = new Set(String(input.ExcludeCharacters ?? ""));
  const classes = [
    input.ExcludeLowercase === true ? "" : "abcdefghijklmnopqrstuvwxyz",
    input.ExcludeUppercase === true ? "" : "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    input.ExcludeNumbers === true ? "" : "0123456789",
    input.ExcludePunctuation === true ? "" : punctuation,
    input.IncludeSpace === true ? " " : "",
  ]
    .map((characters) => [...characters].filter((character) => !exclude.has(character)).join(""))
    .filter((characters) => characters.length > 0);
  if (classes.length === 0) {
    throw new AwsServiceError("InvalidParameterException", "The password policy excludes every character.");
  }
  const requireEach = input.RequireEachIncludedType !== false;
  if (requireEach && length < classes.length) {
    throw new AwsServiceError(
      "InvalidParameterException",
      "The password length is too short to include a character of each required type.",
    );
  }
  const all = classes.join("");
  const characters = Array.from({ length }, () => all[randomInt(all.length)]!);
  if (requireEach) {
    // Put one character of each class at distinct random positions.
    const positions = new Set<number>();
    while (positions.size < classes.length) positions.add(randomInt(length));
    [...positions].forEach((position, index) => {
      const pool = classes[index]!;
      characters[position] = pool[randomInt(pool.length)]!;
    });
  }
  return { RandomPassword: characters.join("") };
}
