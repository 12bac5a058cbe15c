import {
  about,
  describeOrigin,
  describePrincipal,
  isAwsService,
  isValueRead,
  NO_SIGNALS,
  type Rule,
  type Signal,
  SignalMemo,
  succeeded,
  VALUE_READS,
} from "../rule.ts";

/** Distinct secrets one principal must read within the window to count as bulk retrieval. */
export const BULK_THRESHOLD = 10;
export const BULK_WINDOW_MS = 10 * 60_000;

/** One principal reading many distinct secrets in minutes: harvesting. */
export const bulkRetrieval: Rule = {
  id: "bulk-retrieval",
  severity: "high",
  description: `Fires when one principal reads the values of ${BULK_THRESHOLD} or more distinct secrets within ${BULK_WINDOW_MS / 60_000} minutes, counted across every file, sweep and invocation (BatchGetSecretValue's secrets each count), and at once when BatchGetSecretValue is called with \`filters\` (it returns every matching secret, however many). Applications read the few secrets they need; harvesting reads them all.`,
  runbook:
    "Identify the principal and session; check whether a legitimate job (backup, migration, secret-sync tooling) ran at that time. If not, revoke the sessions, find how the credentials were obtained, and rotate every secret it read (the finding's event ids list them; `vigil scan --format json` shows the rest).",
  falsePositives:
    "Backup, migration and secret-synchronisation jobs, and tooling that exports secrets into another store. Add a dated suppression for that principal; rolling deploys do not trigger it (many tasks, but the same few secrets).",
  events: VALUE_READS,
  evaluate(event, context) {
    if (!isValueRead(event) || !succeeded(event) || isAwsService(event) || context.isRotationRole(event))
      return NO_SIGNALS;
    const principal = event.principal.id;
    const filtered = event.eventName === "BatchGetSecretValue" && Array.isArray(event.request.filters);
    if (!filtered && event.secretArns.length === 1)
      return windowSignal(principal, event.secretArns[0] as string);
    const signals: Signal[] = [];
    if (filtered) {
      signals.push({
        kind: "alert",
        detection: {
          severity: "high",
          title: `Bulk secret retrieval by filter: ${principal}`,
          summary: `${describePrincipal(event)} called BatchGetSecretValue with filters ${JSON.stringify(event.request.filters)} from ${describeOrigin(event)}: it returns every secret matching them.`,
          group: `${principal}|filter`,
          ...about(event, { filters: event.request.filters }),
        },
      });
    }
    for (const secretArn of event.secretArns) signals.push(windowSignal(principal, secretArn)[0]);
    return signals;
  },
};

/** One window signal per principal and secret read, for every read of it. */
const remembered = new SignalMemo();

function windowSignal(principal: string, secretArn: string): readonly [Signal] {
  return (
    remembered.get(principal, secretArn, "", "high") ??
    remembered.set(principal, secretArn, "", {
      kind: "window",
      key: principal,
      member: secretArn,
      threshold: BULK_THRESHOLD,
      windowMs: BULK_WINDOW_MS,
      unit: "distinct secrets read",
      detection: {
        severity: "high",
        group: principal,
        principal,
        build: (first) => ({
          severity: "high",
          group: principal,
          title: `Bulk secret retrieval: ${principal}`,
          summary: `${describePrincipal(first)} read the values of many distinct secrets in minutes, from ${describeOrigin(first)}.`,
          ...about(first),
        }),
      },
    })
  );
}
