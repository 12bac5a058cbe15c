// docs/alerts.md names rule ids, SNS attributes, filter policies, variables and the channel registry that
// subscribers and operators copy from it; each is checked here against the code, so the page stays true.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { COMPLIANCE_RULES } from "../../functions/audit-scan/compliance.ts";
import { RULES } from "../../functions/audit-scan/registry.ts";
import {
  NOTIFICATION_ATTRIBUTES,
  NOTIFICATION_STATUSES,
  SECRET_ROTATED_RULE,
} from "../../functions/notify/sns.ts";
import { SEVERITIES } from "../../lib/finding.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const alertsDoc = readFileSync(join(root, "docs/alerts.md"), "utf8");

/** Every `.ts` file under a folder of the repository. */
function sourceFiles(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => readFileSync(join(root, folder, file), "utf8"));
}

/** Rule ids the code can put on a finding: the scanner's catalogue and every literal `rule` under functions/. */
function ruleIdsInCode(): Set<string> {
  const ids = new Set<string>([SECRET_ROTATED_RULE, ...RULES.map((rule) => rule.id), ...COMPLIANCE_RULES]);
  for (const text of sourceFiles("functions")) {
    for (const match of text.matchAll(/\brule(?::\s*string)?\s*[:=]\s*"([^"]+)"/g))
      ids.add(match[1] as string);
  }
  return ids;
}

/** The rows of the markdown table whose header row starts with `| <firstHeader> |`, as cells. */
function tableRows(doc: string, firstHeader: string): string[][] {
  const lines = doc.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`| ${firstHeader} |`));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);

/** The filter policies the page shows, whether in a JSON snippet or inside an escaped CLI argument. */
function filterPolicies(doc: string): Record<string, string[]>[] {
  const inline = backticked(doc.replace(/```[\s\S]*?```/g, "")).filter((code) =>
    /^\{"(severity|rule|secret|status)"/.test(code),
  );
  const escaped = [...doc.matchAll(/"FilterPolicy":"(.+?)"\}'/g)].map((match) =>
    (match[1] as string).replaceAll('\\"', '"'),
  );
  return [...inline, ...escaped].map((text) => JSON.parse(text) as Record<string, string[]>);
}

describe("docs/alerts.md", () => {
  it("names only rule ids the code emits", () => {
    const rows = tableRows(alertsDoc, "Attribute");
    const ruleRow = rows.find(([name]) => name === "`rule`");
    const named = [
      ...backticked(ruleRow?.[1] ?? ""),
      ...filterPolicies(alertsDoc).flatMap((policy) => policy.rule ?? []),
    ];

    const known = ruleIdsInCode();

    expect(named.length).toBeGreaterThan(3);
    expect(named.filter((id) => !known.has(id))).toEqual([]);
  });

  it("lists exactly the message attributes the code sets, with their values", () => {
    const rows = Object.fromEntries(
      tableRows(alertsDoc, "Attribute").map(([name, values]) => [
        backticked(name ?? "")[0],
        backticked(values ?? ""),
      ]),
    );

    expect(Object.keys(rows)).toEqual([...NOTIFICATION_ATTRIBUTES]);
    expect(rows.severity).toEqual([...SEVERITIES]);
    expect(rows.status).toEqual([...NOTIFICATION_STATUSES]);
  });

  it("shows filter policies on real attributes and values only", () => {
    const policies = filterPolicies(alertsDoc);
    const valid: Record<string, (value: string) => boolean> = {
      severity: (value) => (SEVERITIES as readonly string[]).includes(value),
      status: (value) => (NOTIFICATION_STATUSES as readonly string[]).includes(value),
      rule: (value) => ruleIdsInCode().has(value),
    };

    expect(policies.length).toBeGreaterThanOrEqual(3);
    for (const policy of policies) {
      for (const [attribute, values] of Object.entries(policy)) {
        expect(NOTIFICATION_ATTRIBUTES).toContain(attribute);
        expect(values.filter((value) => !valid[attribute]?.(value))).toEqual([]);
      }
    }
  });

  it("documents every environment variable the notifier reads, and no other", () => {
    const config = readFileSync(join(root, "functions/notify/config.ts"), "utf8");
    const read = new Set([...config.matchAll(/\(\s*"([A-Z][A-Z0-9_]+)"/g)].map((match) => match[1]));
    const documented = new Set(tableRows(alertsDoc, "Variable").flatMap(([name]) => backticked(name ?? "")));

    expect([...documented].sort()).toEqual([...read].sort());
  });

  it("shows the channel registry as it is in the code", () => {
    const section = alertsDoc.slice(alertsDoc.indexOf("## Adding a channel"));
    const snippet = /```ts\n([\s\S]+?)```/.exec(section)?.[1];
    const registry = readFileSync(join(root, "functions/notify/channels/index.ts"), "utf8");

    expect(snippet).toBeDefined();
    expect(registry).toContain(snippet);
  });
});
