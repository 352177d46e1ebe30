/**
 * What commands print: a table for people (columns laid out by cli-table3,
 * without borders), or JSON / JSON lines for programs. Everything goes to
 * stdout; errors go to stderr (see _errors.ts).
 */
import Table from "cli-table3";

/** The output formats of `--output`. */
export const formats = ["table", "json", "jsonl"] as const;
/** One of {@linkcode formats}. */
export type Format = typeof formats[number];

/** A column of a list: its header and how to show a row's cell. */
export type Column<T> = [header: string, cell: (row: T) => unknown];

const plain = {
  chars: {
    top: "",
    "top-mid": "",
    "top-left": "",
    "top-right": "",
    bottom: "",
    "bottom-mid": "",
    "bottom-left": "",
    "bottom-right": "",
    left: "",
    "left-mid": "",
    mid: "",
    "mid-mid": "",
    right: "",
    "right-mid": "",
    middle: "  ",
  },
  style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
};

/** Prints values in the chosen format. */
export class Output {
  /** Prints in `format`, through `write` (one call per line). */
  constructor(
    readonly format: Format,
    private readonly write: (line: string) => void = (l) => console.log(l),
  ) {}

  /** A list: table rows, a JSON array, or one JSON object per line. */
  list<T>(rows: T[], columns: Column<T>[], json: (row: T) => unknown): void {
    if (this.format === "json") {
      return this.write(JSON.stringify(rows.map(json), null, 2));
    }
    if (this.format === "jsonl") {
      for (const r of rows) this.write(JSON.stringify(json(r)));
      return;
    }
    if (rows.length === 0) return this.write("(none)");
    const table = new Table({ ...plain, head: columns.map(([h]) => h) });
    for (const r of rows) table.push(columns.map(([, cell]) => text(cell(r))));
    this.write(trimLines(table.toString()));
  }

  /** One record: "label  value" lines in a table, else its JSON. */
  item(fields: [label: string, value: unknown][], json: unknown): void {
    if (this.format !== "table") return this.json(json);
    const table = new Table(plain);
    for (const [label, value] of fields) {
      if (value === undefined || value === "") continue;
      table.push([`${label}:`, text(value)]);
    }
    this.write(trimLines(table.toString()));
  }

  /** A value as JSON (indented unless jsonl). */
  json(value: unknown): void {
    this.write(
      JSON.stringify(value ?? null, null, this.format === "jsonl" ? 0 : 2),
    );
  }

  /** A line of text in table format, or an event object in the JSON formats (one per line). */
  event(line: string, json: unknown): void {
    this.write(this.format === "table" ? line : JSON.stringify(json));
  }

  /** A heading before a section of a table view. */
  heading(title: string): void {
    if (this.format === "table") this.write(`\n${title}`);
  }
}

/** A cell's text: dates as UTC times, objects as JSON, nothing as "". */
export function text(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (v instanceof Date) return time(v);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** A date as "YYYY-MM-DD HH:MM:SS" UTC. */
export function time(d: Date | undefined): string {
  return d ? d.toISOString().replace("T", " ").slice(0, 19) : "";
}

/** A time span as "850ms", "12.3s", "4m05s" or "2h03m". */
export function span(from: Date | undefined, to: Date | undefined): string {
  if (!from || !to) return "";
  const ms = to.getTime() - from.getTime();
  if (ms < 1_000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) {
    return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

function trimLines(s: string): string {
  return s.split("\n").map((l) => l.trimEnd()).join("\n");
}
