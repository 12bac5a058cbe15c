import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

/** Every .ts file under `folder`, as a path relative to the repository. */
function sources(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/** The repository paths a file imports (static, re-exports, dynamic); packages are left out. */
function localImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => relative(root, resolve(root, dirname(file), specifier)));
}

/** "file -> import" for every import of a file under `from` that lands under one of `forbidden`. */
function violations(from: string, forbidden: readonly string[]): string[] {
  return sources(from).flatMap((file) =>
    localImports(file)
      .filter((target) => forbidden.some((folder) => target.startsWith(`${folder}/`)))
      .map((target) => `${file} -> ${target}`),
  );
}

describe("module dependencies", () => {
  it("sees the imports it checks (the parser finds known ones)", () => {
    expect(localImports("functions/rotate/handler.ts")).toContain("functions/rotate/protocol.ts");
    expect(localImports("cli/vigil.ts").some((target) => target.startsWith("cli/commands/"))).toBe(true);
  });

  it("keeps local/, functions/ and incident/ free of imports from cli/", () => {
    expect(violations("local", ["cli"])).toEqual([]);
    expect(violations("functions", ["cli"])).toEqual([]);
    expect(violations("incident", ["cli"])).toEqual([]);
  });

  it("keeps functions/ and incident/ free of imports from local/", () => {
    expect(violations("functions", ["local"])).toEqual([]);
    expect(violations("incident", ["local"])).toEqual([]);
  });

  it("keeps the functions free of imports from incident/ (a command's logic, not deployed)", () => {
    expect(violations("functions", ["incident"])).toEqual([]);
  });
});
