/** A column of a narrow table: its header, its width in characters, and its alignment. */
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

/** Renders rows as a plain-text table (two spaces between columns, cells wrapped to their width). */
export function renderTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string {
  const render = (cells: readonly string[]) => {
    const wrapped = columns.map((column, index) => wrapCell(cells[index] ?? "", column.width));
    const height = Math.max(...wrapped.map((lines) => lines.length));
    const out: string[] = [];
    for (let line = 0; line < height; line++) {
      const text = columns
        .map((column, index) => {
          const cell = wrapped[index]?.[line] ?? "";
          return column.align === "right" ? cell.padStart(column.width) : cell.padEnd(column.width);
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
