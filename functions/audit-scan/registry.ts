import type { Rule } from "./rule.ts";
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
