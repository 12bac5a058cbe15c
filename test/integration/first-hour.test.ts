// A newcomer's first hour, run the way they run it: the built `vigil` (dist/cli/vigil.mjs) in a fresh
// process, on a machine with no AWS configuration (HOME is an empty folder, no AWS_* variables).
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { GetResourcePolicyCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { denySid, INCIDENT_RULE, verifyFolder } from "../../incident/index.ts";
import packageJson from "../../package.json" with { type: "json" };

const root = fileURLToPath(new URL("../..", import.meta.url));
const run = promisify(execFile);
// The demo's intruder (local/demo.ts).
const INTRUDER_ARN = "arn:aws:iam::111122223333:user/contractor-laptop";
const cli = join(root, "dist", "cli", "vigil.mjs");
let home: string;

/** Newest modification time of the sources the CLI bundle is built from. */
function newestSource(): number {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  return Math.max(
    ...["cli", "lib", "local"].flatMap((dir) => files(join(root, dir))).map((file) => statSync(file).mtimeMs),
  );
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI in cwd with only PATH and an empty HOME, plus env; stdin is empty. */
function vigil(args: string[], env: Record<string, string> = {}, cwd = root, timeout = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cli, ...args],
      { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...env }, timeout },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: unknown }).code as number) : 0;
        resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

beforeAll(async () => {
  if (!existsSync(cli) || statSync(cli).mtimeMs < newestSource()) {
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }
  home = await mkdtemp(join(tmpdir(), "vigil-newcomer-home-"));
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("vigil on a machine without AWS configuration", () => {
  it("says in one line that no region is configured, without a stack trace or SDK warning", async () => {
    // Act
    const run = await vigil(["ibkr", "stage", "--secret-id", "algo-trade/prod/ibkr"]);

    // Assert
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "vigil: no AWS region configured: set AWS_REGION (e.g. `export AWS_REGION=us-east-1`) or a region in your AWS profile\n",
    );
  });

  it("shows the stack with --verbose, its frames naming the TypeScript sources", async () => {
    // Act: the demo refuses to run outside the repository
    const run = await vigil(["--verbose", "demo"], {}, home);

    // Assert
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^vigil: run the demo from the repository root/);
    expect(run.stderr).toMatch(/\n {4}at .*local\/demo\.ts:\d+/);
  });
});

describe("vigil --help", () => {
  it.each([[[]], [["demo"]], [["sandbox"]], [["ibkr", "stage"]]])(
    "explains %j with no warning",
    async (command) => {
      // Act
      const run = await vigil([...command, "--help"]);

      // Assert
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Usage: vigil/);
      expect(run.stdout).toContain("--verbose");
      expect(run.stderr).toBe("");
    },
  );

  it.each([["--version"], ["-V"]])("%s prints the version alone", async (flag) => {
    const run = await vigil([flag]);

    expect(run).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: "" });
  });
});

/** A fresh folder for TMPDIR that the unprivileged database user can enter too (servers run as it under root). */
async function sharedTempDir(...below: string[]): Promise<{ root: string; tmp: string }> {
  const top = await mkdtemp(join(tmpdir(), "vigil-newcomer-tmp-"));
  await chmod(top, 0o755);
  const tmp = join(top, ...below);
  await mkdir(tmp, { recursive: true, mode: 0o755 });
  return { root: top, tmp };
}

// The demo takes about 15 s alone; the whole suite running beside it can make that several times longer.
const DEMO_TIMEOUT_MS = 170_000;

describe("vigil demo (what npm start runs)", () => {
  it("tells what happened before the tables, fits 80 columns, ends with what next and leaves nothing behind", async () => {
    // Arrange
    const { root: top, tmp } = await sharedTempDir("tmp");

    try {
      // Act
      const run = await vigil(["demo"], { TMPDIR: tmp }, root, DEMO_TIMEOUT_MS);

      // Assert
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const lines = run.stdout.trimEnd().split("\n");
      expect(lines.filter((line) => line.length > 80)).toEqual([]);
      const story = lines.indexOf("What happened");
      expect(story).toBeGreaterThan(0);
      expect(story).toBeLessThan(lines.indexOf("Rotations"));
      // The story with its wrapped lines joined again.
      const told = lines.slice(story, lines.indexOf("Rotations")).join(" ").replace(/\s+/g, " ");
      expect(told).toContain(
        "Rotated (new passwords, nothing locked out): • algo-trade/demo/postgres (PostgreSQL",
      );
      expect(told).toContain("Attacked: • contractor-laptop (from 203.0.113.50, with curl)");
      expect(told).toMatch(/Vigil's CloudTrail scanner read them and raised: [a-z-]+ \((critical|high)\)/);
      // The responder's own record pages too, but it is not something the scanner raised.
      expect(told).not.toMatch(/raised: [^;]*incident\.response/);
      expect(told).toContain(
        'Paged: • a PagerDuty incident on the low-urgency service (severity low): "algo-trade/demo/ibkr: IBKR password rotation due", resolved when algo-trade/demo/ibkr next rotated.',
      );
      expect(told).toContain(
        '• a PagerDuty incident on the paging service (severity high): "Incident response on algo-trade/demo/postgres", still triggered.',
      );
      expect(told).toContain(
        "Responded (vigil incident --yes, on the secret the intruder read): • Evidence first: who called algo-trade/demo/postgres",
      );
      expect(told).toContain("with a SHA256SUMS manifest that verifies.");
      expect(told).toMatch(
        /• Rotated at once \(version [0-9a-f-]{36}\); trading\/order-router \(its vigil:ecs-services tag\) restarted/,
      );
      expect(told).toMatch(
        /Reported \(vigil report --from \d{4}-\d{2}-01 --to \d{4}-\d{2}-\d{2}, the quarter so far\): • \d+ secrets, \d+ not compliant .*; 1 unexpected reader\(s\) \(contractor-laptop\);/,
      );
      expect(told).not.toContain("UNEXPECTED");
      expect(run.stdout).toMatch(/│ resolve {2}│ - {8}│ algo-trade\/demo\/ibkr rotated: nothing open on │/);
      expect(run.stdout.replace(/\s+/g, " ")).toContain(
        "Severity is Vigil's (critical, high, medium, low, info); PagerDuty has four and shows high as error, medium and low as warning.",
      );
      // A bug's report says "unexpected error"; the rule unexpected-reader is a finding the demo shows.
      expect(run.stdout).not.toMatch(/its own issue|unexpected error/i);
      expect(lines.slice(lines.indexOf("What next")).join("\n")).toMatch(
        /npm start -- --keep[\s\S]*docs\/architecture\.md/,
      );
      expect(await readdir(tmp)).toEqual([]);
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  }, 180_000);

  it("with --keep, keeps a verifiable evidence bundle and a report naming the intruder, and its sandbox holds the deny and the response's incident", async () => {
    // Arrange
    const { root: top, tmp } = await sharedTempDir("tmp");
    const child = spawn(process.execPath, [cli, "demo", "--keep"], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TMPDIR: tmp },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    let stdout = "";

    try {
      // Act: the demo, until it waits for Ctrl-C
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString("utf8");
          if (stdout.includes("press Ctrl-C to stop")) resolve();
        });
        child.on("exit", (code) => reject(new Error(`vigil demo --keep exited (${code}):\n${stdout}`)));
      });

      // Assert: the run folder it names holds the evidence (its manifest verifies, as the printed command
      // checks it) and the report, which marks the intruder's read as not expected
      const told = stdout.replace(/\s+/g, " ");
      // Long paths may be cut across lines at 80 columns: compare them with the spaces taken out.
      const squashed = stdout.replace(/\s+/g, "");
      const runDirs = (await readdir(tmp)).filter((name) => name.startsWith("vigil-demo-run-"));
      expect(runDirs).toHaveLength(1);
      const runDir = join(tmp, runDirs[0]!);
      expect(squashed).toContain(
        `Kept:thisrun'sfiles(trailfiles,policy,incidentevidence,compliancereport)in${runDir}`,
      );
      const evidence = join(runDir, "incident-evidence");
      expect(await verifyFolder(evidence)).toEqual([]);
      expect((await readdir(evidence)).sort()).toEqual([
        "SHA256SUMS",
        "evidence.json",
        "response.json",
        "timeline.md",
      ]);
      expect(squashed).toContain(`Checktheincident'sevidence:cd${evidence}&&sha256sum-cSHA256SUMS`);
      const checked = await run("sh", ["-c", `cd ${evidence} && sha256sum -c SHA256SUMS`]);
      expect(checked.stdout).toBe("evidence.json: OK\nresponse.json: OK\ntimeline.md: OK\n");
      const reportName = (await readdir(runDir)).find((name) => /^vigil-report-.*\.html$/.test(name));
      expect(squashed).toContain(`Openthecompliancereport:${join(runDir, reportName!)}`);
      const html = await readFile(join(runDir, reportName!), "utf8");
      // The access review's row of the intruder's read (the findings table names it too, without a verdict).
      const reviewed = html
        .split("<tr>")
        .filter((row) => row.includes(INTRUDER_ARN) && row.includes("algo-trade/demo/postgres"))
        .filter((row) => /NOT EXPECTED|>expected</.test(row));
      expect(reviewed).toEqual([expect.stringContaining("NOT EXPECTED")]);

      // Assert: the running sandbox, asked from outside: the deny is in the secret's resource policy, and
      // the response's PagerDuty incident (class incident.response) is open
      const endpoint = /Sandbox still running on (http:\/\/127\.0\.0\.1:\d+);/.exec(told)?.[1];
      const secretsManager = new SecretsManagerClient({
        endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "AKIAVIGILDEMOADMIN01", secretAccessKey: "sandbox" },
      });
      const { ResourcePolicy } = await secretsManager.send(
        new GetResourcePolicyCommand({ SecretId: "algo-trade/demo/postgres" }),
      );
      expect(JSON.parse(ResourcePolicy ?? "{}").Statement).toContainEqual({
        Sid: denySid(INTRUDER_ARN),
        Effect: "Deny",
        Principal: { AWS: INTRUDER_ARN },
        Action: "secretsmanager:*",
        Resource: "*",
      });
      const pagerDuty = (await (await fetch(`${endpoint}/_sandbox/pagerduty`)).json()) as {
        events: { dedupKey?: string; body: { payload?: { class?: string } } }[];
        incidents: { dedupKey: string; status: string; summary: string }[];
      };
      const triggers = pagerDuty.events.filter((event) => event.body.payload?.class === INCIDENT_RULE);
      expect(triggers).toHaveLength(1);
      expect(pagerDuty.incidents.filter((incident) => incident.dedupKey === triggers[0]?.dedupKey)).toEqual([
        expect.objectContaining({
          status: "triggered",
          summary: expect.stringMatching(/^Incident response on algo-trade\/demo\/postgres: /),
        }),
      ]);

      // Act: the undo command as printed, with the AWS CLI from another shell that sourced the env file
      const undo = /\n {2}undo the deny with[^\n]*\n((?: {4}.*\n)+)/.exec(stdout)?.[1];
      expect(undo).toMatch(/^ {4}aws secretsmanager .*delete-resource-policy/);
      const envFile = /source (\S+), then/.exec(told)?.[1];
      await run("sh", ["-c", `. ${envFile} && ${undo}`], {
        cwd: root,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
      });

      // Assert: the resource policy is as it was before the response (none)
      const after = await secretsManager.send(
        new GetResourcePolicyCommand({ SecretId: "algo-trade/demo/postgres" }),
      );
      expect(after.ResourcePolicy).toBeUndefined();
    } finally {
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      await rm(top, { recursive: true, force: true });
    }
  }, 180_000);

  it("says in one line where it stopped when a database cannot start, and cleans up after itself", async () => {
    // Arrange: PostgreSQL cannot start when its socket path would exceed the 107 bytes a Unix socket allows
    const { root: top, tmp } = await sharedTempDir("x".repeat(110));

    try {
      // Act
      const run = await vigil(["demo"], { TMPDIR: tmp }, root, DEMO_TIMEOUT_MS);

      // Assert
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^vigil: the demo stopped while starting PostgreSQL: [^\n]+\n$/);
      expect(run.stdout).toContain("The demo stopped while starting PostgreSQL; it stopped the servers");
      expect((await readdir(tmp)).filter((entry) => entry.startsWith("vigil-demo-"))).toEqual([]);
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  }, 180_000);
});

/** The vigil commands in a page's code (fenced blocks and inline code), with the options each is given. */
function vigilCommands(markdown: string): { command: string; options: string[] }[] {
  const snippets = [
    ...[...markdown.matchAll(/```[^\n]*\n([\s\S]*?)```/g)].flatMap((match) =>
      (match[1] ?? "").replace(/\\\n\s*/g, " ").split("\n"),
    ),
    ...[...markdown.replace(/```[\s\S]*?```/g, "").matchAll(/`([^`\n]+)`/g)].map((match) => match[1] ?? ""),
  ];
  return snippets.flatMap((snippet) =>
    [
      ...snippet.matchAll(
        /(?:^|[\s(])(?:vigil|node dist\/cli\/vigil\.mjs|npx tsx cli\/vigil\.ts)\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?([^#]*)/g,
      ),
    ].map((match) => ({
      // Only `ibkr` has subcommands; any other second word is an argument.
      command: match[1] === "ibkr" && match[2] ? `ibkr ${match[2]}` : (match[1] ?? ""),
      options: (match[3] ?? "").split(/\s+/).filter((word) => /^--[a-z-]+$/.test(word) && word !== "--help"),
    })),
  );
}

describe("README.md", () => {
  it("and every page of docs name only vigil commands and options that exist", async () => {
    // Arrange: each `vigil ...` (or node dist/cli/vigil.mjs, npx tsx cli/vigil.ts) in code, by command
    const pages = [
      "README.md",
      "local/README.md",
      "functions/audit-scan/README.md",
      ...(await readdir(join(root, "docs")))
        .filter((file) => file.endsWith(".md"))
        .map((file) => `docs/${file}`),
    ];
    const optionsByCommand = new Map<string, Set<string>>();
    for (const page of pages) {
      for (const { command, options } of vigilCommands(await readFile(join(root, page), "utf8"))) {
        const named = optionsByCommand.get(command) ?? new Set<string>();
        for (const option of options) named.add(`${option} (${page})`);
        optionsByCommand.set(command, named);
      }
    }
    expect(optionsByCommand.size).toBeGreaterThanOrEqual(6);

    // Act
    const commands = [...optionsByCommand.keys()];
    const helps = await Promise.all(commands.map((command) => vigil([...command.split(" "), "--help"])));

    // Assert: the help of each command lists every option a page gives it
    const wrong = commands.flatMap((command, index) => {
      const help = helps[index]!;
      if (help.code !== 0 || !help.stdout.startsWith(`Usage: vigil ${command} `)) {
        return [`vigil ${command}: no such command`];
      }
      return [...optionsByCommand.get(command)!]
        .filter((named) => !help.stdout.includes(named.split(" ")[0]!))
        .map((named) => `vigil ${command} ${named}: no such option`);
    });
    expect(wrong).toEqual([]);
  });

  it("names only npm scripts that exist", async () => {
    // Arrange
    const readme = await readFile(join(root, "README.md"), "utf8");
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const named = [...readme.matchAll(/npm (?:run ([a-z:]+)|(start|test)\b)/g)].map(
      (match) => match[1] ?? match[2],
    );

    // Assert
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((script) => !(script! in pkg.scripts))).toEqual([]);
  });

  it("drives the sandbox with the AWS CLI as the recipe says: vigil sandbox, then source its env file, then aws", async () => {
    // Arrange: `vigil sandbox` (on a free port, as tests run side by side) in a folder of its own, until ready
    const folder = await mkdtemp(join(tmpdir(), "vigil-newcomer-cwd-"));
    const child = spawn(process.execPath, [cli, "sandbox", "--port", "0", "--no-functions"], {
      cwd: folder,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    let stdout = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8");
        if (stdout.includes("Ctrl-C")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`vigil sandbox exited (${code}) before it was ready`)));
    });

    try {
      // Act: another shell with no AWS configuration of its own, in the same folder, the two lines as written
      const listed = await new Promise<string>((resolve, reject) =>
        execFile(
          "sh",
          ["-c", ". .vigil/sandbox.env && aws secretsmanager list-secrets"],
          { cwd: folder, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home }, timeout: 60_000 },
          (error, out, err) => (error ? reject(new Error(`aws failed: ${err}`)) : resolve(out)),
        ),
      );

      // Assert
      expect(stdout).toContain("source .vigil/sandbox.env");
      expect(JSON.parse(listed)).toEqual({ SecretList: expect.any(Array) });
    } finally {
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      await rm(folder, { recursive: true, force: true });
    }
  });
});
