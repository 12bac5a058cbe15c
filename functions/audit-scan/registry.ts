import type { Rule } from "./rule.ts";
import { canaryTouched } from "./rules/canary-touched.ts";
import { trailTampering } from "./rules/trail-tampering.ts";

// One line per rule; each lives in rules/<id>.ts and has a section in docs/detections.md.
export const RULES: readonly Rule[] = [canaryTouched, trailTampering];
