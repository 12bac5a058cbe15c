import type { Template } from "./packaged-template.ts";

/** True/false of each template condition; packaging-time parameters make them literal comparisons. */
export function evaluateConditions(template: Template): Record<string, boolean> {
  const values: Record<string, boolean> = {};
  const evaluate = (expression: unknown): boolean => {
    const node = expression as Record<string, unknown[]>;
    if (node["Fn::Equals"]) {
      const [left, right] = node["Fn::Equals"];
      if (typeof left !== "string" || typeof right !== "string") throw new Error("non-literal Fn::Equals");
      return left === right;
    }
    if (node["Fn::Not"]) return !evaluate(node["Fn::Not"][0]);
    if (node["Fn::And"]) return node["Fn::And"].every(evaluate);
    if (node["Fn::Or"]) return node["Fn::Or"].some(evaluate);
    const { Condition: named } = expression as { Condition?: unknown };
    if (typeof named === "string") return evaluate(template.Conditions?.[named]);
    throw new Error(`unsupported condition ${JSON.stringify(expression)}`);
  };
  for (const [name, expression] of Object.entries(template.Conditions ?? {}))
    values[name] = evaluate(expression);
  return values;
}

/** The template as CloudFormation would apply it: conditional resources and Fn::If branches resolved. */
export function effectiveTemplate(template: Template): Template {
  const conditions = evaluateConditions(template);
  const NO_VALUE = Symbol("NoValue");
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve).filter((item) => item !== NO_VALUE);
    if (value && typeof value === "object") {
      const node = value as Record<string, unknown>;
      if (node.Ref === "AWS::NoValue") return NO_VALUE;
      if (Array.isArray(node["Fn::If"])) {
        const [name, whenTrue, whenFalse] = node["Fn::If"] as [string, unknown, unknown];
        return resolve(conditions[name] ? whenTrue : whenFalse);
      }
      const entries = Object.entries(node)
        .map(([key, item]) => [key, resolve(item)] as const)
        .filter(([, item]) => item !== NO_VALUE);
      return Object.fromEntries(entries);
    }
    return value;
  };
  const keep = <T extends { Condition?: string }>(entries: Record<string, T>) =>
    Object.fromEntries(
      Object.entries(entries).filter(([, item]) => !item.Condition || conditions[item.Condition]),
    );
  return {
    ...template,
    Resources: resolve(keep(template.Resources)) as Template["Resources"],
    Outputs: resolve(keep(template.Outputs ?? {})) as Template["Outputs"],
  };
}
