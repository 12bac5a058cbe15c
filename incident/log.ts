import type { IncidentStepName, PlannedStep } from "./plan.ts";

/** One step's outcome, as response.json and timeline.md record it. */
export interface StepOutcome {
  step: IncidentStepName;
  status: "ok" | "failed" | "skipped";
  /** What happened, in a sentence or two. */
  detail: string;
  /** The state the step left behind (what changed and stays changed), when it matters. */
  state?: string;
  startedAt?: string;
  finishedAt?: string;
  data?: Record<string, unknown>;
}

/** response.json: the plan, who ran it, each step's outcome and the undo. */
export interface IncidentLog {
  secretArn: string;
  startedAt: string;
  finishedAt?: string;
  by: { callerArn: string; account: string; operator: string };
  outDir: string;
  plan: PlannedStep[];
  steps: StepOutcome[];
  /** The command that puts the resource policy back as it was (set once a deny was put). */
  undo?: string;
  /** SHA-256 of evidence.json, which is written once and never changed (also sent with the record). */
  evidenceSha256?: string;
}
