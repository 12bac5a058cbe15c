// The packaged CloudFormation template (`npm run package`), both ways: with the defaults and with every
// optional part switched on (VPC, trail bucket, IBKR targets, extra senders). What is wired to what, and
// least privilege: no role may write to "*" without a condition that scopes it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { packagedTemplate, type Template, type Variant } from "../helpers/packaged-template.ts";
import { effectiveTemplate } from "../helpers/template-conditions.ts";

const templates = {} as Record<Variant, Template>;

beforeAll(async () => {
  templates.defaults = effectiveTemplate(await packagedTemplate("defaults"));
  templates.everything = effectiveTemplate(await packagedTemplate("everything"));
}, 300_000);

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON, whose shape each assertion states.
type Props = Record<string, any>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

function props(template: Template, logicalId: string): Props {
  const resource = template.Resources[logicalId];
  if (!resource) throw new Error(`no resource ${logicalId}`);
  return resource.Properties ?? {};
}

function ofType(template: Template, type: string): [string, Props][] {
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => [id, resource.Properties ?? {}]);
}

function statements(template: Template, role: string): Statement[] {
  return (props(template, role).Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
    (policy) => policy.PolicyDocument.Statement,
  );
}

const actions = (statement: Statement) => [statement.Action].flat();
const resources = (statement: Statement) => [statement.Resource].flat();

/** Every Ref, Fn::GetAtt and ${Name} in a Fn::Sub of `value`. */
function references(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) references(item, found);
  else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "Ref" && typeof item === "string") found.push(item);
      else if (key === "Fn::GetAtt")
        found.push((Array.isArray(item) ? item[0] : String(item).split(".")[0]) as string);
      else if (key === "Fn::Sub") {
        const text = Array.isArray(item) ? item[0] : item;
        const locals = Array.isArray(item) ? Object.keys(item[1] ?? {}) : [];
        for (const match of String(text).matchAll(/\$\{([^!}][^}]*)\}/g)) {
          const name = (match[1] ?? "").split(".")[0] ?? "";
          if (!locals.includes(name)) found.push(name);
        }
        references(Array.isArray(item) ? item[1] : undefined, found);
      } else references(item, found);
    }
  }
  return found;
}

// IAM prefix of each SDK client package; batch calls are authorised by their single-message action.
const IAM_PREFIX: Record<string, string> = {
  "client-secrets-manager": "secretsmanager",
  "client-sqs": "sqs",
  "client-sns": "sns",
  "client-dynamodb": "dynamodb",
  "client-cloudtrail": "cloudtrail",
  "client-ecs": "ecs",
  "client-s3": "s3",
};
const BATCH_ACTION: Record<string, string> = {
  SendMessageBatch: "SendMessage",
  DeleteMessageBatch: "DeleteMessage",
};

/** The IAM actions of every `new XCommand(...)` a function's source makes, e.g. "dynamodb:GetItem". */
function awsCallsOf(fn: string): string[] {
  const dir = fileURLToPath(new URL(`../../functions/${fn}`, import.meta.url));
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((file) => file.endsWith(".ts"));
  const calls = new Set<string>();
  for (const file of files) {
    const source = readFileSync(join(dir, file), "utf8");
    for (const [, names = "", client = ""] of source.matchAll(
      /import \{([^}]*)\} from "@aws-sdk\/(client-[a-z0-9-]+)"/g,
    )) {
      for (const [, command = ""] of names.matchAll(/\b([A-Z]\w*)Command\b/g)) {
        if (!source.includes(`new ${command}Command(`)) continue;
        calls.add(`${IAM_PREFIX[client] ?? client}:${BATCH_ACTION[command] ?? command}`);
      }
    }
  }
  return [...calls].sort();
}

// Read-only verbs: allowed on "*" (e.g. LookupEvents and ListSecrets have no resource to scope to).
const READ_ONLY = /^[a-z0-9-]+:(Get|List|Describe|Lookup|Query|BatchGet)[A-Za-z]*$/;

describe.each(["defaults", "everything"] as const)("packaged template (%s)", (variant) => {
  const t = () => templates[variant];

  it("refers only to resources it defines and to pseudo parameters", () => {
    // Arrange
    const defined = new Set(Object.keys(t().Resources));

    // Act
    const dangling = references({ Resources: t().Resources, Outputs: t().Outputs }).filter(
      (name) => !defined.has(name) && !name.startsWith("AWS::"),
    );

    // Assert
    expect(dangling).toEqual([]);
  });

  it("gives the audit-scan function its own role, the state table and the findings queue", () => {
    // Arrange
    const scan = props(t(), "AuditDashscanLambdaFunction");

    // Act
    const env = scan.Environment.Variables;

    // Assert
    expect(scan.Handler).toBe("dist/audit-scan/index.handler");
    expect(scan.Role).toEqual({ "Fn::GetAtt": ["AuditScanRole", "Arn"] });
    expect(env.STATE_TABLE_NAME).toEqual({ Ref: "StateTable" });
    expect(env.FINDINGS_QUEUE_URL).toEqual({ Ref: "FindingsQueue" });
    expect(props(t(), "NotifyLambdaFunction").Environment.Variables.STATE_TABLE_NAME).toEqual({
      Ref: "StateTable",
    });
  });

  it("schedules the lookup sweep every 5 minutes and the compliance sweep hourly, naming the task in detail", () => {
    // Arrange
    const scheduled = ofType(t(), "AWS::Events::Rule").filter(([, rule]) => rule.ScheduleExpression);

    // Act
    const tasks = scheduled.map(([, rule]) => {
      const template = String(rule.Targets[0].InputTransformer.InputTemplate).replace(/<(id|time)>/g, '"x"');
      return [rule.ScheduleExpression, JSON.parse(template).detail.task];
    });

    // Assert
    expect(tasks.sort()).toEqual([
      ["rate(1 hour)", "compliance-sweep"],
      ["rate(5 minutes)", "lookup-sweep"],
    ]);
  });

  it("sends write-side Secrets Manager, KMS and CloudTrail API calls to the scanner in near real time", () => {
    // Arrange
    const patterned = ofType(t(), "AWS::Events::Rule").filter(([, rule]) => rule.EventPattern);

    // Act
    const calls = patterned.filter(([, rule]) =>
      rule.EventPattern["detail-type"].includes("AWS API Call via CloudTrail"),
    );
    const [[, rule] = ["", {}]] = calls;

    // Assert
    expect(calls).toHaveLength(1);
    expect(rule.EventPattern["detail-type"]).toEqual(["AWS API Call via CloudTrail"]);
    expect(rule.EventPattern.detail.eventSource.sort()).toEqual([
      "cloudtrail.amazonaws.com",
      "kms.amazonaws.com",
      "secretsmanager.amazonaws.com",
    ]);
    expect(rule.EventPattern.detail.readOnly).toEqual([false]);
    expect(rule.Targets[0].Arn).toEqual({ "Fn::GetAtt": ["AuditDashscanLambdaFunction", "Arn"] });
  });

  it("sends Secrets Manager's rotation service events to the scanner, so it knows when a rotation runs", () => {
    // Arrange
    const patterned = ofType(t(), "AWS::Events::Rule").filter(([, rule]) => rule.EventPattern);

    // Act
    const services = patterned.filter(([, rule]) =>
      rule.EventPattern["detail-type"].includes("AWS Service Event via CloudTrail"),
    );
    const [[, rule] = ["", {}]] = services;

    // Assert
    expect(services).toHaveLength(1);
    expect(rule.EventPattern.source).toEqual(["aws.secretsmanager"]);
    expect(rule.EventPattern.detail.eventName.sort()).toEqual([
      "RotationAbandoned",
      "RotationFailed",
      "RotationStarted",
      "RotationSucceeded",
    ]);
    expect(rule.Targets[0].Arn).toEqual({ "Fn::GetAtt": ["AuditDashscanLambdaFunction", "Arn"] });
  });

  it("keeps state in an on-demand table keyed pk/sk with TTL on expiresAt, point-in-time recovery and SSE", () => {
    // Arrange
    const table = props(t(), "StateTable");

    // Act
    const keys = table.KeySchema.map((key: Props) => `${key.AttributeName}:${key.KeyType}`);

    // Assert
    expect(table.TableName).toMatch(/^vigil-dev-state$/);
    expect(keys).toEqual(["pk:HASH", "sk:RANGE"]);
    expect(table.BillingMode).toBe("PAY_PER_REQUEST");
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: "expiresAt", Enabled: true });
    expect(table.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled).toBe(true);
    expect(table.SSESpecification.SSEEnabled).toBe(true);
  });

  it("denies sending to the findings queue to everyone but Vigil's roles and the configured senders", () => {
    // Arrange
    const [statement] = props(t(), "FindingsQueuePolicy").PolicyDocument.Statement as Statement[];

    // Act
    const allowed = (statement?.Condition?.ArnNotEquals as Props | undefined)?.["aws:PrincipalArn"];

    // Assert
    expect(statement).toMatchObject({ Effect: "Deny", Principal: "*", Action: "sqs:SendMessage" });
    expect(allowed.slice(0, 2)).toEqual([
      { "Fn::GetAtt": ["RotateRole", "Arn"] },
      { "Fn::GetAtt": ["AuditScanRole", "Arn"] },
    ]);
    expect(allowed.slice(2)).toEqual(
      variant === "everything" ? ["arn:aws:iam::111122223333:role/vigil-smoke-test"] : [],
    );
  });

  it("reads the trail bucket's new log files through a queue only when a trail bucket is configured", () => {
    // Arrange
    const mapping = t().Resources.TrailObjectsEventSourceMapping;

    // Act
    const s3Reads = statements(t(), "AuditScanRole").filter((s) => actions(s).includes("s3:GetObject"));

    // Assert
    if (variant === "defaults") {
      expect(mapping).toBeUndefined();
      expect(s3Reads).toEqual([]);
      return;
    }
    expect(mapping?.Properties?.FunctionName).toEqual({
      "Fn::GetAtt": ["AuditDashscanLambdaFunction", "Arn"],
    });
    const [policy] = props(t(), "TrailObjectsQueuePolicy").PolicyDocument.Statement as Statement[];
    expect(JSON.stringify(policy?.Condition)).toContain("s3:::acme-cloudtrail-logs");
    expect(resources(s3Reads[0] as Statement)).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder.
      { "Fn::Sub": "arn:${AWS::Partition}:s3:::acme-cloudtrail-logs/*" },
    ]);
  });

  it("attaches the rotate function to the VPC only when subnets and security groups are given", () => {
    // Arrange
    const rotate = props(t(), "RotateLambdaFunction");

    // Act
    const eniStatements = statements(t(), "RotateRole").filter((s) =>
      actions(s).some((a) => a.startsWith("ec2:")),
    );

    // Assert
    if (variant === "defaults") {
      expect(rotate.VpcConfig).toBeUndefined();
      expect(eniStatements).toEqual([]);
      return;
    }
    expect(rotate.VpcConfig).toEqual({
      SecurityGroupIds: ["sg-0123abcd"],
      SubnetIds: ["subnet-0a1b2c3d", "subnet-0e4f5a6b"],
    });
    const create = eniStatements.find((s) => actions(s).includes("ec2:CreateNetworkInterface"));
    expect(JSON.stringify(create?.Resource)).toContain("subnet/subnet-0e4f5a6b");
    expect(JSON.stringify(create?.Resource)).toContain("security-group/sg-0123abcd");
  });

  describe("least privilege", () => {
    const roles = () => ofType(t(), "AWS::IAM::Role").map(([id]) => id);

    it("never allows a write action on every resource without a condition", () => {
      // Arrange
      const violations: string[] = [];

      // Act
      for (const role of roles()) {
        for (const statement of statements(t(), role)) {
          if (statement.Effect !== "Allow" || statement.Condition) continue;
          const unscoped = resources(statement).some((resource) => resource === "*");
          for (const action of actions(statement)) {
            if (unscoped && !READ_ONLY.test(action)) violations.push(`${role}: ${action} on *`);
            if (action === "*" || action.endsWith(":*")) violations.push(`${role}: ${action}`);
          }
        }
      }

      // Assert
      expect(violations).toEqual([]);
    });

    it("never lets the scanner read a secret's value", () => {
      // Arrange
      const scanner = statements(t(), "AuditScanRole");

      // Act
      const granted = scanner.flatMap(actions);

      // Assert
      expect(granted).not.toContain("secretsmanager:GetSecretValue");
      expect(granted).toEqual(
        expect.arrayContaining(["cloudtrail:LookupEvents", "secretsmanager:ListSecrets"]),
      );
    });

    it("restarts only ECS services tagged to accept it", () => {
      // Arrange
      const [statement] = statements(t(), "RotateRole").filter((s) =>
        actions(s).includes("ecs:UpdateService"),
      );

      // Act
      const condition = statement?.Condition?.StringEquals as Props;

      // Assert
      expect(condition["aws:ResourceTag/vigil:restart-on-rotation"]).toBe("true");
    });

    it("reaches only each managed IBKR secret's own staging secret", () => {
      // Arrange
      const staging = statements(t(), "RotateRole").filter((s) =>
        JSON.stringify(s.Resource).includes("vigil-staging"),
      );

      // Act
      const arns = [...new Set(staging.flatMap((s) => resources(s).map((r) => JSON.stringify(r))))];

      // Assert
      if (variant === "defaults") {
        expect(staging).toEqual([]);
        return;
      }
      expect(arns.map((arn) => arn.replace(/^.*:secret:|"}$/g, "")).sort()).toEqual([
        "algo-trade/paper/ibkr/vigil-staging-??????",
        "algo-trade/prod/ibkr/vigil-staging-??????",
      ]);
      const writes = staging.filter((s) => actions(s).some((a) => !READ_ONLY.test(a)));
      for (const statement of writes) {
        expect(statement.Condition).toEqual({
          StringEquals: { "aws:ResourceTag/vigil:purpose": "ibkr-staging" },
        });
      }
    });

    it("gives the notifier the state table's item reads and writes and nothing else on it", () => {
      // Arrange
      const notifier = statements(t(), "NotifyRole");

      // Act
      const onTable = notifier
        .filter((s) => JSON.stringify(s.Resource).includes("StateTable"))
        .flatMap(actions);

      // Assert
      expect(onTable.sort()).toEqual(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]);
    });
  });
});

// With every optional part switched on, so that the trail bucket and the IBKR staging calls are granted.
describe("packaged template (everything): each role", () => {
  it.each([
    // The `vigil ibkr stage` workflow (functions/rotate/strategies/ibkr/stage.ts, run by an operator
    // through the CLI) creates and restores staging secrets and starts the rotation; SNS only with
    // ROTATION_EVENTS_TOPIC_ARN, which the template does not set (the findings queue is used).
    [
      "rotate",
      "RotateRole",
      [
        "secretsmanager:CreateSecret",
        "secretsmanager:RestoreSecret",
        "secretsmanager:RotateSecret",
        "sns:Publish",
      ],
    ],
    ["notify", "NotifyRole", []],
    ["audit-scan", "AuditScanRole", []],
  ])("lets %s make every AWS call its code makes", (fn, role, notByTheFunction) => {
    // Arrange
    const granted = new Set(statements(templates.everything, role).flatMap(actions));

    // Act
    const missing = awsCallsOf(fn).filter((call) => !granted.has(call) && !notByTheFunction.includes(call));

    // Assert
    expect(awsCallsOf(fn).length).toBeGreaterThan(1);
    expect(missing).toEqual([]);
  });
});
