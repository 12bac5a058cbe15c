// The audit-scan function's whole state in memory (the engine's MemoryScanState, the sweep's
// MemorySweepStore and open compliance groups), for tests of the runner without DynamoDB.
import type { ComplianceState, OpenComplianceGroup } from "../../functions/audit-scan/compliance.ts";
import {
  type LookupCheckpoint,
  MemorySweepStore,
  type SweepStore,
} from "../../functions/audit-scan/sources/lookup.ts";
import { MemoryScanState } from "../../functions/audit-scan/state.ts";

/** ScanState, SweepStore and ComplianceState over memory. */
export class MemoryAuditState extends MemoryScanState implements SweepStore, ComplianceState {
  readonly sweep = new MemorySweepStore();
  readonly open = new Map<string, OpenComplianceGroup>();

  readCheckpoint(region: string, eventSource: string): Promise<LookupCheckpoint | undefined> {
    return this.sweep.readCheckpoint(region, eventSource);
  }
  writeCheckpoint(region: string, eventSource: string, checkpoint: LookupCheckpoint): Promise<void> {
    return this.sweep.writeCheckpoint(region, eventSource, checkpoint);
  }
  acquireLease(name: string, holder: string, expiresAtMs: number): Promise<boolean> {
    return this.sweep.acquireLease(name, holder, expiresAtMs);
  }
  releaseLease(name: string, holder: string): Promise<void> {
    return this.sweep.releaseLease(name, holder);
  }
  seenEvents(eventIds: readonly string[]): Promise<Set<string>> {
    return this.sweep.seenEvents(eventIds);
  }
  markEvents(eventIds: readonly string[], expiresAtMs: number): Promise<void> {
    return this.sweep.markEvents(eventIds, expiresAtMs);
  }
  async openComplianceGroups(): Promise<Map<string, OpenComplianceGroup>> {
    return new Map(this.open);
  }
  async updateComplianceGroups(
    opened: readonly OpenComplianceGroup[],
    closed: readonly string[],
  ): Promise<void> {
    for (const group of opened) this.open.set(group.groupKey, group);
    for (const groupKey of closed) this.open.delete(groupKey);
  }
}
