export { IncidentError, IncidentInputError, IncidentStepError } from "./errors.ts";
export type { Evidence } from "./evidence.ts";
export type { IncidentLog, StepOutcome } from "./log.ts";
export { MANIFEST_NAME, verifyFolder } from "./manifest.ts";
export { INCIDENT_STEPS, type PlannedStep, renderPlan } from "./plan.ts";
export { type DenyPrincipal, parseDenyPrincipal } from "./principal.ts";
export { INCIDENT_RULE } from "./record.ts";
export { denySid } from "./resource-policy.ts";
export {
  type IncidentClients,
  type IncidentDependencies,
  type IncidentRequest,
  incidentFailure,
  type PreparedIncident,
  prepareIncident,
  runIncidentResponse,
} from "./response.ts";
