import { VigilError } from "../lib/errors.ts";

/** Thrown when the operator presses Ctrl-C at a prompt; nothing has been written by then. */
export class PromptCancelledError extends VigilError {
  constructor() {
    super("Cancelled; nothing was written");
    this.name = "PromptCancelledError";
  }
}

/** A readable stream that may be a terminal. */
export type PromptInput = NodeJS.ReadableStream & {
  isTTY?: boolean;
  setRawMode?: (mode: boolean) => unknown;
};

/** Reads one line from a terminal in raw mode, echoing nothing; Ctrl-C aborts. */
export function promptHidden(
  question: string,
  input: PromptInput,
  prompts: NodeJS.WritableStream,
): Promise<string> {
  return new Promise((resolve, reject) => {
    prompts.write(question);
    input.setRawMode?.(true);
    input.resume();
    let answer = "";
    const done = (outcome: () => void) => {
      input.removeListener("data", onData);
      input.setRawMode?.(false);
      input.pause();
      prompts.write("\n");
      outcome();
    };
    const onData = (chunk: Buffer | string) => {
      for (const char of chunk.toString()) {
        if (char === "\r" || char === "\n" || char === "\u0004") {
          done(() => resolve(answer));
          return;
        }
        if (char === "\u0003") {
          done(() => reject(new PromptCancelledError()));
          return;
        }
        if (char === "\u007f" || char === "\b") answer = answer.slice(0, -1);
        else answer += char;
      }
    };
    input.on("data", onData);
  });
}

/** A prompter without echo on `input` (questions on `prompts`), or undefined when `input` is not a terminal. */
export function hiddenPrompter(
  input: PromptInput,
  prompts: NodeJS.WritableStream,
): ((question: string) => Promise<string>) | undefined {
  if (!input.isTTY || !input.setRawMode) return undefined;
  return (question) => promptHidden(question, input, prompts);
}

/** Reads one visible line (the terminal echoes it); end of input answers "". */
export function promptLine(
  question: string,
  input: PromptInput,
  prompts: NodeJS.WritableStream,
): Promise<string> {
  return new Promise((resolve) => {
    prompts.write(question);
    input.resume();
    let answer = "";
    const done = () => {
      input.removeListener("data", onData);
      input.removeListener("end", done);
      input.pause();
      resolve(answer.trim());
    };
    const onData = (chunk: Buffer | string) => {
      const text = chunk.toString();
      const newline = text.search(/[\r\n]/);
      answer += newline < 0 ? text : text.slice(0, newline);
      if (newline >= 0) done();
    };
    input.on("data", onData);
    input.once("end", done);
  });
}

/** A yes/no question on a terminal ("y" or "yes" approves), or undefined when `input` is not a terminal. */
export function confirmer(
  input: PromptInput,
  prompts: NodeJS.WritableStream,
): ((question: string) => Promise<boolean>) | undefined {
  if (!input.isTTY) return undefined;
  return async (question) => /^y(es)?$/i.test(await promptLine(`${question} [y/N] `, input, prompts));
}
