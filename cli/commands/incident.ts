import { ECSClient } from "@aws-sdk/client-ecs";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { STSClient } from "@aws-sdk/client-sts";
import type { Command } from "commander";
import {
  SCRIPTED_STAGE_OPTIONS,
  stageIbkrCredentials,
} from "../../functions/rotate/strategies/ibkr/index.ts";
import {
  type IncidentClients,
  IncidentInputError,
  type IncidentLog,
  incidentFailure,
  MANIFEST_NAME,
  prepareIncident,
  renderPlan,
  runIncidentResponse,
} from "../../incident/index.ts";
import { cloudTrailClient } from "../../lib/aws.ts";
import type { CommandRegistration } from "../command.ts";
import { confirmer, hiddenPrompter, type PromptInput } from "../prompt.ts";
import { defaultOperator } from "./ibkr-stage.ts";

export interface IncidentOptions {
  secretId: string;
  deny: string[];
  since: string;
  trail: string[];
  out: string | undefined;
  policyPath: string | undefined;
  rotate: boolean;
  record: boolean;
  yes: boolean;
  dryRun: boolean;
  timeoutSeconds: number;
  region: string | undefined;
}

export interface IncidentCommandDependencies {
  clients: (region: string | undefined) => IncidentClients;
  /** The plan, progress and outcome. */
  output: NodeJS.WritableStream;
  /** Where questions go (stderr, so stdout can be kept). */
  prompts: NodeJS.WritableStream;
  /** A terminal means a person is there to confirm and to stage an IBKR password. */
  input: PromptInput;
  env: Readonly<Record<string, string | undefined>>;
  fetch: typeof fetch;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  operator: () => string;
  pollMs?: number;
  consumersWaitMs?: number;
}

/**
 * `vigil incident`: prints the plan, then (unless --dry-run) runs it with each change confirmed on the
 * terminal (or approved by --yes), and prints each step's outcome. Throws IncidentStepError (exit 2) naming
 * the step that failed and the state it left.
 */
export async function incident(
  options: IncidentOptions,
  deps: IncidentCommandDependencies,
): Promise<IncidentLog | undefined> {
  const say = (line: string) => deps.output.write(`${line}\n`);
  // Checked first: nothing may be read or changed for a run that cannot ask before it changes anything.
  if (!options.dryRun && !options.yes && !deps.input.isTTY) {
    throw new IncidentInputError(
      "no terminal to confirm each action on: add --yes (automation) or --dry-run (the plan only)",
    );
  }
  const clients = deps.clients(options.region);
  const prepared = await prepareIncident(
    {
      secretId: options.secretId,
      deny: options.deny,
      since: options.since,
      trail: options.trail,
      outDir: options.out,
      policyPath: options.policyPath,
      rotate: options.rotate,
      record: options.record,
      rotationTimeoutSeconds: options.timeoutSeconds,
    },
    { clients, env: deps.env, now: deps.now },
  );
  deps.output.write(renderPlan(prepared.facts.arn, prepared.plan));
  if (options.dryRun) {
    say("Dry run: nothing was changed or written.");
    return undefined;
  }
  const operator = deps.operator();
  const askHidden = hiddenPrompter(deps.input, deps.prompts);
  const log = await runIncidentResponse(prepared, {
    clients,
    env: deps.env,
    say,
    confirm: options.yes ? undefined : confirmer(deps.input, deps.prompts),
    stageIbkr: askHidden
      ? async (secretArn) => {
          const staged = await stageIbkrCredentials(
            {
              ...SCRIPTED_STAGE_OPTIONS,
              secretId: secretArn,
              stdin: false,
              timeoutSeconds: options.timeoutSeconds,
            },
            {
              secretsManager: clients.secretsManager,
              input: deps.input,
              output: deps.output,
              askHidden,
              sleep: deps.sleep,
              now: deps.now,
              operator: () => operator,
              env: deps.env,
            },
          );
          return { versionId: staged.versionId };
        }
      : undefined,
    operator,
    fetch: deps.fetch,
    now: deps.now,
    sleep: deps.sleep,
    ...(deps.pollMs === undefined ? {} : { pollMs: deps.pollMs }),
    ...(deps.consumersWaitMs === undefined ? {} : { consumersWaitMs: deps.consumersWaitMs }),
  });
  say("");
  for (const step of log.steps) say(`${step.status.padEnd(7)} ${step.step}: ${step.detail}`);
  if (log.undo) say(`Undo the deny: ${log.undo}`);
  if (log.steps[0]?.status === "ok") {
    say(`Evidence: ${log.outDir} (check it: cd ${log.outDir} && sha256sum -c ${MANIFEST_NAME})`);
  }
  say("Next, by hand: docs/incident-response.md");
  const failure = incidentFailure(log);
  if (failure) throw failure;
  return log;
}

/** Builds `vigil incident`; tests pass their own clients, streams and environment. */
export function incidentCommand(
  overrides: () => Partial<IncidentCommandDependencies> = () => ({}),
): CommandRegistration {
  return (program: Command) => {
    program
      .command("incident")
      .description(
        "respond to a leaked or misused secret: evidence bundle, deny a principal, rotate now, restart consumers, page and record",
      )
      .requiredOption("--secret <id>", "the secret: name or ARN")
      .option(
        "--deny <principal-arn>",
        "add an explicit Deny for this IAM user, role, account or role session to the secret's resource policy (repeatable)",
        (value: string, previous: string[]) => [...previous, value],
        [] as string[],
      )
      .option("--since <when>", "evidence window: 30m, 12h, 30d, or a date (2026-11-01)", "30d")
      .option(
        "--trail <path...>",
        "read trail files or folders (.json, .json.gz, the S3 layout) instead of LookupEvents",
      )
      .option("--out <dir>", "the evidence folder, new or empty (default: incident-<secret>-<time>)")
      .option("--policy <file>", "the scanner's policy file, for the findings (default: built-in defaults)")
      .option("--no-rotate", "do not rotate the secret (nor restart its consumers)")
      .option("--no-record", "do not page PagerDuty nor publish to SNS")
      .option("--yes", "approve every action without asking (automation)", false)
      .option("--dry-run", "print the plan and change nothing", false)
      .option("--timeout <seconds>", "how long to follow the rotation", "300")
      .option("--region <region>", "the secret's region (default: AWS_REGION)")
      .addHelpText(
        "after",
        "\nSteps, in order: evidence, contain (--deny), rotate, restart, record. Exit code 0 when every requested\nstep succeeded, 2 otherwise (the step that failed and the state it left are printed). Runbook:\ndocs/incident-response.md",
      )
      .action(async (flags: Record<string, unknown>) => {
        const timeoutSeconds = Number(flags.timeout);
        if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
          throw new IncidentInputError(
            `--timeout: expected a positive number of seconds, got "${String(flags.timeout)}"`,
          );
        }
        const deps: IncidentCommandDependencies = {
          clients: (region) => {
            const config = region ? { region } : {};
            return {
              secretsManager: new SecretsManagerClient(config),
              // The shared per-region client without SDK retries: Vigil paces LookupEvents itself (2 requests/s).
              cloudTrail: cloudTrailClient(region),
              ecs: new ECSClient(config),
              sns: new SNSClient(config),
              sts: new STSClient(config),
            };
          },
          output: process.stdout,
          prompts: process.stderr,
          input: process.stdin,
          env: process.env,
          fetch: globalThis.fetch,
          now: () => new Date(),
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
          operator: defaultOperator,
          ...overrides(),
        };
        await incident(
          {
            secretId: String(flags.secret),
            deny: Array.isArray(flags.deny) ? flags.deny.map(String) : [],
            since: String(flags.since),
            trail: Array.isArray(flags.trail) ? flags.trail.map(String) : [],
            out: typeof flags.out === "string" ? flags.out : undefined,
            policyPath: typeof flags.policy === "string" ? flags.policy : undefined,
            rotate: flags.rotate !== false,
            record: flags.record !== false,
            yes: flags.yes === true,
            dryRun: flags.dryRun === true,
            timeoutSeconds,
            region: typeof flags.region === "string" ? flags.region : undefined,
          },
          deps,
        );
      });
  };
}

/** `vigil incident`, as registered in cli/vigil.ts. */
export const registerIncident: CommandRegistration = incidentCommand();
