import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runScan, type ScanCommandOptions } from "../../cli/commands/scan.ts";
import { PolicyError, ScanInputError } from "../../functions/audit-scan/errors.ts";
import { findingSchema } from "../../lib/finding.ts";
import { assumedRole, iamUser, type Json, record } from "./scenarios/records.ts";

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), "vigil-scan-"));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

const canaryPolicy = "version: 1\nsecrets:\n  - match: decoy/*\n    canary: true\n";
const attack = (seq: number, time = "2026-11-26T14:00:00Z") =>
  record({
    time,
    name: "GetSecretValue",
    identity: iamUser("intruder"),
    request: { secretId: "decoy/db" },
    seq,
  });
const benign = (seq: number) =>
  record({
    time: "2026-11-26T14:00:00Z",
    name: "GetSecretValue",
    identity: assumedRole("trading-app", `task-${seq}`),
    request: { secretId: "trading/db" },
    seq,
  });

async function file(name: string, records: Json[], gzip = false): Promise<string> {
  const path = join(folder, name);
  await mkdir(join(path, ".."), { recursive: true });
  const text = JSON.stringify({ Records: records });
  await writeFile(path, gzip ? gzipSync(text) : text);
  return path;
}

async function scan(paths: string[], options: Partial<ScanCommandOptions> = {}, terminal = false) {
  const stdout = new PassThrough();
  // A terminal's stderr gets the progress bar (cli-progress draws on any stream that says it is a TTY).
  const stderr = Object.assign(new PassThrough(), terminal ? { isTTY: true, columns: 100 } : {});
  const out: string[] = [];
  const err: string[] = [];
  stdout.on("data", (chunk) => out.push(String(chunk)));
  stderr.on("data", (chunk) => err.push(String(chunk)));
  const policy = join(folder, "policy.yaml");
  await writeFile(policy, canaryPolicy);
  const code = await runScan(paths, { format: "json", policy, workers: "0", ...options }, { stdout, stderr });
  return { code, stdout: out.join(""), stderr: err.join("") };
}

describe("runScan", () => {
  it("prints one finding per line on stdout and nothing else, and exits 1", async () => {
    const path = await file("a.json", [attack(1), benign(1)]);

    const { code, stdout, stderr } = await scan([path]);

    const lines = stdout.trim().split("\n");
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(findingSchema.parse(JSON.parse(lines[0] as string)).rule).toBe("canary-touched");
    expect(stderr).toContain("Scanned 1 file(s), 2 record(s)");
  });

  it("exits 0 and prints no findings for benign traffic", async () => {
    const path = await file("a.json", [benign(1), benign(2)]);

    const { code, stdout } = await scan([path], { format: "table" });

    expect(code).toBe(0);
    expect(stdout).toBe("");
  });

  it("prints a table of findings", async () => {
    const path = await file("a.json", [attack(1)]);

    const { stdout } = await scan([path], { format: "table" });

    expect(stdout).toContain("canary-touched");
    expect(stdout).toContain("decoy/db");
    expect(stdout).toContain("user/intruder (111122223333)");
  });

  it("draws a progress bar on a terminal and prints the table on stdout", async () => {
    const path = await file("tty.json", [attack(1)]);

    const { code, stdout, stderr } = await scan([path], { format: "table" }, true);

    expect(code).toBe(1);
    expect(stderr).toContain("scanning");
    expect(stderr).toContain("1/1 files");
    expect(stdout).toContain("canary-touched");
    expect(stdout).not.toContain("scanning");
  });

  it("walks S3-layout folders of .json.gz files, leaving digest files out", async () => {
    await file("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/26/a.json.gz", [attack(1)], true);
    await mkdir(join(folder, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1"), { recursive: true });
    await writeFile(
      join(folder, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/d.json.gz"),
      gzipSync('{"awsAccountId":"1"}'),
    );

    const { code, stderr } = await scan([join(folder, "AWSLogs")]);

    expect(code).toBe(1);
    expect(stderr).toContain("Scanned 1 file(s)");
  });

  it("reads `aws cloudtrail lookup-events` output", async () => {
    const path = join(folder, "lookup.json");
    await writeFile(
      path,
      JSON.stringify({
        Events: [{ EventId: "x", EventName: "GetSecretValue", CloudTrailEvent: JSON.stringify(attack(1)) }],
      }),
    );

    const { code, stdout } = await scan([path]);

    expect(code).toBe(1);
    expect(JSON.parse(stdout).rule).toBe("canary-touched");
  });

  it("reports a truncated and a non-CloudTrail file, still scans the others, and exits 2", async () => {
    const good = await file("good.json", [attack(1)]);
    const cut = join(folder, "cut.json.gz");
    const whole = gzipSync(JSON.stringify({ Records: [attack(2), attack(3)] }));
    await writeFile(cut, whole.subarray(0, whole.length - 30));
    const other = join(folder, "other.json");
    await writeFile(other, '{"Items": []}');

    const { code, stdout, stderr } = await scan([good, cut, other]);

    expect(code).toBe(2);
    expect(JSON.parse(stdout.trim().split("\n")[0] as string).rule).toBe("canary-touched");
    expect(stderr).toContain(`vigil: scan: ${cut}: the gzip stream is truncated`);
    expect(stderr).toContain(`vigil: scan: ${other}: not a CloudTrail log file`);
  });

  it("rejects a path that does not exist with one line naming it", async () => {
    await expect(scan([join(folder, "missing")])).rejects.toThrow(
      new ScanInputError(`${join(folder, "missing")}: no such file or directory`),
    );
  });

  it("rejects a policy with an unknown key, naming the path", async () => {
    const path = await file("a.json", [attack(1)]);
    const policy = join(folder, "bad.yaml");
    await writeFile(policy, "version: 1\nsecrets:\n  - match: x\n    sensitivty: high\n");

    await expect(scan([path], { policy })).rejects.toThrow(PolicyError);
    await expect(scan([path], { policy })).rejects.toThrow(`${policy}: secrets[0].sensitivty: unknown key`);
  });

  it("rejects a malformed --since and --workers", async () => {
    const path = await file("a.json", [attack(1)]);

    await expect(scan([path], { since: "yesterday" })).rejects.toThrow(/^--since: expected a date/);
    await expect(scan([path], { workers: "-1" })).rejects.toThrow(/^--workers: expected a number/);
  });

  it("refuses a --state in a folder that does not exist, or a folder, before scanning", async () => {
    const path = await file("a.json", [attack(1)]);
    const missing = join(folder, "no-such-folder", "state.json");

    await expect(scan([path], { state: missing })).rejects.toThrow(
      `--state ${missing}: the folder ${join(folder, "no-such-folder")} does not exist; create it first`,
    );
    await expect(scan([path], { state: folder })).rejects.toThrow(
      `--state ${folder}: a folder; give the state file's name`,
    );
  });

  it("judges only events inside --since/--until", async () => {
    const path = await file("a.json", [attack(1, "2026-11-20T00:00:00Z"), attack(2, "2026-11-26T00:00:00Z")]);

    const { stdout, stderr } = await scan([path], { since: "2026-11-25", until: "2026-11-27T00:00:00Z" });

    expect(JSON.parse(stdout).count).toBe(1);
    expect(stderr).toContain("1 outside --since/--until");
  });

  it("keeps state between runs with --state, so a finding is reported once", async () => {
    const state = join(folder, "state.json");
    const first = await file("1.json", [attack(1)]);
    const second = await file("2.json", [attack(2)]);

    const a = await scan([first], { state });
    const b = await scan([second], { state });

    expect(a.code).toBe(1);
    expect(b.code).toBe(0);
    expect(JSON.parse(await readFile(state, "utf8")).format).toBe("vigil-scan-state/v1");
  });

  it("finds and reports the same with worker threads as without", async () => {
    // More files than two workers are given ahead (16 each), so that files are handed out as others finish;
    // a damaged one and a foreign one among them.
    const numbers = Array.from({ length: 45 }, (_, n) => n + 1);
    const paths = await Promise.all(numbers.map((n) => file(`many-${n}.json`, [attack(n), benign(n)])));
    const cut = join(folder, "many-cut.json.gz");
    const whole = gzipSync(JSON.stringify({ Records: [attack(90), attack(91)] }));
    await writeFile(cut, whole.subarray(0, whole.length - 30));
    const other = join(folder, "many-other.json");
    await writeFile(other, '{"Items": []}');
    paths.splice(20, 0, cut);
    paths.splice(40, 0, other);

    const threaded = await scan(paths, { workers: "2" });
    const inline = await scan(paths, { workers: "0" });

    expect(inline.code).toBe(2);
    expect(threaded.code).toBe(inline.code);
    expect(threaded.stdout).toBe(inline.stdout);
    expect(threaded.stderr).toBe(inline.stderr);
    expect(inline.stderr).toContain(`vigil: scan: ${cut}: the gzip stream is truncated`);
    // Starting worker threads from the TypeScript sources compiles them again in each: slow on a busy machine.
  }, 120_000);
});
