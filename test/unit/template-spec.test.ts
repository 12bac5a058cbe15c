// The templates checked offline against the CloudFormation resource specification that
// @aws-cdk/aws-service-spec ships: every resource type exists, every property name (nested ones too,
// where the value is not an intrinsic function) exists, and every required property is set. A typo in
// serverless.yml or infra/ fails here rather than halfway through a deployment.
import { readFileSync } from "node:fs";
import { loadAwsServiceSpec } from "@aws-cdk/aws-service-spec";
import type { PropertyType, SpecDatabase } from "@aws-cdk/service-spec-types";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, type Tags } from "yaml";
import { packagedTemplate, type Template } from "../helpers/packaged-template.ts";

let db: SpecDatabase;

beforeAll(async () => {
  db = await loadAwsServiceSpec();
}, 120_000);

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** An intrinsic function or reference, whose value CloudFormation computes: not checked further. */
const isIntrinsic = (value: unknown): boolean =>
  isObject(value) &&
  Object.keys(value).length === 1 &&
  /^(Ref|Condition|Fn::.+)$/.test(Object.keys(value)[0] ?? "");

/** Problems with one value against its specified type (property names and required properties). */
function checkValue(type: PropertyType, value: unknown, path: string): string[] {
  if (isIntrinsic(value)) return [];
  switch (type.type) {
    case "ref": {
      if (!isObject(value)) return [];
      const definition = db.get("typeDefinition", type.reference.$ref);
      return checkProperties(definition.properties, value, path);
    }
    case "array":
      return Array.isArray(value)
        ? value.flatMap((item, i) => checkValue(type.element, item, `${path}[${i}]`))
        : [];
    case "map":
      return isObject(value)
        ? Object.entries(value).flatMap(([key, item]) => checkValue(type.element, item, `${path}.${key}`))
        : [];
    case "union": {
      if (type.types.some((member) => member.type === "json")) return [];
      const attempts = type.types.map((member) => checkValue(member, value, path));
      return attempts.some((problems) => problems.length === 0) ? [] : (attempts[0] ?? []);
    }
    default:
      return [];
  }
}

/** Problems with an object against a property list: unknown names, missing required ones, nested values. */
function checkProperties(
  specified: Record<string, { required?: boolean; type: PropertyType }>,
  value: Json,
  path: string,
): string[] {
  const unknown = Object.keys(value)
    .filter((name) => !(name in specified))
    .map((name) => `${path}.${name}: no such property`);
  const missing = Object.entries(specified)
    .filter(([name, property]) => property.required && !(name in value))
    .map(([name]) => `${path}.${name}: required but not set`);
  const nested = Object.entries(value).flatMap(([name, item]) => {
    const property = specified[name];
    return property ? checkValue(property.type, item, `${path}.${name}`) : [];
  });
  return [...unknown, ...missing, ...nested];
}

/** Every problem of a template's resources against the specification. */
function checkTemplate(template: Pick<Template, "Resources">): string[] {
  return Object.entries(template.Resources).flatMap(([id, resource]) => {
    const [spec] = db.lookup("resource", "cloudFormationType", "equals", resource.Type);
    if (!spec) return [`${id}: no resource type ${resource.Type}`];
    return checkProperties(spec.properties, resource.Properties ?? {}, `${id} (${resource.Type})`);
  });
}

// CloudFormation's short-form tags, read as their long forms.
const cloudFormationTags: Tags = [
  "Ref",
  "Condition",
  "GetAtt",
  "Sub",
  "If",
  "Not",
  "Equals",
  "Join",
  "Split",
  "Select",
  "And",
  "Or",
].flatMap((name) => {
  const key = name === "Ref" || name === "Condition" ? name : `Fn::${name}`;
  const scalar = (text: string) => ({ [key]: name === "GetAtt" ? text.split(".") : text });
  return [
    { tag: `!${name}`, resolve: scalar },
    {
      tag: `!${name}`,
      collection: "seq" as const,
      resolve: (seq: { toJSON(): unknown }) => ({ [key]: seq.toJSON() }),
    },
  ];
});

describe("checkTemplate", () => {
  it("reports an unknown resource type, a misspelt property, a missing required one and a nested typo", () => {
    // Arrange
    const broken = {
      Resources: {
        Queue: { Type: "AWS::SQS::Queue", Properties: { VisibilityTimout: 30 } },
        Table: {
          Type: "AWS::DynamoDB::Table",
          Properties: {
            KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
            TimeToLiveSpecification: { AttributeNam: "x", Enabled: true },
          },
        },
        Topic: { Type: "AWS::SNS::Topc", Properties: {} },
        Fn: {
          Type: "AWS::Lambda::Function",
          Properties: { Code: { ZipFile: "exports.handler = () => {}" } },
        },
      },
    };

    // Act
    const problems = checkTemplate(broken);

    // Assert
    expect(problems).toEqual(
      expect.arrayContaining([
        "Queue (AWS::SQS::Queue).VisibilityTimout: no such property",
        "Table (AWS::DynamoDB::Table).TimeToLiveSpecification.AttributeNam: no such property",
        "Topic: no resource type AWS::SNS::Topc",
        "Fn (AWS::Lambda::Function).Role: required but not set",
      ]),
    );
  });
});

describe.each(["defaults", "everything"] as const)("packaged template (%s)", (variant) => {
  it("uses only resource types and properties the CloudFormation specification defines, required ones set", async () => {
    // Arrange
    const template = await packagedTemplate(variant);

    // Act
    const problems = checkTemplate(template);

    // Assert
    expect(Object.keys(template.Resources).length).toBeGreaterThan(30);
    expect(problems).toEqual([]);
  }, 300_000);
});

describe("infra/rotation-schedules.yml", () => {
  it("uses only resource types and properties the CloudFormation specification defines, required ones set", () => {
    // Arrange
    const text = readFileSync(new URL("../../infra/rotation-schedules.yml", import.meta.url), "utf8");

    // Act
    const template = parse(text, { customTags: cloudFormationTags }) as Template;

    // Assert
    expect(Object.keys(template.Resources)).toEqual(["DatabaseRotationSchedule", "IbkrRotationSchedule"]);
    expect(checkTemplate(template)).toEqual([]);
  });
});
