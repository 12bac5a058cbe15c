import Table from "cli-table3";
import { dedupKeyFor } from "../functions/notify/pagerduty-events.ts";
import { PAGERDUTY_SEVERITY } from "../functions/notify/routing.ts";
import { INCIDENT_RULE } from "../incident/index.ts";
import { rotationGroupKey } from "../lib/finding.ts";
import type { Sandbox } from "./sandbox.ts";

/**
 * What `npm start` prints after the run: what happened in plain words, then the tables, then what to do
 * next. Every line fits an 80-column terminal.
 */

export const WIDTH = 80;

/** One rotation attempt of the demo, and what the demo checked afterwards. */
export interface DemoRotation {
  /** The secret's name. */
  secret: string;
  secretArn?: string;
  strategy: "postgres-single" | "mysql-alternating" | "ibkr";
  /** IBKR only: the scheduled attempt (nothing staged yet) or the operator-staged one. */
  attempt?: "scheduled" | "staged";
  status: "succeeded" | "failed" | "not started";
  /** Whether the status is the one the demo expects (the scheduled IBKR attempt fails on purpose). */
  expected: boolean;
  /** The four steps with their outcome and duration, e.g. "createSecret ✔ 12 ms, …". */
  steps: string;
  failure?: string;
  /** Databases: which stored credentials still log in after the rotation. */
  logins?: { current: string; currentWorks: boolean; previous: string; previousWorks: boolean };
}

/** The hostile calls the demo replayed. */
export interface DemoHostileAccess {
  principal: string;
  sourceIp: string;
  userAgent: string;
  secret: string;
  guesses: number;
  calls: number;
  refused: number;
  records: number;
}

/** Where the demo's services are and the names of its two PagerDuty services' keys. */
export interface DemoServices {
  serviceName(maskedKey: string | undefined): string;
  ibkrAccount: string;
}

type Say = (line: string) => void;

/** Wraps text to width, continuing each line under its first word after the indent and any bullet. */
export function wrap(text: string, width = WIDTH): string[] {
  return text.split("\n").flatMap((line) => {
    const indent = /^\s*(?:[•▸✔✘] )?/.exec(line)?.[0].length ?? 0;
    const lines: string[] = [];
    let current = line.slice(0, indent);
    let hasWord = false;
    for (const word of line.slice(indent).split(" ")) {
      if (hasWord && current.length + 1 + word.length > width) {
        lines.push(current);
        current = " ".repeat(indent);
        hasWord = false;
      }
      // A word longer than a whole line (a URL, a path) is cut rather than overflowing.
      let rest = word;
      while (current.length + (hasWord ? 1 : 0) + rest.length > width && rest.length > width - indent) {
        const room = width - current.length - (hasWord ? 1 : 0);
        current += (hasWord ? " " : "") + rest.slice(0, room);
        lines.push(current);
        rest = rest.slice(room);
        current = " ".repeat(indent);
        hasWord = false;
      }
      current += (hasWord ? " " : "") + rest;
      hasWord = true;
    }
    lines.push(current);
    return lines;
  });
}

/** Shortens text to at most max characters, with an ellipsis when it was cut. */
function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function rotationStory(rotation: DemoRotation, ibkrAccount: string): string {
  const { secret, logins } = rotation;
  if (!rotation.expected) {
    return `• ${secret}: UNEXPECTED: the rotation ${rotation.status}${rotation.failure ? `: ${rotation.failure}` : ""}`;
  }
  switch (rotation.strategy) {
    case "postgres-single":
      return `• ${secret} (PostgreSQL, one user): Vigil logged in as ${logins?.current}, set a new random password and made it the secret's current version. The new password logs in; the old one ${logins?.previousWorks ? "still does" : "no longer does"}.`;
    case "mysql-alternating":
      return `• ${secret} (MariaDB, two alternating users): with the admin secret, Vigil gave ${logins?.current} a new password and made it the current user; ${logins?.previous} ${logins?.previousWorks ? "still logs in" : "no longer logs in"} until the next rotation, so applications that have not restarted yet keep working.`;
    case "ibkr":
      return rotation.attempt === "scheduled"
        ? `• ${secret} (Interactive Brokers): IBKR has no API to change a password, so the scheduled rotation stopped before changing anything and asked Trading Ops to change the password in the IBKR portal.`
        : `  Trading Ops did, then ran \`vigil ibkr stage\`: Vigil checked the new password against IBKR's rules, confirmed that the IB Gateway answers and lists account ${ibkrAccount} (it never logs in: failed logins lock the account) and made the new password current.`;
  }
}

/** Says in plain words what was rotated, attacked and paged, and why. */
export function printStory(
  sandbox: Sandbox,
  rotations: readonly DemoRotation[],
  hostile: DemoHostileAccess | undefined,
  services: DemoServices,
  say: Say,
): void {
  const lines: string[] = ["", "What happened", "", "Rotated (new passwords, nothing locked out):"];
  for (const rotation of rotations) lines.push(rotationStory(rotation, services.ibkrAccount));

  if (hostile) {
    lines.push(
      "",
      "Attacked:",
      `• ${hostile.principal} (from ${hostile.sourceIp}, with ${hostile.userAgent}) read ${hostile.secret}, tried ${hostile.guesses} secret names that do not exist and tried to make the secret public: ${hostile.calls} calls, ${hostile.refused} refused. CloudTrail recorded them (${hostile.records} records in this run).`,
    );
    // The scanner's findings about access (not about rotations, nor the responder's record), by rule and severity.
    const findings = [
      ...new Set(
        sandbox
          .snsMessages()
          .map((message) => ({
            rule: message.messageAttributes.rule?.StringValue ?? "",
            severity: message.messageAttributes.severity?.StringValue ?? "?",
          }))
          .filter(({ rule }) => rule !== "" && rule !== INCIDENT_RULE && !isRotationRule(rule))
          .map(({ rule, severity }) => `${rule} (${severity})`),
      ),
    ];
    lines.push(
      findings.length > 0
        ? `  Vigil's CloudTrail scanner read them and raised: ${findings.join(", ")}; what paged is below.`
        : "  No finding about them reached the notifier.",
    );
  }

  const events = sandbox.pagerDutyEvents();
  const incidents = sandbox.pagerDutyIncidents();
  const changes = events.filter((event) => event.kind === "change").length;
  const resolves = events.filter((event) => actionOf(event.body) === "resolve").length;
  lines.push("", "Paged:");
  const rotationGroups = rotationGroupsByDedupKey(rotations);
  for (const incident of incidents) {
    const trigger = events.find(
      (event) => event.dedupKey === incident.dedupKey && actionOf(event.body) === "trigger",
    );
    const severity = detailsOf(trigger?.body).severity;
    const rotated = rotationGroups.get(incident.dedupKey);
    const state =
      incident.status !== "resolved"
        ? `still ${incident.status}`
        : rotated
          ? `resolved when ${rotated} next rotated`
          : "resolved since: the condition cleared";
    lines.push(
      `• a PagerDuty incident on ${services.serviceName(incident.routingKey)}${severity ? ` (severity ${severity})` : ""}: "${incidentTitle(sandbox, incident.dedupKey, incident.summary)}", ${state}.`,
    );
  }
  if (incidents.length === 0) lines.push("• no PagerDuty incident.");
  else {
    lines.push(
      "  Critical and high findings page on-call at once; medium and low go to a low-urgency service (docs/alerts.md).",
    );
  }
  if (changes > 0) {
    lines.push(
      `• ${changes} PagerDuty change event(s), one per successful rotation: they never page; they mark the rotation on the service's timeline.`,
    );
  }
  if (resolves > 0) {
    const resolved = [
      ...new Set(
        events
          .filter((event) => actionOf(event.body) === "resolve")
          .map((event) => rotationGroups.get(event.dedupKey ?? "") ?? "an alert group"),
      ),
    ];
    lines.push(
      `• ${resolves} resolve(s) for ${resolved.join(", ")}: ${resolved.length === 1 ? "its rotation" : "each one's rotation"} succeeded after an earlier attempt had opened an incident, so the notifier resolved it. It sends a resolve to both PagerDuty services; the one with nothing open ignores it.`,
    );
  }
  lines.push(
    `• ${sandbox.snsMessages().length} SNS message(s) to the alerts topic, for email and chat subscribers.`,
  );
  for (const line of lines) for (const wrapped of wrap(line)) say(wrapped);
}

/**
 * Rules about rotations: the rotate function's (rotation.*, ibkr.*), rotation notices (secret.rotated)
 * and the scanner's rotation rules (rotation-failed, rotation-changed, ...); the others are about access.
 */
function isRotationRule(rule: string): boolean {
  return rule === "secret.rotated" || /^(rotation[.-]|ibkr\.)/.test(rule);
}

function actionOf(body: unknown): string {
  return (body as { event_action?: string }).event_action ?? "change";
}

function detailsOf(body: unknown): { severity?: string; summary?: string } {
  return (
    (body as { payload?: { custom_details?: { severity?: string; summary?: string } } } | undefined)?.payload
      ?.custom_details ?? {}
  );
}

/** The dedup_key of each rotated secret's rotation group, to its name. */
function rotationGroupsByDedupKey(rotations: readonly DemoRotation[]): Map<string, string> {
  return new Map(
    rotations
      .filter((rotation) => rotation.secretArn)
      .map((rotation) => [dedupKeyFor(rotationGroupKey(rotation.secretArn!)), rotation.secret]),
  );
}

/**
 * An incident's title: PagerDuty's summary is the finding's title, ": ", then its summary (which the
 * trigger's custom_details repeat), so the title is what comes before that.
 */
function incidentTitle(sandbox: Sandbox, dedupKey: string | undefined, summary: string): string {
  for (const event of sandbox.pagerDutyEvents()) {
    if (event.dedupKey !== dedupKey || actionOf(event.body) !== "trigger") continue;
    const detail = detailsOf(event.body).summary;
    if (detail && summary.endsWith(`: ${detail}`)) return summary.slice(0, -detail.length - 2);
  }
  return shorten(summary, 70);
}

const tableStyle = () =>
  process.stdout.isTTY
    ? { head: ["cyan"], border: ["grey"] }
    : { head: [] as string[], border: [] as string[] };

/** A table of the given column widths (a table is one wider than the sum, plus one per column). */
function table(head: string[], colWidths: number[]): Table.Table {
  return new Table({ head, colWidths, wordWrap: true, wrapOnWordBoundary: true, style: tableStyle() });
}

/** The rotations, PagerDuty events and incidents, and SNS messages, each in a table 80 columns wide. */
export function printTables(
  sandbox: Sandbox,
  rotations: readonly DemoRotation[],
  services: DemoServices,
  say: Say,
): void {
  const rotationTable = table(["Secret", "Strategy", "Outcome"], [26, 25, 25]);
  for (const rotation of rotations) {
    const strategy = rotation.attempt ? `${rotation.strategy} (${rotation.attempt})` : rotation.strategy;
    const outcome = !rotation.expected
      ? `UNEXPECTED: ${rotation.status}`
      : rotation.status === "failed"
        ? "stopped on purpose: asked Trading Ops to act"
        : "rotated";
    rotationTable.push([rotation.secret, strategy, outcome]);
  }
  say(`\nRotations\n${rotationTable.toString()}`);

  // Resolves carry only a dedup_key: name the secret whose rotation group it belongs to.
  const secretOfDedupKey = rotationGroupsByDedupKey(rotations);
  const events = table(["Kind", "Action", "Severity", "What"], [8, 10, 10, 47]);
  for (const event of sandbox.pagerDutyEvents()) {
    const body = event.body as {
      event_action?: string;
      routing_key?: string;
      payload?: { summary?: string; custom_details?: { severity?: string } };
    };
    const action = actionOf(body);
    let what =
      action === "trigger"
        ? incidentTitle(sandbox, event.dedupKey, body.payload?.summary ?? "")
        : shorten(body.payload?.summary ?? "", 140);
    if (action === "resolve" || action === "acknowledge") {
      const secret = secretOfDedupKey.get(event.dedupKey ?? "") ?? "an alert group";
      const incident = sandbox
        .pagerDutyIncidents()
        .find(
          (candidate) => candidate.dedupKey === event.dedupKey && candidate.routingKey === body.routing_key,
        );
      what = incident
        ? `${secret} rotated: closes the incident on ${services.serviceName(body.routing_key)}`
        : `${secret} rotated: nothing open on ${services.serviceName(body.routing_key)}, ignored`;
    }
    events.push([event.kind, action, body.payload?.custom_details?.severity ?? "-", what]);
  }
  say(`\nPagerDuty events (${sandbox.pagerDutyEvents().length})\n${events.toString()}`);
  // The mapping, from the notifier's own table: PagerDuty has four severities to Vigil's five.
  const shownAs = new Map<string, string[]>();
  for (const [vigil, pagerDuty] of Object.entries(PAGERDUTY_SEVERITY)) {
    if (vigil !== pagerDuty) shownAs.set(pagerDuty, [...(shownAs.get(pagerDuty) ?? []), vigil]);
  }
  const mapping = [...shownAs].map(([pagerDuty, vigil]) => `${vigil.join(" and ")} as ${pagerDuty}`);
  for (const line of wrap(
    `Severity is Vigil's (${Object.keys(PAGERDUTY_SEVERITY).join(", ")}); PagerDuty has four and shows ${mapping.join(", ")}.`,
  ))
    say(line);

  const incidents = table(["Incident", "Events", "Service", "Summary"], [11, 8, 14, 42]);
  for (const incident of sandbox.pagerDutyIncidents()) {
    incidents.push([
      incident.status,
      incident.eventCount,
      services.serviceName(incident.routingKey).replace(/^the /, ""),
      incidentTitle(sandbox, incident.dedupKey, incident.summary),
    ]);
  }
  say(`\nPagerDuty incidents (${sandbox.pagerDutyIncidents().length})\n${incidents.toString()}`);

  const sns = table(["SNS subject", "Severity", "Rule"], [47, 10, 19]);
  for (const message of sandbox.snsMessages()) {
    const attribute = (name: string) => message.messageAttributes[name]?.StringValue ?? "-";
    sns.push([shorten(message.subject ?? "(no subject)", 90), attribute("severity"), attribute("rule")]);
  }
  say(`\nSNS messages (${sandbox.snsMessages().length})\n${sns.toString()}`);
}

/** Something the demo leaves behind on purpose, and where. */
export interface DemoKept {
  what: string;
  path: string;
  /** What to do with it, for "What next". */
  next?: string[];
}

/** How to remove what the demo kept. */
export function keptLine({ what, path }: DemoKept): string {
  return `Kept: ${what} in ${path} (remove with: rm -r ${path})`;
}

/** Where to go from here; sourceLine (with --keep) says how another shell reaches the running sandbox. */
export function printWhatNext(sourceLine: string | undefined, kept: readonly DemoKept[], say: Say): void {
  const lines = [
    "",
    "What next",
    sourceLine
      ? `• This sandbox keeps running until Ctrl-C. Drive it with the AWS CLI from another shell in this folder: ${sourceLine}, then e.g. aws secretsmanager list-secrets`
      : "• Try things yourself with the AWS CLI: npm start -- --keep",
    "• A sandbox of your own, with Vigil's functions inside: node dist/cli/vigil.mjs sandbox (docs: local/README.md)",
    "• How it fits together: docs/architecture.md; rotation: docs/rotation.md and docs/ibkr.md; alerts: docs/alerts.md",
    "• Responding to an incident: docs/incident-response.md; the quarterly evidence: docs/quarterly-review.md",
    "• The functions' JSON logs and metrics as well: npm start -- --verbose",
    ...kept.flatMap((item) => [`• ${keptLine(item)}`, ...(item.next ?? []).map((line) => `• ${line}`)]),
  ];
  for (const line of lines) for (const wrapped of wrap(line)) say(wrapped);
}
