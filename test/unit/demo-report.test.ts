import { describe, expect, it } from "vitest";
import { wrap } from "../../local/demo-report.ts";

describe("wrap", () => {
  it("keeps a line that fits as it is", () => {
    // Act
    const lines = wrap("  short line", 20);

    // Assert
    expect(lines).toEqual(["  short line"]);
  });

  it("continues a bullet under its first word", () => {
    // Act
    const lines = wrap("• one two three four five", 12);

    // Assert
    expect(lines).toEqual(["• one two", "  three four", "  five"]);
  });

  it("cuts a word longer than a line instead of overflowing", () => {
    // Act
    const lines = wrap(`  see /tmp/${"x".repeat(30)}`, 20);

    // Assert
    expect(lines.every((line) => line.length <= 20)).toBe(true);
    expect(lines.join("").replace(/\s+/g, "")).toBe(`see/tmp/${"x".repeat(30)}`);
  });

  it("wraps each line of a multi-line text on its own", () => {
    // Act
    const lines = wrap("a b\n  c d", 3);

    // Assert
    expect(lines).toEqual(["a b", "  c", "  d"]);
  });
});
