import { describe, expect, it } from "vitest";
import { fitColumnWidths, renderTable, wrapCell } from "../../cli/commands/narrow-table.ts";

describe("wrapCell", () => {
  it("breaks after a separator where it can, else at the width", () => {
    expect(wrapCell("role/very-long-role-name", 12)).toEqual(["role/very-", "long-role-", "name"]);
    expect(wrapCell("abcdefghij", 4)).toEqual(["abcd", "efgh", "ij"]);
  });
});

describe("fitColumnWidths", () => {
  it("gives a narrow column's unused share to the column that would wrap", () => {
    const columns = [
      { header: "SECRET", width: 20 },
      { header: "STRATEGY", width: 20 },
    ];

    expect(fitColumnWidths(columns, [["vigil/local/pagerduty-routing-key", "-"]])).toEqual([32, 8]);
  });

  it("never makes the table wider than the shares' sum", () => {
    const columns = [
      { header: "A", width: 10 },
      { header: "B", width: 10 },
    ];

    expect(fitColumnWidths(columns, [["x".repeat(40), "y".repeat(40)]])).toEqual([10, 10]);
  });
});

describe("renderTable", () => {
  it("keeps every line within the table's width and aligns right-aligned columns", () => {
    const text = renderTable(
      [
        { header: "WHO", width: 12 },
        { header: "N", width: 3, align: "right" },
      ],
      [["role/very-long-role-name", "7"]],
    );

    expect(text.split("\n")).toEqual(["WHO             N", "role/very-      7", "long-role-name"]);
  });
});
