// docs/extending.md quotes the code of each extension point; each quote must still be in its file.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const page = readFileSync(new URL("docs/extending.md", root), "utf8");
const quotes = [...page.matchAll(/```ts file=(\S+)\n([\s\S]*?)\n```/g)].map((match) => ({
  file: match[1] as string,
  code: match[2] as string,
}));

describe("docs/extending.md", () => {
  it("quotes each of the four extension points' registries", () => {
    expect(quotes.map((quote) => quote.file)).toEqual(
      expect.arrayContaining([
        "functions/rotate/registry.ts",
        "functions/audit-scan/registry.ts",
        "functions/notify/channels/index.ts",
        "local/services.ts",
      ]),
    );
  });

  it.each(quotes)("quotes $file as it is", ({ file, code }) => {
    expect(readFileSync(new URL(file, root), "utf8")).toContain(code);
  });
});
