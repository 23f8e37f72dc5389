/**
 * The rows of the `postgres` sink: a message's row (its `columns` expressions, or the body's fields), the
 * statements a batch becomes, and the column a rejected row names.
 *
 * Values: strings, numbers, booleans and null as they are; objects and lists as JSON text (for `json` and `jsonb`
 * columns); PostgreSQL converts the text of each parameter to its column's type, so a value that does not fit is
 * an error of that row. Nothing from a message is ever part of the SQL text: column names are quoted identifiers
 * and every value is a parameter.
 */
import { MessageFailure } from "../../../pipeline/failure.js";
import { toJson, type Program } from "../../../pipeline/cel.js";
import type { JsonValue, Message } from "../../../pipeline/message.js";
import { quoteIdent, quoteQualified } from "../../../dataplane/postgres-client.js";

/** PostgreSQL's longest identifier, in bytes; a longer name would be cut and could name another column. */
const MAX_IDENTIFIER_BYTES = 63;
/** Parameters per statement, at most (the protocol's limit is 65535). */
const MAX_PARAMS = 60_000;

export interface Row {
  columns: string[];
  values: unknown[];
}

export interface RowSpec {
  table: string;
  mode: "insert" | "upsert";
  key: string[];
  /** The `columns` expressions; undefined: the body's fields. */
  columns?: Array<[string, Program]>;
}

/** The message's row; a MessageFailure (dead letter) when it has none. */
export function rowOf(spec: RowSpec, message: Message): Row {
  const columns: string[] = [];
  const values: unknown[] = [];
  if (spec.columns) {
    for (const [column, program] of spec.columns) {
      const v = toJson(program(message));
      if (v === undefined) continue;
      columns.push(column);
      values.push(param(v));
    }
  } else {
    const body = message.body;
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new MessageFailure(
        "VRS_SINK_REJECTED",
        `the body is not an object: give the sink columns, or map the body to an object of column values`,
      );
    for (const column of Object.keys(body)) {
      const v = body[column]!;
      // (A UTF-16 unit is 3 UTF-8 bytes at most: a short name needs no count.)
      if (column.length * 3 > MAX_IDENTIFIER_BYTES && Buffer.byteLength(column) > MAX_IDENTIFIER_BYTES)
        throw new MessageFailure("VRS_SINK_REJECTED", `field '${column.slice(0, 80)}…' is too long for a column name`);
      columns.push(column);
      values.push(param(v));
    }
  }
  if (columns.length === 0) throw new MessageFailure("VRS_SINK_REJECTED", "the message has no column values");
  for (const k of spec.key) {
    if (!columns.includes(k))
      throw new MessageFailure("VRS_SINK_REJECTED", `column "${k}" (a key column) has no value`);
  }
  return { columns, values };
}

function param(v: JsonValue): unknown {
  return typeof v === "object" && v !== null ? JSON.stringify(v) : v;
}

/** One statement of a batch and the rows (indexes into the batch) it writes. */
export interface Statement {
  sql: string;
  params: unknown[];
  columns: string[];
  rows: number[];
}

/**
 * The statements of a batch, in its order: a new one begins when the columns change, when an upsert's key repeats
 * (one statement cannot update a row twice), or at the parameter limit.
 */
export function statementsOf(spec: RowSpec, rows: Row[]): Statement[] {
  const out: Statement[] = [];
  let current: { columns: string[]; rows: number[]; keys: Set<string> } | undefined;
  const end = () => {
    if (current) out.push(statement(spec, current.columns, current.rows, rows));
    current = undefined;
  };
  rows.forEach((row, i) => {
    const key = spec.mode === "upsert" ? keyOf(spec, row) : undefined;
    const full = current && (current.rows.length + 1) * row.columns.length > MAX_PARAMS;
    if (
      !current ||
      !sameColumns(current.columns, row.columns) ||
      full ||
      (key !== undefined && current.keys.has(key))
    ) {
      end();
      current = { columns: row.columns, rows: [], keys: new Set() };
    }
    current.rows.push(i);
    if (key !== undefined) current.keys.add(key);
  });
  end();
  return out;
}

/** The statement writing `rows` (indexes) alone: one row at a time after a batch failed. */
export function statement(spec: RowSpec, columns: string[], indexes: number[], rows: Row[]): Statement {
  const params: unknown[] = [];
  const tuples = indexes.map((i) => {
    const row = rows[i]!;
    const slots = row.values.map((v) => {
      params.push(v);
      return `$${params.length}`;
    });
    return `(${slots.join(", ")})`;
  });
  let sql = `INSERT INTO ${quoteQualified(spec.table)} (${columns.map(quoteIdent).join(", ")}) VALUES ${tuples.join(", ")}`;
  if (spec.mode === "upsert") {
    const rest = columns.filter((c) => !spec.key.includes(c));
    sql += ` ON CONFLICT (${spec.key.map(quoteIdent).join(", ")}) DO `;
    sql +=
      rest.length === 0
        ? "NOTHING"
        : `UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(", ")}`;
  }
  return { sql, params, columns, rows: indexes };
}

function sameColumns(a: string[], b: string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function keyOf(spec: RowSpec, row: Row): string {
  return JSON.stringify(spec.key.map((k) => row.values[row.columns.indexOf(k)]));
}

/** A server error as the sink reads it. */
export interface PgError {
  code?: string;
  message: string;
  detail?: string;
  column?: string;
  where?: string;
  constraint?: string;
}

/**
 * The columns a row's error is about: the server's `column` (not null), the parameter it could not convert
 * (`unnamed portal parameter $n`), the key of a unique or foreign key violation, or the row's columns of the type
 * the error names (`types`: the table's column types, when known).
 */
export function columnsOfError(e: PgError, columns: string[], types?: Map<string, string>): string[] {
  if (e.column) return [e.column];
  const param = /parameter \$(\d+)/.exec(e.where ?? "");
  if (param) {
    const c = columns[(Number(param[1]) - 1) % columns.length];
    if (c !== undefined) return [c];
  }
  const key = /Key \(([^)]*)\)/.exec(e.detail ?? "");
  if (key) return key[1]!.split(",").map((s) => s.trim().replace(/^"|"$/g, ""));
  const type = /for type ([a-z][a-z0-9 _]*(?:\(\d+(?:,\d+)?\))?)/i.exec(e.message);
  if (type && types) {
    const named = type[1]!.toLowerCase();
    const hits = columns.filter((c) => types.get(c)?.toLowerCase() === named);
    if (hits.length > 0) return hits;
  }
  return [];
}

/** The dead letter's text for a rejected row: the table, the column(s) when known, the server's message. */
export function rejection(table: string, e: PgError, named: string[]): string {
  const where =
    named.length === 0
      ? ""
      : named.length === 1
        ? `, column "${named[0]}"`
        : `, columns ${named.map((c) => `"${c}"`).join(", ")}`;
  const detail = e.detail ? ` (${e.detail.length > 300 ? `${e.detail.slice(0, 300)}…` : e.detail})` : "";
  const state = e.code ? ` [${e.code}]` : "";
  return `postgres table ${table}${where}: ${e.message}${detail}${state}`;
}
