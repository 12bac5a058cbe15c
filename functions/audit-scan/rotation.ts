import { inKeyOrder } from "./in-key-order.ts";
import type { AuditEvent } from "./normalise.ts";
import type { ScanState } from "./state.ts";

/**
 * Recognises the rotation function's own calls without being told its role. Secrets Manager records a
 * RotationStarted service event for the secret; the function then reads the pending version by id and
 * stage (expecting ResourceNotFoundException in createSecret), writes it with the AWSPENDING stage, and
 * finally moves AWSCURRENT to it. A call is the rotation's own when it touches the secret (or its IBKR
 * staging secret) within ROTATION_SPAN_MS after a RotationStarted, by the principal that made that
 * rotation's pending-version calls, and — for a stage move — onto that rotation's pending version. Only
 * the kinds of call the rotation makes qualify (reads, describes, AWSPENDING writes, stage moves; on the
 * staging secret also its update and deletion), and nobody's qualify when two principals touched pending
 * versions of the secret within the hour (one of them is imitating the rotation). A principal once
 * recognised this way is remembered as a rotation function, so in later rotations its calls are its own
 * even when they are scanned before the rotation's pending-version calls.
 *
 * Evidence lives in the ScanState (so a rotation split across files and invocations is still
 * recognised when its RotationStarted is scanned no later than its calls) and in memory for the batch
 * being scanned (so order inside one batch does not matter).
 */

/** Time buckets the evidence is kept in. */
const BUCKET_MS = 10 * 60_000;
/** How long after RotationStarted the rotation's calls are expected (four Lambda steps, with retries). */
export const ROTATION_SPAN_MS = 3 * BUCKET_MS;
/**
 * The time earlier versions stored when a lookup found a key absent (they asked recordSeen with it): read
 * back, it still means absent, until a real record lowers it. Lookups now only read (firstSeen).
 */
const PROBE = Number.MAX_SAFE_INTEGER;
export const STAGING_SUFFIX = "/vigil-staging";
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const PROBE_MEMBER = "(probe)";
/** What the rotation function calls on the secret it rotates, and on an IBKR staging secret. */
const TARGET_CALLS = new Set([
  "GetSecretValue",
  "DescribeSecret",
  "ListSecretVersionIds",
  "PutSecretValue",
  "UpdateSecretVersionStage",
]);
const STAGING_CALLS = new Set(["GetSecretValue", "DescribeSecret", "UpdateSecret", "DeleteSecret"]);
/** Events showing a secret has (had) rotation configured: its first attachment is judged against them. */
const CONFIGURED_EVENTS = new Set([
  "RotationStarted",
  "RotationSucceeded",
  "RotationFailed",
  "RotationAbandoned",
]);

/** What the tracker knows about one event's rotation, for rules that must answer synchronously. */
export interface RotationFacts {
  /** RotationFailed: the rotation's calls (within ROTATION_SPAN_MS before) were made by a `rotationRoles` principal. */
  byRotationRole: boolean;
  /** RotateSecret with a function: nothing showed rotation configured on the secret before (after learning). */
  firstAttachment: boolean;
}
const NO_FACTS: RotationFacts = { byRotationRole: false, firstAttachment: false };

export class RotationTracker {
  private readonly known = new Set<string>();
  /** This batch's lookups of evidence, in flight or answered (items decided at once share one read). */
  private readonly lookups = new Map<string, Promise<boolean>>();
  private readonly toRecord = new Map<string, number>();
  private readonly pendingBy = new Map<string, number>();
  /** This batch's counts of pendingby sets, in flight or answered. */
  private readonly principals = new Map<string, Promise<number>>();
  private readonly facts = new Map<string, RotationFacts>();

  constructor(
    private readonly state: ScanState,
    /** True for a `rotationRoles` principal (the policy's); none when not given. */
    private readonly isRotationRole: (event: AuditEvent) => boolean = () => false,
    /** State calls in flight at once when recording a batch's evidence (1: one after another). */
    private readonly concurrency = 1,
  ) {}

  /**
   * Notes the rotation evidence in one batch of events (call before asking isRotationCall or factsOf about
   * it). A first attachment is only recognised for events at or after learningEndMs: before, the state
   * has not yet seen what rotations the secrets had.
   */
  async observe(events: readonly AuditEvent[], learningEndMs = Number.NEGATIVE_INFINITY): Promise<void> {
    // Another invocation may have recorded what an earlier lookup found absent, or added a principal.
    this.lookups.clear();
    this.principals.clear();
    this.facts.clear();
    await this.findFirstAttachments(events, learningEndMs);
    const pendingCalls: AuditEvent[] = [];
    for (const event of events) {
      if (event.service !== "secretsmanager") continue;
      const bucket = Math.floor(event.timeMs / BUCKET_MS);
      for (const secretArn of event.secretArns) {
        if (event.eventName === "RotationStarted")
          this.note(`rotation#${secretArn}#start#${bucket}`, event.timeMs);
        if (isConfiguredEvidence(event)) this.note(`rotation#${secretArn}#configured`, event.timeMs);
        if (this.isRotationRole(event))
          this.note(`rotation#${rotationTargetOf(secretArn)}#byrole#${bucket}`, event.timeMs);
        const version = pendingVersionOf(event);
        if (version === undefined) continue;
        pendingCalls.push(event);
        this.note(`rotation#${secretArn}#pending#${event.principal.id}#${bucket}`, event.timeMs);
        if (version !== "") this.note(`rotation#${secretArn}#version#${version}`, event.timeMs);
        const hour = `rotation#${secretArn}#pendingby#${Math.floor(event.timeMs / HOUR_MS)}`;
        this.pendingBy.set(`${hour}\u0000${event.principal.id}`, event.timeMs + 2 * DAY_MS);
      }
    }
    await this.flush();
    // A principal whose pending-version calls were a rotation's is the rotation function: its calls in later
    // rotations are recognised even before (or without) this rotation's pending calls being scanned.
    for (const event of pendingCalls) {
      for (const secretArn of event.secretArns) {
        if (await this.isRotationCall(event, secretArn))
          this.note(`rotation#rotator#${event.principal.id}`, event.timeMs);
      }
    }
    await this.flush();
    for (const event of events) {
      if (event.service !== "secretsmanager" || event.eventName !== "RotationFailed") continue;
      for (const secretArn of event.secretArns) {
        const bucket = Math.floor(event.timeMs / BUCKET_MS);
        let byRole = false;
        for (let back = 0; back <= ROTATION_SPAN_MS / BUCKET_MS && !byRole; back++) {
          byRole = await this.exists(`rotation#${secretArn}#byrole#${bucket - back}`);
        }
        this.setFacts(event, secretArn, { byRotationRole: byRole });
      }
    }
  }

  /** What observe found about event's rotation of secretArn (all false for events it was not asked about). */
  factsOf(event: AuditEvent, secretArn: string): RotationFacts {
    return this.facts.get(`${event.eventId}\u0000${secretArn}`) ?? NO_FACTS;
  }

  private setFacts(event: AuditEvent, secretArn: string, facts: Partial<RotationFacts>) {
    const key = `${event.eventId}\u0000${secretArn}`;
    this.facts.set(key, { ...(this.facts.get(key) ?? NO_FACTS), ...facts });
  }

  /** Before the batch's evidence is recorded: which attachments come after no sign of rotation on the secret. */
  private async findFirstAttachments(events: readonly AuditEvent[], learningEndMs: number): Promise<void> {
    const inBatch = new Map<string, number>();
    for (const event of events) {
      if (event.service !== "secretsmanager" || !isConfiguredEvidence(event)) continue;
      for (const secretArn of event.secretArns)
        inBatch.set(secretArn, Math.min(inBatch.get(secretArn) ?? event.timeMs, event.timeMs));
    }
    for (const event of events) {
      if (!isAttachment(event) || event.timeMs < learningEndMs) continue;
      for (const secretArn of event.secretArns) {
        // The earliest evidence, this event's own included (a redelivery must judge it the same way).
        const recorded = await this.state.firstSeen(`rotation#${secretArn}#configured`);
        const earliest = Math.min(recorded ?? PROBE, inBatch.get(secretArn) ?? PROBE);
        if (earliest >= event.timeMs) this.setFacts(event, secretArn, { firstAttachment: true });
      }
    }
  }

  private async flush(): Promise<void> {
    const evidence = [...this.toRecord];
    this.toRecord.clear();
    await inKeyOrder(
      evidence,
      ([key]) => [key],
      this.concurrency,
      ([key, atMs]) => this.state.recordSeen(key, atMs),
    );
    const pendingBy = [...this.pendingBy].map(([entry, expiresAtMs]) => {
      const [key = "", principal = ""] = entry.split("\u0000");
      return { key, principal, expiresAtMs };
    });
    this.pendingBy.clear();
    // One set's principals in turn (its count is the last answer), different sets at once.
    await inKeyOrder(
      pendingBy,
      ({ key }) => [key],
      this.concurrency,
      async ({ key, principal, expiresAtMs }) => {
        // The probe member is always in the set, so a set's size minus one counts its principals. The
        // count itself is read afresh when asked (principalCount): addDistinct may answer from this
        // container's cache, which does not see another invocation's principal.
        await this.state.addDistinct(key, PROBE_MEMBER, expiresAtMs);
        await this.state.addDistinct(key, principal, expiresAtMs);
      },
    );
  }

  /** True when event is the rotation function's own call on secretArn (see the module comment). */
  async isRotationCall(event: AuditEvent, secretArn: string): Promise<boolean> {
    const staging = secretArn.endsWith(STAGING_SUFFIX);
    const target = staging ? secretArn.slice(0, -STAGING_SUFFIX.length) : secretArn;
    if (!(staging ? STAGING_CALLS : TARGET_CALLS).has(event.eventName)) return false;
    if (event.eventName === "PutSecretValue" && pendingVersionOf(event) === undefined) return false;
    const bucket = Math.floor(event.timeMs / BUCKET_MS);
    let started = false;
    for (let back = 0; back <= ROTATION_SPAN_MS / BUCKET_MS && !started; back++) {
      started = await this.exists(`rotation#${target}#start#${bucket - back}`);
    }
    if (!started) return false;
    let byRotator = await this.exists(`rotation#rotator#${event.principal.id}`);
    const span = ROTATION_SPAN_MS / BUCKET_MS;
    for (let offset = -span; offset <= span && !byRotator; offset++) {
      byRotator = await this.exists(`rotation#${target}#pending#${event.principal.id}#${bucket + offset}`);
    }
    if (!byRotator) return false;
    // Two principals writing or reading pending versions of one secret in the same hour: one of them is
    // imitating the rotation, and nobody's calls are taken for the rotation's.
    const hour = Math.floor(event.timeMs / HOUR_MS);
    for (const h of [hour - 1, hour]) {
      if ((await this.principalCount(`rotation#${target}#pendingby#${h}`)) > 1) return false;
    }
    if (event.eventName === "UpdateSecretVersionStage" && target === secretArn) {
      const moveTo = event.request.moveToVersionId;
      // Moving a stage onto anything but this rotation's pending version is not the rotation's doing.
      if (typeof moveTo === "string") return this.exists(`rotation#${target}#version#${moveTo}`);
    }
    return true;
  }

  /** The principals of a pendingby set, read afresh once per batch (others may have added since). */
  private principalCount(key: string): Promise<number> {
    let count = this.principals.get(key);
    if (!count) {
      // A set holds the probe member from its first addition on (see flush), so it counts one less.
      count = this.state.countDistinct(key).then((size) => Math.max(0, size - 1));
      this.principals.set(key, count);
    }
    return count;
  }

  private note(key: string, atMs: number) {
    this.known.add(key);
    const before = this.toRecord.get(key);
    if (before === undefined || atMs < before) this.toRecord.set(key, atMs);
  }

  /** Whether evidence key was recorded, by this or any invocation; absent answers hold for one batch. */
  private exists(key: string): Promise<boolean> {
    if (this.known.has(key)) return Promise.resolve(true);
    let answer = this.lookups.get(key);
    if (!answer) {
      answer = this.state.firstSeen(key).then((earliest) => {
        const found = earliest !== undefined && earliest !== PROBE;
        if (found) this.known.add(key);
        return found;
      });
      this.lookups.set(key, answer);
    }
    return answer;
  }
}

/** The secret a rotation call is about: an IBKR staging secret's evidence is its target's. */
export function rotationTargetOf(secretArn: string): string {
  return secretArn.endsWith(STAGING_SUFFIX) ? secretArn.slice(0, -STAGING_SUFFIX.length) : secretArn;
}

/** A successful RotateSecret naming a rotation function. */
function isAttachment(event: AuditEvent): boolean {
  return (
    event.service === "secretsmanager" &&
    event.eventName === "RotateSecret" &&
    event.errorCode === undefined &&
    typeof event.request.rotationLambdaARN === "string"
  );
}

function isConfiguredEvidence(event: AuditEvent): boolean {
  return (
    isAttachment(event) || (event.eventType === "AwsServiceEvent" && CONFIGURED_EVENTS.has(event.eventName))
  );
}

/** The version a rotation's pending-version call names ("" when it names none); undefined for other calls. */
export function pendingVersionOf(event: AuditEvent): string | undefined {
  const { request, response } = event;
  if (event.eventName === "GetSecretValue" && request.versionStage === "AWSPENDING") {
    return typeof request.versionId === "string" ? request.versionId : "";
  }
  if (event.eventName === "PutSecretValue") {
    const stages = [request.versionStages, response.versionStages].flatMap((value) =>
      Array.isArray(value) ? value : [],
    );
    if (!stages.includes("AWSPENDING")) return undefined;
    const version = request.clientRequestToken ?? response.versionId;
    return typeof version === "string" ? version : "";
  }
  return undefined;
}
