import { Writable } from "node:stream";
import { vi } from "vitest";

/** What a test captured of this process's stdout and stderr (the logger writes to either). */
export interface CapturedOutput {
  text: () => string;
  /** The JSON log lines, parsed. */
  lines: () => Record<string, unknown>[];
  restore: () => void;
}

/** Captures everything written to stdout and stderr until `restore()` (or vi.restoreAllMocks()). */
export function captureOutput(): CapturedOutput {
  const chunks: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, "write").mockImplementation(capture),
    vi.spyOn(process.stderr, "write").mockImplementation(capture),
  ];
  return {
    text: () => chunks.join(""),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

/** A writable stream that keeps what is written to it, for code that takes an output stream. */
export function textSink(): Writable & { text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  }) as Writable & { text(): string };
  stream.text = () => chunks.join("");
  return stream;
}
