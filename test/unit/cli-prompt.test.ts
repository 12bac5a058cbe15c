import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  confirmer,
  hiddenPrompter,
  PromptCancelledError,
  type PromptInput,
  promptHidden,
} from "../../cli/prompt.ts";
import { textSink } from "../helpers/output.ts";

const NEW_PASSWORD = "N3wPassw0rd-2026";

/** A fake terminal: records raw-mode switches; `type` feeds keystrokes. */
function fakeTerminal(): PromptInput & { raw: boolean[]; type(text: string): void } {
  const stream = new PassThrough() as unknown as PromptInput & { raw: boolean[]; type(text: string): void };
  stream.isTTY = true;
  stream.raw = [];
  stream.setRawMode = (mode: boolean) => stream.raw.push(mode);
  stream.type = (text: string) => (stream as unknown as PassThrough).write(text);
  return stream;
}

describe("promptHidden", () => {
  it("reads a line in raw mode without echoing it, honouring backspace", async () => {
    const terminal = fakeTerminal();
    const prompts = textSink();

    const answer = promptHidden("Password: ", terminal, prompts);
    terminal.type("N3wPassw0rd-20266\u007f");
    terminal.type("\r");

    await expect(answer).resolves.toBe(NEW_PASSWORD);
    expect(prompts.text()).toBe("Password: \n");
    expect(terminal.raw).toEqual([true, false]);
  });

  it("aborts on Ctrl-C and leaves raw mode", async () => {
    const terminal = fakeTerminal();

    const answer = promptHidden("Password: ", terminal, textSink());
    terminal.type("abc\u0003");

    await expect(answer).rejects.toThrow(PromptCancelledError);
    expect(terminal.raw).toEqual([true, false]);
  });
});

describe("hiddenPrompter", () => {
  it("prompts on a terminal and refuses anything else, which would echo or cannot be asked", async () => {
    const terminal = fakeTerminal();
    const prompts = textSink();

    const ask = hiddenPrompter(terminal, prompts);
    const answer = ask?.("Password: ");
    terminal.type(`${NEW_PASSWORD}\r`);

    await expect(answer).resolves.toBe(NEW_PASSWORD);
    expect(hiddenPrompter(new PassThrough(), prompts)).toBeUndefined();
  });
});

describe("confirmer", () => {
  it("approves y or yes and declines anything else, asking on the prompts stream", async () => {
    const terminal = fakeTerminal();
    const prompts = textSink();
    const confirm = confirmer(terminal, prompts)!;

    const first = confirm("Rotate prod/orders-db now?");
    terminal.type("yes\n");
    await expect(first).resolves.toBe(true);
    const second = confirm("Restart?");
    terminal.type("n\n");
    await expect(second).resolves.toBe(false);

    expect(prompts.text()).toBe("Rotate prod/orders-db now? [y/N] Restart? [y/N] ");
  });

  it("is undefined without a terminal (automation passes --yes)", () => {
    expect(confirmer(new PassThrough(), textSink())).toBeUndefined();
  });
});
