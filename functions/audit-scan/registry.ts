import type { Rule, ScannedService } from "./rule.ts";
import { accessProbing } from "./rules/access-probing.ts";
import { bulkRetrieval } from "./rules/bulk-retrieval.ts";
import { canaryTouched } from "./rules/canary-touched.ts";
import { crossAccountRead } from "./rules/cross-account-read.ts";
import { firstSeenOrigin } from "./rules/first-seen-origin.ts";
import { firstSeenReader } from "./rules/first-seen-reader.ts";
import { kmsKeyTampering } from "./rules/kms-key-tampering.ts";
import { resourcePolicyExposed } from "./rules/resource-policy-exposed.ts";
import { rootOrConsoleRead } from "./rules/root-or-console-read.ts";
import { rotationChanged } from "./rules/rotation-changed.ts";
import { rotationFailed } from "./rules/rotation-failed.ts";
import { secretDeleted } from "./rules/secret-deleted.ts";
import { secretReplicated } from "./rules/secret-replicated.ts";
import { secretValueWritten } from "./rules/secret-value-written.ts";
import { trailTampering } from "./rules/trail-tampering.ts";
import { unexpectedOrigin } from "./rules/unexpected-origin.ts";
import { unexpectedReader } from "./rules/unexpected-reader.ts";
import { versionStageMoved } from "./rules/version-stage-moved.ts";

// One line per rule; each lives in rules/<id>.ts and has a section in docs/detections.md.
export const RULES: readonly Rule[] = [
  canaryTouched,
  unexpectedReader,
  unexpectedOrigin,
  crossAccountRead,
  rootOrConsoleRead,
  firstSeenReader,
  firstSeenOrigin,
  bulkRetrieval,
  accessProbing,
  secretValueWritten,
  versionStageMoved,
  rotationChanged,
  resourcePolicyExposed,
  secretDeleted,
  secretReplicated,
  kmsKeyTampering,
  trailTampering,
  rotationFailed,
];

/** The rules to give an event of this service and name, in catalogue order (none for a service no rule reads). */
export type RuleDispatch = (service: string, eventName: string) => readonly Rule[];

const SERVICES: readonly ScannedService[] = ["secretsmanager", "kms", "cloudtrail"];
const NONE: readonly Rule[] = [];

/**
 * The dispatch map of a catalogue, built from what each rule subscribes to (`events`): an event visits
 * only the rules that judge its kind, instead of every rule asking "is this mine?" of every event.
 */
export function ruleDispatch(rules: readonly Rule[]): RuleDispatch {
  const byService = new Map<string, { named: Map<string, readonly Rule[]>; anyName: readonly Rule[] }>();
  for (const service of SERVICES) {
    const anyName = rules.filter((rule) => rule.events[service] === "*");
    const names = new Set(rules.flatMap((rule) => asNames(rule.events[service])));
    const named = new Map<string, readonly Rule[]>();
    for (const name of names) {
      named.set(
        name,
        rules.filter((rule) => rule.events[service] === "*" || asNames(rule.events[service]).includes(name)),
      );
    }
    byService.set(service, { named, anyName });
  }
  return (service, eventName) => {
    const table = byService.get(service);
    if (!table) return NONE;
    return table.named.get(eventName) ?? table.anyName;
  };
}

function asNames(subscription: "*" | readonly string[] | undefined): readonly string[] {
  return subscription === undefined || subscription === "*" ? [] : subscription;
}
