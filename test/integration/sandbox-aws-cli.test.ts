import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

const exec = promisify(execFile);
const rotationHandler = fileURLToPath(new URL("../helpers/sandbox-rotation-handler.ts", import.meta.url));
const firstToken = "11111111-1111-4111-8111-111111111111";
const secondToken = "22222222-2222-4222-8222-222222222222";
const cliAccessKey = "AKIAAWSCLITEST000001";

let sandbox: Sandbox;

/** Runs the AWS CLI against the sandbox, with no profile or config from the machine, and parses its JSON. */
async function aws(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await exec("aws", ["--endpoint-url", sandbox.endpoint, "--output", "json", ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      AWS_ACCESS_KEY_ID: cliAccessKey,
      AWS_SECRET_ACCESS_KEY: "not-verified",
      AWS_DEFAULT_REGION: sandbox.region,
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      AWS_PAGER: "",
    },
  });
  return stdout.trim() === "" ? {} : (JSON.parse(stdout) as Record<string, unknown>);
}

async function awsError(...args: string[]): Promise<string> {
  try {
    await aws(...args);
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  throw new Error(`aws ${args.join(" ")} unexpectedly succeeded`);
}

beforeAll(async () => {
  sandbox = await startSandbox({
    rotationLambda: rotationHandler,
    identities: [{ accessKeyId: cliAccessKey, type: "IAMUser", name: "cli-operator" }],
    lookupEventsPerSecond: 0,
  });
  // The rotation handler runs in this process and builds its SDK client from the environment.
  for (const [name, value] of Object.entries(sandbox.env)) vi.stubEnv(name, value);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await sandbox.stop();
});

describe("the AWS CLI against the sandbox", () => {
  it("creates a secret, stages, moves and rotates versions, and finds the calls in CloudTrail", async () => {
    const created = await aws(
      "secretsmanager",
      "create-secret",
      "--name",
      "cli/orders-db",
      "--secret-string",
      '{"password":"first"}',
      "--client-request-token",
      firstToken,
    );
    expect(created).toMatchObject({ Name: "cli/orders-db", VersionId: firstToken });
    expect(created.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:111122223333:secret:cli\/orders-db-[A-Za-z0-9]{6}$/,
    );

    const put = await aws(
      "secretsmanager",
      "put-secret-value",
      "--secret-id",
      "cli/orders-db",
      "--secret-string",
      '{"password":"second"}',
      "--version-stages",
      "AWSPENDING",
      "--client-request-token",
      secondToken,
    );
    expect(put).toMatchObject({ VersionId: secondToken, VersionStages: ["AWSPENDING"] });

    const pending = await aws(
      "secretsmanager",
      "get-secret-value",
      "--secret-id",
      "cli/orders-db",
      "--version-stage",
      "AWSPENDING",
    );
    const current = await aws("secretsmanager", "get-secret-value", "--secret-id", String(created.ARN));
    expect(pending.SecretString).toBe('{"password":"second"}');
    expect(current.SecretString).toBe('{"password":"first"}');

    await aws(
      "secretsmanager",
      "update-secret-version-stage",
      "--secret-id",
      "cli/orders-db",
      "--version-stage",
      "AWSCURRENT",
      "--move-to-version-id",
      secondToken,
      "--remove-from-version-id",
      firstToken,
    );
    const versions = (await aws(
      "secretsmanager",
      "list-secret-version-ids",
      "--secret-id",
      "cli/orders-db",
    )) as {
      Versions: { VersionId: string; VersionStages: string[] }[];
    };
    expect(
      Object.fromEntries(versions.Versions.map((version) => [version.VersionId, version.VersionStages])),
    ).toEqual({
      [firstToken]: ["AWSPREVIOUS"],
      [secondToken]: ["AWSPENDING", "AWSCURRENT"],
    });

    const rotated = await aws(
      "secretsmanager",
      "rotate-secret",
      "--secret-id",
      "cli/orders-db",
      "--rotation-lambda-arn",
      "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate",
    );
    const afterRotation = await aws("secretsmanager", "get-secret-value", "--secret-id", "cli/orders-db");
    expect(afterRotation.VersionId).toBe(rotated.VersionId);
    expect(JSON.parse(String(afterRotation.SecretString)).password).toHaveLength(24);
    const described = await aws("secretsmanager", "describe-secret", "--secret-id", "cli/orders-db");
    expect(described).toMatchObject({ RotationEnabled: true });
    expect((described.VersionIdsToStages as Record<string, string[]>)[secondToken]).toEqual(["AWSPREVIOUS"]);

    const lookup = (await aws(
      "cloudtrail",
      "lookup-events",
      "--lookup-attributes",
      "AttributeKey=EventSource,AttributeValue=secretsmanager.amazonaws.com",
    )) as { Events: { EventName: string; Username?: string; CloudTrailEvent: string }[] };
    const names = lookup.Events.map((event) => event.EventName);
    // Newest first: the rotation, from the handler's finishSecret back to the RotateSecret call.
    const rotation = names.slice(names.indexOf("RotationSucceeded"), names.indexOf("RotateSecret") + 1);
    expect(rotation).toEqual([
      "RotationSucceeded",
      "UpdateSecretVersionStage",
      "DescribeSecret",
      "PutSecretValue",
      "GetRandomPassword",
      "GetSecretValue",
      "RotationStarted",
      "RotateSecret",
    ]);
    const createEvent = lookup.Events.find((event) => event.EventName === "CreateSecret")!;
    expect(createEvent.Username).toBe("cli-operator");
    expect(JSON.parse(createEvent.CloudTrailEvent)).toMatchObject({
      userIdentity: { type: "IAMUser", userName: "cli-operator", accessKeyId: cliAccessKey },
      userAgent: expect.stringMatching(/^aws-cli\//),
      requestParameters: { name: "cli/orders-db", clientRequestToken: firstToken },
    });
    expect(JSON.stringify(lookup)).not.toContain("second");
  });

  it("reports AWS's error for an unknown secret", async () => {
    const stderr = await awsError("secretsmanager", "get-secret-value", "--secret-id", "cli/missing");

    expect(stderr).toContain("(ResourceNotFoundException)");
    expect(stderr).toContain("Secrets Manager can't find the specified secret.");
  });

  it("reads and writes the DynamoDB state table", async () => {
    const table = sandbox.env.STATE_TABLE_NAME!;
    await aws(
      "dynamodb",
      "put-item",
      "--table-name",
      table,
      "--item",
      JSON.stringify({ pk: { S: "meta#cli" }, sk: { S: "state" } }),
    );

    const item = await aws(
      "dynamodb",
      "get-item",
      "--table-name",
      table,
      "--key",
      JSON.stringify({ pk: { S: "meta#cli" }, sk: { S: "state" } }),
    );

    expect(item).toEqual({ Item: { pk: { S: "meta#cli" }, sk: { S: "state" } } });
  });

  it("puts and lists objects in the trail bucket, path-style", async () => {
    const folder = await mkdtemp(join(tmpdir(), "vigil-cli-s3-"));
    const file = join(folder, "upload.json");
    await writeFile(file, '{"Records":[]}');

    const [put, listed] = await (async () => {
      try {
        return [
          await aws(
            "s3api",
            "put-object",
            "--bucket",
            "vigil-local-trail",
            "--key",
            "cli/upload.json",
            "--body",
            file,
          ),
          await aws("s3api", "list-objects-v2", "--bucket", "vigil-local-trail", "--prefix", "cli/"),
        ];
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    })();

    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(listed.Contents).toEqual([
      expect.objectContaining({ Key: "cli/upload.json", Size: 14, ETag: put.ETag }),
    ]);
  });
});
