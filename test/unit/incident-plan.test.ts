import { describe, expect, it } from "vitest";
import { planIncidentResponse, renderPlan } from "../../incident/plan.ts";
import { parseDenyPrincipal } from "../../incident/principal.ts";
import { secretFacts } from "../../incident/secret-facts.ts";

const ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/orders-db-AbCdEf";
const described = {
  ARN,
  Name: "prod/orders-db",
  RotationEnabled: true,
  RotationLambdaARN: "arn:aws:lambda:us-east-1:111122223333:function:vigil-rotate",
  VersionIdsToStages: { v1: ["AWSCURRENT"], v0: ["AWSPREVIOUS"] },
  Tags: [
    { Key: "vigil:rotation", Value: "postgres-single" },
    { Key: "vigil:ecs-services", Value: "trading/orders trading/ledger" },
  ],
  $metadata: {},
};
const request = {
  deny: [parseDenyPrincipal("arn:aws:iam::111122223333:user/build-bot")],
  rotate: true,
  record: true,
  outDir: "/tmp/evidence",
  since: "2026-11-02T00:00:00.000Z",
  eventSource: "CloudTrail LookupEvents",
  callerArn: "arn:aws:sts::111122223333:assumed-role/responder/alice",
  recordTargets: {
    routingKeySecretId: "vigil/prod/pagerduty",
    topicArn: "arn:aws:sns:us-east-1:111122223333:alerts",
  },
  rotationTimeoutSeconds: 300,
};

describe("secretFacts", () => {
  it("reads the strategy, consumers, versions and IBKR-ness without the value", () => {
    const facts = secretFacts(described, undefined);

    expect(facts).toMatchObject({
      arn: ARN,
      region: "us-east-1",
      account: "111122223333",
      strategy: "postgres-single",
      ibkr: false,
      currentVersionId: "v1",
      pendingVersionId: undefined,
      consumers: [
        { cluster: "trading", service: "orders" },
        { cluster: "trading", service: "ledger" },
      ],
    });
    expect(secretFacts({ ...described, Name: "algo-trade/prod/ibkr", Tags: [] }, undefined).ibkr).toBe(true);
    expect(
      secretFacts({ ...described, VersionIdsToStages: { v1: ["AWSCURRENT"], v2: ["AWSPENDING"] } }, undefined)
        .pendingVersionId,
    ).toBe("v2");
  });
});

describe("planIncidentResponse", () => {
  it("plans every step in order with what it changes", () => {
    const plan = planIncidentResponse(secretFacts(described, '{"Statement":[{"Effect":"Allow"}]}'), request);

    expect(plan.map((step) => [step.step, step.run])).toEqual([
      ["evidence", true],
      ["contain", true],
      ["rotate", true],
      ["restart", true],
      ["record", true],
    ]);
    expect(plan[1]?.action).toContain("merged with its 1 existing statement(s)");
    expect(plan[3]?.action).toContain("trading/orders, trading/ledger");
    expect(renderPlan(ARN, plan)).toMatch(
      /^Incident response plan for .*\n {2}1\. evidence: write evidence\.json/,
    );
  });

  it("says why a step will not run, and warns of a rotation in progress or a session-only deny", () => {
    const facts = secretFacts(
      { ...described, Tags: [], VersionIdsToStages: { v1: ["AWSCURRENT"], v2: ["AWSPENDING"] } },
      undefined,
    );

    const plan = planIncidentResponse(facts, {
      ...request,
      deny: [parseDenyPrincipal("arn:aws:sts::111122223333:assumed-role/trading-app/task-1")],
      record: false,
      recordTargets: undefined,
    });

    expect(plan[1]?.note).toMatch(/denies that session name only/);
    expect(plan[2]?.note).toMatch(
      /already in progress \(pending version v2\): it will be reported, not forced/,
    );
    expect(plan[3]).toMatchObject({ run: false, action: expect.stringMatching(/no vigil:ecs-services tag/) });
    expect(plan[4]).toMatchObject({ run: false, action: "skipped: --no-record" });
    expect(planIncidentResponse(facts, { ...request, deny: [], rotate: false })[1]).toMatchObject({
      run: false,
    });
  });
});
