import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { COMPLIANCE_RULES } from "../../functions/audit-scan/compliance.ts";
import { RULES } from "../../functions/audit-scan/registry.ts";

const detections = readFileSync(new URL("../../docs/detections.md", import.meta.url), "utf8");

describe("docs/detections.md", () => {
  it("has a section for every registered rule, anchored by its id, and a catalogue row", () => {
    for (const rule of RULES) {
      expect(detections, rule.id).toContain(`\n## ${rule.id}\n`);
      expect(detections, rule.id).toContain(`| [${rule.id}](#${rule.id}) |`);
    }
  });

  it("has a section for every rule of the compliance sweep", () => {
    for (const id of COMPLIANCE_RULES) expect(detections, id).toContain(`\n## ${id}\n`);
  });

  it("documents no rule that is neither registered nor a compliance-sweep rule", () => {
    const ids = new Set<string>([...RULES.map((rule) => rule.id), ...COMPLIANCE_RULES]);
    const sections = [...detections.matchAll(/\n## ([a-z0-9-]+)\n/g)].map((match) => match[1]);

    expect(sections.filter((id) => !ids.has(id as string))).toEqual([]);
  });

  it("states each rule's usual severity in its section", () => {
    for (const rule of RULES) {
      const section = detections.split(`\n## ${rule.id}\n`)[1]?.split("\n## ")[0] ?? "";
      expect(section, rule.id).toContain(`**Severity:** ${rule.severity}`);
    }
  });
});
