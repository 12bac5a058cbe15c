import type { Severity } from "../../lib/finding.ts";
import { type AuditEvent, CACHE_ENTRIES } from "./normalise.ts";
import type { Policy, SecretPolicy } from "./policy.ts";
import type { RotationFacts } from "./rotation.ts";

/**
 * A detection rule: a pure function from one normalised event (plus what the policy and the rotation
 * tracker say about it) to signals. The engine turns signals into findings: it counts windows and
 * first sightings in the shared ScanState, claims each finding once, applies suppressions.
 */
export interface Rule {
  /** Stable id: the finding's `rule`, the docs anchor (`docs/detections.md#<id>`), the suppression key. */
  id: string;
  /** The severity most findings of this rule carry (the docs list the exceptions). */
  severity: Severity;
  /** One paragraph: what it catches. */
  description: string;
  /** What to check and what to do. */
  runbook: string;
  /** When it fires on harmless activity, and how to tune that away. */
  falsePositives: string;
  /** The events the engine gives evaluate: no other event ever reaches it (the registry's dispatch map). */
  events: RuleEvents;
  /** The signals this event raises (most events raise none: NO_SIGNALS). */
  evaluate(event: AuditEvent, context: RuleContext): readonly Signal[];
}

/** The services the scanner reads (an AuditEvent's `service`). */
export type ScannedService = "secretsmanager" | "kms" | "cloudtrail";

/** What a rule subscribes to, per service: the event names it judges, or "*" for all of the service's. */
export type RuleEvents = Readonly<Partial<Record<ScannedService, "*" | readonly string[]>>>;

/** GetSecretValue and BatchGetSecretValue: the calls that return a secret's value (see isValueRead). */
export const VALUE_READS: RuleEvents = { secretsmanager: ["GetSecretValue", "BatchGetSecretValue"] };

/** What a rule may ask about an event besides the event itself. */
export interface RuleContext {
  policy: Policy;
  /** What the policy says about a secret (canonical ARN). */
  secretPolicy(secretArn: string): SecretPolicy;
  /** True when the caller is one of the policy's rotationRoles. (Calls made inside a secret's rotation by its
   *  rotation function are recognised by the engine, which drops the signals they raise.) */
  isRotationRole(event: AuditEvent): boolean;
  /** What the rotation tracker found about this event's rotation of secretArn (from the ScanState). */
  rotationFacts(event: AuditEvent, secretArn: string): RotationFacts;
  /** True when the principal is a rotation role or one of the secret's writers. */
  isExpectedWriter(event: AuditEvent, secretArn: string): boolean;
}

/** What a finding says; the engine adds id, counts, times, event ids and the runbook link. */
export interface Detection {
  severity: Severity;
  /** Short: the rule's headline with the secret or principal. */
  title: string;
  /** Who, what secret, from where; the engine appends how many times and since when. */
  summary: string;
  secretArn?: string;
  principal?: string;
  sourceIp?: string;
  /** What makes this one problem (the engine prefixes the rule id); one incident per group. */
  group: string;
  /** Overrides the group key (shared with other producers, e.g. `rotation:<arn>`). */
  groupKey?: string;
  details?: Record<string, unknown>;
  /** Marks the group's problem as cleared (a later successful rotation). */
  resolves?: boolean;
}

/**
 * A detection whose text is built only if it becomes a finding: for the rules that raise a signal on
 * nearly every read (first sightings, windows), where most signals never fire. It is built about the
 * event the finding starts from (the first of the batch's events that raised it), so one LazyDetection
 * (and its signal, see SignalMemo) serves every event of its group.
 */
export interface LazyDetection {
  severity: Severity;
  group: string;
  secretArn?: string;
  principal?: string;
  build(event: AuditEvent): Detection;
}

export type Signal =
  /** Fires at once (once per group per UTC day). */
  | { kind: "alert"; detection: Detection }
  /** Fires when the distinct members at key reach threshold within windowMs. */
  | {
      kind: "window";
      key: string;
      member: string;
      threshold: number;
      windowMs: number;
      /** What the members are, for the summary ("distinct secrets", "failed calls"). */
      unit: string;
      detection: Detection | LazyDetection;
    }
  /** Fires when key is seen for the first time after the learning period. */
  | { kind: "first-seen"; key: string; detection: Detection | LazyDetection };

/** No signals: the one answer for the many events a rule lets pass, so that none allocates an array. */
export const NO_SIGNALS: readonly Signal[] = Object.freeze([]);

/** The signals about an event's secrets, at most one per secret (NO_SIGNALS when there are none). */
export function perSecret(
  event: AuditEvent,
  signalOf: (secretArn: string) => Signal | undefined,
): readonly Signal[] {
  let out: Signal[] | undefined;
  for (const secretArn of event.secretArns) {
    const signal = signalOf(secretArn);
    if (signal) {
      out ??= [];
      out.push(signal);
    }
  }
  return out ?? NO_SIGNALS;
}

/**
 * perSecret for the signals a SignalMemo hands out: the memo's own one-element array when the event names
 * one secret (nothing is built for the event), else one signal per secret as perSecret collects them.
 */
export function perSecretRemembered(
  event: AuditEvent,
  context: RuleContext,
  signalOf: (event: AuditEvent, context: RuleContext, secretArn: string) => readonly [Signal] | undefined,
): readonly Signal[] {
  const secretArns = event.secretArns;
  if (secretArns.length === 1) return signalOf(event, context, secretArns[0] as string) ?? NO_SIGNALS;
  return perSecret(event, (secretArn) => signalOf(event, context, secretArn)?.[0]);
}

const ORDER: readonly Severity[] = ["info", "low", "medium", "high", "critical"];

/** One level up (capped at critical): for secrets the policy marks `sensitivity: critical`. */
export function raised(severity: Severity, steps = 1): Severity {
  return ORDER[Math.min(ORDER.length - 1, ORDER.indexOf(severity) + steps)] as Severity;
}

/** Severity raised one level when the secret is critical. */
export function forSensitivity(severity: Severity, secret: SecretPolicy): Severity {
  return secret.sensitivity === "critical" ? raised(severity) : severity;
}

/** True when a is at least as severe as b. */
export function atLeast(a: Severity, b: Severity): boolean {
  return ORDER.indexOf(a) >= ORDER.indexOf(b);
}

/** How the principal reads in a sentence: the role or user, with the session when there is one. */
export function describePrincipal(event: AuditEvent): string {
  const principal = event.principal;
  if (principal.type === "AWSService") return `the AWS service ${principal.id}`;
  const session = principal.session ? ` (session ${principal.session})` : "";
  const via = principal.invokedBy ? ` via ${principal.invokedBy}` : "";
  return `${principal.id}${session}${via}`;
}

/** How the origin reads in a sentence: VPC endpoint, IP address, user agent's first word. */
export function describeOrigin(event: AuditEvent): string {
  const origin = event.origin;
  const parts: string[] = [];
  if (origin.sourceIp) parts.push(origin.sourceIp);
  if (origin.vpcEndpointId) parts.push(`through ${origin.vpcEndpointId}`);
  const agent = origin.userAgent?.split(" ")[0];
  if (agent) parts.push(`with ${agent}`);
  return parts.length > 0 ? parts.join(" ") : "an unknown origin";
}

/** The events that return a secret's value. */
export function isValueRead(event: AuditEvent): boolean {
  return (
    event.service === "secretsmanager" &&
    (event.eventName === "GetSecretValue" || event.eventName === "BatchGetSecretValue")
  );
}

/** True when the call succeeded (CloudTrail records failures with an errorCode). */
export function succeeded(event: AuditEvent): boolean {
  return event.errorCode === undefined;
}

/** The who/where fields every detection about one event carries. */
export function about(
  event: AuditEvent,
  extra: Record<string, unknown> = {},
): Pick<Detection, "principal" | "sourceIp" | "details"> {
  const { principal, origin } = event;
  return {
    principal: principal.id,
    ...(origin.sourceIp ? { sourceIp: origin.sourceIp } : {}),
    details: {
      eventName: event.eventName,
      principalType: principal.type,
      ...(principal.session ? { session: principal.session } : {}),
      ...(principal.invokedBy ? { invokedBy: principal.invokedBy } : {}),
      ...(principal.accessKeyId ? { accessKeyId: principal.accessKeyId } : {}),
      ...(event.errorCode ? { errorCode: event.errorCode } : {}),
      origin,
      ...extra,
    },
  };
}

/** The secret's name, for titles (`arn:...:secret:NAME` -> `NAME`). */
export { secretNameOf as nameOf } from "../../lib/secret-arn.ts";

/** True for callers no policy names: AWS services acting for the account (`type: AWSService`). */
export function isAwsService(event: AuditEvent): boolean {
  return event.principal.type === "AWSService";
}

/** The signal's detection with its text (built now, about event, when the rule deferred it). */
export function detectionOf(signal: Signal, event: AuditEvent): Detection {
  const detection = signal.detection;
  return "build" in detection ? detection.build(event) : detection;
}

/**
 * The signals a rule raises on nearly every read, remembered by what tells them apart (principal, secret,
 * and one more key: the severity, the origin): the next read by the same principal of the same secret gets
 * the same signal (a one-element array, what evaluate returns) instead of new objects and key strings, and
 * the engine files it by strings whose hashes are already known. What the signal holds must follow from
 * the keys alone (its LazyDetection is built about the event the engine gives it); a stored signal whose
 * severity differs (another policy) is replaced.
 */
export class SignalMemo {
  private readonly byPrincipal = new Map<string, Map<string, Map<string, readonly [Signal]>>>();
  private size = 0;

  /** The remembered signal for these keys and severity, or undefined. */
  get(principal: string, secretArn: string, key: string, severity: Severity): readonly [Signal] | undefined {
    const known = this.byPrincipal.get(principal)?.get(secretArn)?.get(key);
    return known !== undefined && known[0].detection.severity === severity ? known : undefined;
  }

  /** Remembers signal for these keys; returns it as evaluate's answer. */
  set(principal: string, secretArn: string, key: string, signal: Signal): readonly [Signal] {
    // Principals and secrets are few, sessions and origins come and go.
    if (this.size >= CACHE_ENTRIES) {
      this.byPrincipal.clear();
      this.size = 0;
    }
    let bySecret = this.byPrincipal.get(principal);
    if (!bySecret) {
      bySecret = new Map();
      this.byPrincipal.set(principal, bySecret);
    }
    let byKey = bySecret.get(secretArn);
    if (!byKey) {
      byKey = new Map();
      bySecret.set(secretArn, byKey);
    }
    const answer = [signal] as const;
    if (!byKey.has(key)) this.size++;
    byKey.set(key, answer);
    return answer;
  }
}
