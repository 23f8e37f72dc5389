/**
 * What the `postgres-cdc` source makes of a row change decoded by `pgoutput`: an LSN as a number and back, the
 * filter of `tables` and `operations`, and the message stored in the ingest stream.
 *
 * A change's message: id `cdc-<commit LSN as 16 hex digits>-<n>` (the n-th change of its transaction, counting
 * the changes filtered out too), so that a change streamed again after a restart has the id it had and is stored
 * once; body `{ table, schema, name, operation, new, old, commitTime, lsn, xid }`; attributes `source`
 * (`postgres-cdc`), `receivedAt`, `table`, `operation`, `lsn`. `new` is the row after an insert or update (null for
 * a delete); `old` is the row before an update or delete as far as the table's replica identity gives it (the key
 * columns by default, and for an update only when the key changed; every column with REPLICA IDENTITY FULL),
 * null otherwise. Column values: text, numbers and booleans as JSON; bigint and numeric as strings; timestamps in
 * RFC 3339; json and jsonb as JSON; bytea as `\x` and hex; arrays as lists; a large value that did not change
 * (TOAST) is left out of `new`.
 */
import type { Pgoutput } from "pg-logical-replication";
import type { IngestEnvelope } from "../../../dataplane/wire.js";
import type { JsonValue } from "../../../pipeline/message.js";

export type Operation = "insert" | "update" | "delete";

/** `16/B374D848` (PostgreSQL's text form, leading zeros allowed) as a number. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new Error(`not an LSN: ${text}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** An LSN in PostgreSQL's text form: `16/B374D848`. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Which changes the source keeps: `tables` (unqualified names are in `public`) and `operations`. */
export class ChangeFilter {
  private readonly tables: Set<string> | undefined;
  private readonly operations: Set<string>;

  constructor(tables: readonly string[] | undefined, operations: readonly string[] | undefined) {
    this.tables = tables && tables.length > 0 ? new Set(tables.map(qualified)) : undefined;
    this.operations = new Set(operations && operations.length > 0 ? operations : ["insert", "update", "delete"]);
  }

  keeps(operation: Operation, schema: string, name: string): boolean {
    return this.operations.has(operation) && (!this.tables || this.tables.has(`${schema}.${name}`));
  }

  /** The tables as `schema.table`, for a publication made by the source; undefined: all tables. */
  get tableList(): string[] | undefined {
    return this.tables ? [...this.tables] : undefined;
  }

  get operationList(): string[] {
    return [...this.operations];
  }
}

/** `orders` → `public.orders`. */
export function qualified(table: string): string {
  return table.includes(".") ? table : `public.${table}`;
}

export type RowChange = Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete;

export interface Transaction {
  commitLsn: bigint;
  commitTime: string;
  xid: number;
  /** Changes seen so far, kept or not. */
  seen: number;
}

/** The ingest message of a change. */
export function changeEnvelope(change: RowChange, txn: Transaction, index: number): IngestEnvelope {
  const { schema, name } = change.relation;
  const table = `${schema}.${name}`;
  const lsn = formatLsn(txn.commitLsn);
  const rowNew = change.tag === "delete" ? null : rowJson(change.new);
  const rowOld = change.tag === "insert" ? null : rowJson(change.old ?? change.key);
  const body = {
    table,
    schema,
    name,
    operation: change.tag,
    new: rowNew,
    old: rowOld,
    commitTime: txn.commitTime,
    lsn,
    xid: txn.xid,
  };
  return {
    id: `cdc-${txn.commitLsn.toString(16).padStart(16, "0")}-${index}`,
    contentType: "application/json",
    headers: {},
    attributes: {
      source: "postgres-cdc",
      receivedAt: new Date().toISOString(),
      table,
      operation: change.tag,
      lsn,
    },
    body: new TextEncoder().encode(JSON.stringify(body)),
  };
}

/** The commit time of `begin` (microseconds since the Unix epoch) in RFC 3339. */
export function commitTimeOf(micros: unknown): string {
  const ms = Number(BigInt(micros as bigint) / 1000n);
  return new Date(ms).toISOString();
}

function rowJson(row: Record<string, unknown> | null | undefined): Record<string, JsonValue> | null {
  if (!row) return null;
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(row)) {
    const j = valueJson(v);
    if (j !== undefined)
      Object.defineProperty(out, k, { value: j, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function valueJson(v: unknown): JsonValue | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `\\x${Buffer.from(v).toString("hex")}`;
  if (Array.isArray(v)) return v.map((x) => valueJson(x) ?? null);
  if (typeof v === "object") {
    const out: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const j = valueJson(x);
      if (j !== undefined)
        Object.defineProperty(out, k, { value: j, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return String(v);
}
