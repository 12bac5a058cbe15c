import { GetCallerIdentityCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Sandbox, startSandbox } from "../../local/sandbox.ts";

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({
    identities: [
      { accessKeyId: "ASIARESPONDER0000001", type: "AssumedRole", name: "responder", sessionName: "alice" },
      { accessKeyId: "AKIAROOT000000000001", type: "Root", name: "root" },
    ],
  });
});
afterAll(async () => {
  await sandbox?.stop();
});

const whoAmI = (key?: string) =>
  new STSClient({ ...sandbox.clientConfig(key), maxAttempts: 1 }).send(new GetCallerIdentityCommand({}));

describe("the sandbox's STS", () => {
  it("answers GetCallerIdentity with the identity of the signing key", async () => {
    expect(await whoAmI()).toMatchObject({
      Account: sandbox.accountId,
      Arn: `arn:aws:iam::${sandbox.accountId}:user/sandbox-developer`,
      UserId: expect.stringMatching(/^AIDA/),
    });
    expect(await whoAmI("ASIARESPONDER0000001")).toMatchObject({
      Arn: `arn:aws:sts::${sandbox.accountId}:assumed-role/responder/alice`,
      UserId: expect.stringMatching(/^AROA[0-9A-F]+:alice$/),
    });
    expect((await whoAmI("AKIAROOT000000000001")).Arn).toBe(`arn:aws:iam::${sandbox.accountId}:root`);
  });

  it("answers an injected fault in the query protocol's error format", async () => {
    sandbox.faults.inject({ target: "sts", operation: "GetCallerIdentity", kind: "throttle", times: 1 });

    const error = await whoAmI().catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(STSServiceException);
    expect(error).toMatchObject({ name: "Throttling", $metadata: { httpStatusCode: 400 } });
  });
});
