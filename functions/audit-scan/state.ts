import { ScanStateFileError } from "./errors.ts";

/** Scanner state shared by every invocation: in memory (CLI, tests), a JSON file (`vigil scan --state`), or DynamoDB. */
export interface ScanState {
  /** Adds member to the distinct set at key; returns the set's size afterwards. Idempotent per member. */
  addDistinct(key: string, member: string, expiresAtMs: number): Promise<number>;
  /** Notes that key was seen at atMs; returns the earliest time recorded for key BEFORE this call (undefined: new). */
  recordSeen(key: string, atMs: number): Promise<number | undefined>;
  /** True for exactly one caller per id, across concurrent invocations (the right to emit one finding). */
  claimOnce(id: string, expiresAtMs: number): Promise<boolean>;
  /** Keeps the earliest record time ever seen (start of learning); returns the earliest after this call. */
  noteEarliest(atMs: number): Promise<number>;
  /**
   * The time recorded for key (undefined: none), read now: what other invocations recorded since this
   * one last asked included. Records nothing.
   */
  firstSeen(key: string): Promise<number | undefined>;
  /** The size of the distinct set at key (0: none), read now, as firstSeen is. Adds nothing. */
  countDistinct(key: string): Promise<number>;
}

/** The JSON form of a MemoryScanState (the `vigil scan --state FILE` format). */
export interface ScanStateJson {
  format: "vigil-scan-state/v1";
  earliest?: number;
  seen: Record<string, number>;
  distinct: Record<string, { expiresAt: number; members: string[] }>;
  claims: Record<string, number>;
}

const FORMAT = "vigil-scan-state/v1";
const PRUNE_EVERY = 4_096;
/** How long past its expiry a set may still be needed: records of one window arriving this far apart. */
const PRUNE_AFTER_MS = 2 * 86_400_000;

/** ScanState held in memory; saved to and loaded from JSON between CLI runs. */
export class MemoryScanState implements ScanState {
  private earliest: number | undefined;
  private readonly seen = new Map<string, number>();
  private readonly distinct = new Map<string, { expiresAt: number; members: Set<string> }>();
  private readonly claims = new Map<string, number>();
  private newestExpiry = Number.NEGATIVE_INFINITY;
  private addsSincePrune = 0;

  /** Adds member to the set at key (the set's expiry is the latest one asked for). */
  async addDistinct(key: string, member: string, expiresAtMs: number): Promise<number> {
    this.pruneExpiredSets(expiresAtMs);
    let entry = this.distinct.get(key);
    if (!entry) {
      entry = { expiresAt: expiresAtMs, members: new Set() };
      this.distinct.set(key, entry);
    }
    entry.expiresAt = Math.max(entry.expiresAt, expiresAtMs);
    entry.members.add(member);
    return entry.members.size;
  }

  /**
   * Memory stays bounded over a long scan: now and then, sets that expired well before the newest expiry
   * asked for (a clock that follows the records, not the wall) are dropped, as DynamoDB's TTL would.
   */
  private pruneExpiredSets(expiresAtMs: number) {
    if (expiresAtMs > this.newestExpiry) this.newestExpiry = expiresAtMs;
    if (++this.addsSincePrune < PRUNE_EVERY) return;
    this.addsSincePrune = 0;
    const before = this.newestExpiry - PRUNE_AFTER_MS;
    for (const [key, entry] of this.distinct) if (entry.expiresAt < before) this.distinct.delete(key);
  }

  /** Records atMs for key, keeping the earliest; returns the earliest before this call. */
  async recordSeen(key: string, atMs: number): Promise<number | undefined> {
    const before = this.seen.get(key);
    if (before === undefined || atMs < before) this.seen.set(key, atMs);
    return before;
  }

  /** The time recorded for key, if any. */
  async firstSeen(key: string): Promise<number | undefined> {
    return this.seen.get(key);
  }

  /** The size of the set at key (0: none). */
  async countDistinct(key: string): Promise<number> {
    return this.distinct.get(key)?.members.size ?? 0;
  }

  /** True the first time id is claimed. */
  async claimOnce(id: string, expiresAtMs: number): Promise<boolean> {
    if (this.claims.has(id)) return false;
    this.claims.set(id, expiresAtMs);
    return true;
  }

  /** Keeps the earliest record time. */
  async noteEarliest(atMs: number): Promise<number> {
    if (this.earliest === undefined || atMs < this.earliest) this.earliest = atMs;
    return this.earliest;
  }

  /** The state as JSON, leaving out window sets and claims that expired before nowMs. */
  toJSON(nowMs: number = Date.now()): ScanStateJson {
    const distinct: ScanStateJson["distinct"] = {};
    for (const [key, entry] of this.distinct) {
      if (entry.expiresAt >= nowMs)
        distinct[key] = { expiresAt: entry.expiresAt, members: [...entry.members] };
    }
    const claims: ScanStateJson["claims"] = {};
    for (const [id, expiresAt] of this.claims) if (expiresAt >= nowMs) claims[id] = expiresAt;
    return {
      format: FORMAT,
      ...(this.earliest === undefined ? {} : { earliest: this.earliest }),
      seen: Object.fromEntries(this.seen),
      distinct,
      claims,
    };
  }

  /** Rebuilds a state from toJSON()'s output; source names the file in errors. */
  static fromJSON(json: unknown, source = "state"): MemoryScanState {
    const state = new MemoryScanState();
    if (!isRecord(json) || json.format !== FORMAT) {
      throw new ScanStateFileError(`${source}: not a Vigil scan state file (expected "format": "${FORMAT}")`);
    }
    if (json.earliest !== undefined) state.earliest = numberAt(json.earliest, source, "earliest");
    for (const [key, at] of entriesAt(json.seen, source, "seen")) {
      state.seen.set(key, numberAt(at, source, `seen.${key}`));
    }
    for (const [key, entry] of entriesAt(json.distinct, source, "distinct")) {
      if (!isRecord(entry) || !Array.isArray(entry.members)) {
        throw new ScanStateFileError(`${source}: distinct.${key}: expected {expiresAt, members[]}`);
      }
      state.distinct.set(key, {
        expiresAt: numberAt(entry.expiresAt, source, `distinct.${key}.expiresAt`),
        members: new Set(entry.members.map(String)),
      });
    }
    for (const [id, expiresAt] of entriesAt(json.claims, source, "claims")) {
      state.claims.set(id, numberAt(expiresAt, source, `claims.${id}`));
    }
    return state;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function entriesAt(value: unknown, source: string, path: string): [string, unknown][] {
  if (value === undefined) return [];
  if (!isRecord(value)) throw new ScanStateFileError(`${source}: ${path}: expected an object`);
  return Object.entries(value);
}

function numberAt(value: unknown, source: string, path: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ScanStateFileError(`${source}: ${path}: expected a number (epoch milliseconds)`);
  }
  return value;
}
