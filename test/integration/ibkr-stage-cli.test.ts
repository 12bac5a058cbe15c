import { spawn } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RotationLambda, Sandbox } from "../../local/sandbox.ts";
import { startSandbox } from "../../local/sandbox.ts";

const ACCOUNT = "DU2222222";
const OLD_PASSWORD = "0ldPassw0rd-cli";
const NEW_PASSWORD = "N3wCliPassw0rd-42";
const LAMBDA = "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate";

let sandbox: Sandbox;
let client: SecretsManagerClient;
let handler: RotationLambda;

beforeAll(async () => {
  sandbox = await startSandbox({
    ibGateway: { accounts: [ACCOUNT] },
    // As in AWS: RotateSecret answers at once and the steps run afterwards, so the CLI has to poll.
    rotateAsynchronously: true,
    rotationLambda: (event, context) => handler(event, context),
  });
  Object.assign(process.env, sandbox.env, { LOG_LEVEL: "ERROR" });
  handler = (await import("../../functions/rotate/handler.ts")).handler as RotationLambda;
  client = new SecretsManagerClient(sandbox.clientConfig());
});

afterAll(async () => {
  await sandbox?.stop();
});

/** A loopback port nothing listens on (bound, then closed), so no fixed port is assumed free. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function ibkrSecret(name: string): Promise<void> {
  await client.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: JSON.stringify({
        username: "trader2",
        password: OLD_PASSWORD,
        account: ACCOUNT,
        host: sandbox.ibGateway!.host,
        port: sandbox.ibGateway!.port,
        paper: true,
      }),
    }),
  );
  await client.send(
    new RotateSecretCommand({ SecretId: name, RotationLambdaARN: LAMBDA, RotateImmediately: false }),
  );
}

/** Runs the real CLI entry as a child process; it finds the sandbox only through AWS_ENDPOINT_URL. */
function vigil(
  args: string[],
  stdin: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "cli/vigil.ts", ...args], {
      // NODE_NO_WARNINGS: the SDK's Node 20 end-of-support notice would otherwise be all of stderr's noise.
      env: { ...process.env, ...sandbox.env, NODE_NO_WARNINGS: "1", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += String(chunk);
    });
    child.stderr.on("data", (chunk) => {
      stderr += String(chunk);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe("vigil ibkr stage (the CLI process)", () => {
  it("stages from stdin, rotates, and exits 0 without printing the password", async () => {
    const name = "algo-trade/cli1/ibkr";
    await ibkrSecret(name);

    const result = await vigil(
      ["ibkr", "stage", "--secret-id", name, "--stdin", "--poll-interval", "0.2"],
      `${NEW_PASSWORD}\n`,
    );

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("✔ finishSecret");
    expect(`${result.stdout}${result.stderr}`).not.toContain(NEW_PASSWORD);
    const current = await client.send(new GetSecretValueCommand({ SecretId: name }));
    expect(JSON.parse(current.SecretString!).password).toBe(NEW_PASSWORD);
  });

  it("follows an asynchronous rotation to a testSecret failure and exits 2 with the next step", async () => {
    const name = "algo-trade/cli4/ibkr";
    await ibkrSecret(name);
    sandbox.ibGateway!.setAccounts(["DU9999999"]);

    const result = await vigil(
      ["ibkr", "stage", "--secret-id", name, "--stdin", "--poll-interval", "0.2"],
      `${NEW_PASSWORD}\n`,
    );
    sandbox.ibGateway!.setAccounts([ACCOUNT]);

    expect(result.code).toBe(2);
    expect(result.stdout).toContain("✔ setSecret");
    expect(result.stdout).toContain(
      `✘ testSecret: IB Gateway at ${sandbox.ibGateway!.host}:${sandbox.ibGateway!.port}`,
    );
    expect(result.stderr).toContain(
      `vigil: Rotation of ${name} failed at testSecret; AWSCURRENT is unchanged.`,
    );
    expect(result.stderr).toContain(`vigil ibkr stage --secret-id ${name} --resume`);
    expect(`${result.stdout}${result.stderr}`).not.toContain(NEW_PASSWORD);
  });

  it("exits 2 naming the broken rule when the password is not acceptable", async () => {
    const name = "algo-trade/cli2/ibkr";
    await ibkrSecret(name);

    const result = await vigil(["ibkr", "stage", "--secret-id", name, "--stdin"], "onlyletters\n");

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "vigil: Nothing was written: the new password must contain at least one digit. IBKR passwords are 6–40 characters with at least one letter and one digit.\n",
    );
    expect(result.stderr).not.toContain("onlyletters");
  });

  it("exits 2 when there is no terminal to prompt on and --stdin is not given", async () => {
    const name = "algo-trade/cli3/ibkr";
    await ibkrSecret(name);

    const result = await vigil(["ibkr", "stage", "--secret-id", name], `${NEW_PASSWORD}\n`);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("pipe it with --stdin");
  });

  it("exits 2 for a secret that does not exist", async () => {
    const result = await vigil(["ibkr", "stage", "--secret-id", "algo-trade/missing/ibkr", "--stdin"], "");

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("No secret algo-trade/missing/ibkr in this account and region");
  });

  it("exits 2 with one line, no stack trace, when Secrets Manager cannot be reached", async () => {
    const closed = await closedPort();

    const result = await vigil(["ibkr", "stage", "--secret-id", "algo-trade/any/ibkr", "--stdin"], "", {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${closed}`,
      AWS_MAX_ATTEMPTS: "1",
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^vigil: cannot reach AWS \(.*ECONNREFUSED.*\): check the network/);
    expect(result.stderr).not.toContain("    at ");
  });

  it("exits 2 naming the option when --timeout is not a positive number", async () => {
    const result = await vigil(
      ["ibkr", "stage", "--secret-id", "algo-trade/any/ibkr", "--stdin", "--timeout", "soon"],
      "",
    );

    expect(result.code).toBe(2);
    expect(result.stderr).toBe('vigil: --timeout expects a positive number of seconds, got "soon"\n');
  });
});
