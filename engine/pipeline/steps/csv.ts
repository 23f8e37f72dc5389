import { CsvError, parse } from "csv-parse/sync";
import { MessageFailure } from "../failure.js";
import { JSON_CONTENT_TYPE, splitItem, withBody, type JsonValue } from "../message.js";
import { ItemFailure, type StepCompiler } from "./step.js";

/**
 * `csv`: CSV text to JSON with csv-parse (sync). Columns come from the header row (`header: true`) or from
 * `columns`; every value stays a string. A row that cannot be read (a field count that differs from the columns,
 * a broken quote) is an ItemFailure with code VRS_MSG_CSV_ROW naming its line, and the other rows go on.
 *
 * `emit: rows`: one message per row, id `<id>.<row index>` (rows counted from 0 after the header, bad ones
 * included, so that ids stay the same when a fixed file is sent again). `emit: array`: one message with the
 * list of good rows, under the input's id. Either way the body is JSON. A line is the body's, plus the message's
 * attribute `lineOffset` when it has one (a chunk of a file: the file's line).
 */
export const compileCsv: StepCompiler = (config) => {
  const delimiter = typeof config.delimiter === "string" ? config.delimiter : ",";
  const header = config.header !== false;
  const names = Array.isArray(config.columns) ? (config.columns as string[]) : undefined;
  const rows = config.emit === "rows";
  return (message) => {
    const text = message.body;
    if (typeof text !== "string") {
      throw new MessageFailure("VRS_MSG_NOT_CSV", "the body is not text (the csv step reads CSV text, e.g. text/csv)");
    }
    // A chunk of a larger file (the file source) says how its lines map to the file's.
    const offset = typeof message.attributes.lineOffset === "number" ? message.attributes.lineOffset : 0;
    const skipped: Array<{ line: number; index: number; why: string }> = [];
    let records: Array<Record<string, string>>;
    try {
      records = parse(text, {
        delimiter,
        // The header row's names, or the configured ones (the first row is then data).
        columns: header ? checkColumns : checkColumns(names ?? []),
        bom: true,
        skip_empty_lines: true,
        skip_records_with_error: true,
        on_skip: (err) => {
          const line = Number(err?.lines ?? 0) + offset;
          // Its place among all rows: the good rows before it (csv-parse's count) and the bad ones. (No
          // `on_record` or `info`: csv-parse would build an object of facts for every row.)
          const index = Number(err?.records ?? 0) + skipped.length;
          // Two errors in one record (a stray quote, then another) are one bad row: rows end on distinct lines.
          if (skipped.at(-1)?.line !== line) skipped.push({ line, index, why: rowError(err) });
          return undefined;
        },
      }) as Array<Record<string, string>>;
    } catch (e) {
      if (e instanceof MessageFailure) throw e;
      throw new MessageFailure("VRS_MSG_NOT_CSV", `the body cannot be read as CSV: ${rowError(e)}`);
    }
    const failures = skipped.map(
      (s) => new ItemFailure(`${message.id}.${s.index}`, "VRS_MSG_CSV_ROW", `line ${s.line}: ${s.why}`),
    );
    // The index of every good row: its place among all rows, skipped ones included.
    const bad = new Set(skipped.map((s) => s.index));
    const good: number[] = [];
    for (let i = 0; good.length < records.length; i++) if (!bad.has(i)) good.push(i);
    if (!rows) {
      const body = withBody(message, records as JsonValue, JSON_CONTENT_TYPE);
      return failures.length === 0 ? body : [body, ...failures];
    }
    const out = records.map((r, k) => splitItem(message, good[k]!, r, JSON_CONTENT_TYPE));
    return [...out, ...failures];
  };
};

/** Column names as given, refusing one that would set an object's prototype. */
function checkColumns(names: readonly string[]): string[] {
  if (names.length === 0) {
    // An empty header row (or no columns configured with header: false).
    throw new MessageFailure("VRS_MSG_NOT_CSV", "there are no column names (an empty header row, or no columns)");
  }
  for (const n of names) {
    if (n === "__proto__") throw new MessageFailure("VRS_MSG_NOT_CSV", "a column may not be named __proto__");
  }
  return [...names];
}

/** csv-parse's error text without its own line number, bounded. */
function rowError(e: unknown): string {
  const raw = e instanceof CsvError || e instanceof Error ? e.message : String(e);
  // The line is said once, in the file's terms, by the caller.
  const text = raw.replace(/ (?:on|at) line \d+/g, "");
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
