/**
 * A column of a narrow table: its header, its share of the table's width in characters, and its
 * alignment. A column whose cells are narrower than its share gives the rest to the columns that wrap.
 */
export interface TableColumn {
  header: string;
  width: number;
  align?: "left" | "right";
}

const BREAK_AFTER = /[/:\-_, .@]/;

/** Splits text into lines of at most `width`, breaking after a separator (/, :, -, ...) where it can. */
export function wrapCell(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let rest = paragraph;
    while (rest.length > width) {
      let cut = width;
      for (let index = width - 1; index > width / 3; index--) {
        if (BREAK_AFTER.test(rest.charAt(index))) {
          cut = index + 1;
          break;
        }
      }
      lines.push(rest.slice(0, cut).trimEnd());
      rest = rest.slice(cut).trimStart();
    }
    lines.push(rest);
  }
  return lines;
}

/**
 * The width each column gets: what its longest line needs, at most its share; the shares left unused go,
 * left to right, to the columns that would otherwise wrap. The table is never wider than the shares' sum.
 */
export function fitColumnWidths(
  columns: readonly TableColumn[],
  rows: readonly (readonly string[])[],
): number[] {
  const needed = columns.map((column, index) =>
    Math.max(
      column.header.length,
      ...rows.flatMap((row) => (row[index] ?? "").split("\n").map((line) => line.length)),
    ),
  );
  const widths = columns.map((column, index) => Math.min(column.width, needed[index]!));
  let spare =
    columns.reduce((sum, column) => sum + column.width, 0) - widths.reduce((sum, width) => sum + width, 0);
  for (let index = 0; index < widths.length && spare > 0; index++) {
    const more = Math.min(spare, needed[index]! - widths[index]!);
    widths[index]! += more;
    spare -= more;
  }
  return widths;
}

/** Renders rows as a plain-text table (two spaces between columns, cells wrapped to fit; see fitColumnWidths). */
export function renderTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string {
  const widths = fitColumnWidths(columns, rows);
  const render = (cells: readonly string[]) => {
    const wrapped = columns.map((_, index) => wrapCell(cells[index] ?? "", widths[index]!));
    const height = Math.max(...wrapped.map((lines) => lines.length));
    const out: string[] = [];
    for (let line = 0; line < height; line++) {
      const text = columns
        .map((column, index) => {
          const cell = wrapped[index]?.[line] ?? "";
          return column.align === "right" ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!);
        })
        .join("  ");
      out.push(text.trimEnd());
    }
    return out;
  };
  return [...render(columns.map((column) => column.header)), ...rows.flatMap((row) => render(row))].join(
    "\n",
  );
}
