/**
 * The `postgres` sink at run time: inserts or upserts (`INSERT … ON CONFLICT (key) DO UPDATE`) one row per
 * message into `table`, on a connection pool of the sink's own.
 *
 * Batching: the runtime delivers one message per send(); sends that arrive while a batch is being written (or
 * within BATCH_WINDOW_MS of the first) are written together, up to `batchSize`, in one transaction (a batch that is
 * one statement, the usual case, runs as that statement alone: its own transaction, one round trip). Sends are
 * written in the order they came (`appliesInOrder`: the runtime sends all the rows of a message at once, e.g. a
 * CSV chunk's, and they fill whole batches); a batch that fails transiently fails every send queued behind it.
 * Each statement runs under a savepoint; when one fails for a row's reason (a constraint, a type, a missing column: SQLSTATE
 * classes 22, 23 and 42), its rows are written one at a time, each under its own savepoint, so that the bad row
 * alone is rejected (VRS_SINK_REJECTED, dead letter at once, the column named) and the rest of the batch commits.
 * A lost connection, a server shutting down or out of resources, a deadlock or a timeout fails the whole batch
 * with VRS_SINK_UNAVAILABLE (retried with the integration's backoff; nothing of it was committed).
 */
import pg from "pg";
import { compileExpression } from "../../../pipeline/cel.js";
import { MessageFailure } from "../../../pipeline/failure.js";
import { errorMessage } from "../../../errors/errors.js";
import {
  isTransient,
  PostgresTarget,
  quoteQualified,
  readPostgresConnection,
  sqlState,
} from "../../../dataplane/postgres-client.js";
import type { FlowEnv, SinkDelivery, SinkFactory, SinkOutcome, SinkRuntime } from "../types.js";
import {
  columnsOfError,
  rejection,
  rowOf,
  statement,
  statementsOf,
  type PgError,
  type Row,
  type RowSpec,
} from "./postgres-rows.js";

/** How long the first send of a batch waits for others to join it. */
export const BATCH_WINDOW_MS = 2;
/** Connections of a sink's pool. */
const POOL_SIZE = 2;
/** The server cancels a statement that runs longer (a lock held elsewhere): a transient failure. */
const STATEMENT_TIMEOUT_MS = 30_000;
/** How long close() lets a batch in flight finish. */
const CLOSE_GRACE_MS = 2_000;
/** Prepared statements a sink names at most (texts differ by column set and rows per batch). */
const MAX_PREPARED = 64;
/** Errors of the statement itself, not of a row: every row of it is rejected without trying them one by one. */
const STATEMENT_ERRORS = new Set(["42P01", "42501", "42P10", "3F000", "42601", "0A000"]);

/** Statements a batch's transaction owes before its next one (sent with it, in one simple query). */
interface Transaction {
  owed: string;
}

interface Pending {
  row: Row;
  signal: AbortSignal;
  resolve: (o: SinkOutcome) => void;
}

export const postgresSink: SinkFactory = async (config, env) => {
  const conn = readPostgresConnection(config, "postgres sink");
  if (typeof config.table !== "string" || config.table === "") throw new Error("the postgres sink has no table");
  const mode = config.mode === "upsert" ? "upsert" : "insert";
  const key = Array.isArray(config.key) ? config.key.map(String) : [];
  if (mode === "upsert" && key.length === 0) throw new Error("the postgres sink's upsert has no key");
  const columns =
    config.columns && typeof config.columns === "object"
      ? Object.entries(config.columns as Record<string, string>).map(
          ([c, expr]) =>
            [c, compileExpression(expr, ["config", "columns", c])] as [string, ReturnType<typeof compileExpression>],
        )
      : undefined;
  const spec: RowSpec = { table: config.table, mode, key, ...(columns ? { columns } : {}) };
  const batchSize = typeof config.batchSize === "number" && config.batchSize >= 1 ? config.batchSize : 100;
  const target = await PostgresTarget.open(conn, env, `vrsky-sink ${env.tenant}/${env.integration}`);
  return new PostgresSinkRuntime(spec, batchSize, target, env);
};

export class PostgresSinkRuntime implements SinkRuntime {
  /** One queue, written batch after batch in order; a batch that fails transiently fails the queue behind it. */
  readonly appliesInOrder = true;
  /** Batches written and their sizes (for tests and logs). */
  readonly batches: number[] = [];
  private pool: Promise<pg.Pool> | undefined;
  private readonly queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Prepared statements' names by their text. */
  private readonly names = new Map<string, string>();
  /** The table's column types (`format_type`), read at the first type error. */
  private types: Map<string, string> | undefined;

  constructor(
    private readonly spec: RowSpec,
    private readonly batchSize: number,
    private readonly target: PostgresTarget,
    private readonly env: FlowEnv,
  ) {}

  send(d: SinkDelivery): Promise<SinkOutcome> {
    if (this.closed) return Promise.resolve(this.unavailable("the sink is closed"));
    if (d.signal.aborted) return Promise.resolve(this.unavailable("delivery abandoned, the replica is stopping"));
    let row: Row;
    try {
      row = rowOf(this.spec, d.message);
    } catch (e) {
      if (e instanceof MessageFailure)
        return Promise.resolve({ ok: false, code: e.code, error: `postgres table ${this.spec.table}: ${e.message}` });
      return Promise.resolve({
        ok: false,
        code: "VRS_SINK_REJECTED",
        error: `postgres table ${this.spec.table}: ${errorMessage(e)}`,
      });
    }
    return new Promise((resolve) => {
      this.queue.push({ row, signal: d.signal, resolve });
      if (!this.flushing && !this.timer) this.timer = setTimeout(() => this.flush(), BATCH_WINDOW_MS);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.flushing, new Promise((r) => (grace = setTimeout(r, CLOSE_GRACE_MS)))]);
    clearTimeout(grace);
    for (const p of this.queue.splice(0)) p.resolve(this.unavailable("the sink is closed"));
    const pool = await this.pool?.catch(() => undefined);
    await pool?.end().catch(() => undefined);
  }

  private flush(): void {
    this.timer = undefined;
    if (this.flushing) return;
    this.flushing = this.drain().finally(() => {
      this.flushing = undefined;
      // A send that came after the last look at the queue (it saw a flush in progress and set no timer).
      if (this.queue.length > 0 && !this.closed) this.flush();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const batch = this.queue.splice(0, this.batchSize).filter((p) => {
        if (!p.signal.aborted) return true;
        p.resolve(this.unavailable("delivery abandoned, the replica is stopping"));
        return false;
      });
      if (batch.length === 0) continue;
      const outcomes = await this.write(batch.map((p) => p.row));
      this.batches.push(batch.length);
      batch.forEach((p, i) => p.resolve(outcomes[i]!));
      // Nothing of the batch was committed: nothing sent after it may be (a message's rows stay in order).
      const lost = outcomes.find((o) => !o.ok && o.code === "VRS_SINK_UNAVAILABLE");
      if (lost && !lost.ok) for (const p of this.queue.splice(0)) p.resolve(lost);
    }
  }

  /** Writes a batch in one transaction; an outcome per row. */
  private async write(rows: Row[]): Promise<SinkOutcome[]> {
    const outcomes: SinkOutcome[] = rows.map(() => ({ ok: true }));
    let client: pg.PoolClient;
    try {
      client = await (await this.connect()).connect();
    } catch (e) {
      const why = errorMessage(e);
      this.env.log("postgres-sink-unavailable", { table: this.spec.table, rows: rows.length, error: why });
      return rows.map(() => this.unavailable(why));
    }
    let broken = false;
    const tx: Transaction = { owed: "BEGIN" };
    try {
      const statements = statementsOf(this.spec, rows);
      const only = statements.length === 1 ? statements[0]! : undefined;
      let onlyFailure: PgError | undefined;
      if (only) {
        // One statement is a transaction of its own: one round trip, not BEGIN, the statement and COMMIT. When it
        // fails for a row's reason nothing of it was committed, and the batch goes the careful way below.
        onlyFailure = await client.query(this.prepared(only.sql, only.params)).then(
          () => undefined,
          (e: unknown) => {
            if (isTransient(e)) throw e;
            return e as PgError;
          },
        );
        if (!onlyFailure) return outcomes;
      }
      for (const s of statements) {
        const failure = onlyFailure ?? (await this.attempt(client, tx, s.sql, s.params));
        if (!failure) continue;
        const e = failure as PgError;
        if (s.rows.length === 1 || STATEMENT_ERRORS.has(e.code ?? "")) {
          for (const i of s.rows) outcomes[i] = await this.rejected(e, rows[i]!.columns);
          continue;
        }
        for (const i of s.rows) {
          const one = statement(this.spec, s.columns, [i], rows);
          const f = await this.attempt(client, tx, one.sql, one.params);
          if (f) outcomes[i] = await this.rejected(f as PgError, s.columns);
        }
      }
      await client.query(`${tx.owed}; COMMIT`);
      return outcomes;
    } catch (e) {
      broken = isTransient(e);
      if (!broken) await client.query("ROLLBACK").catch(() => (broken = true));
      const why = errorMessage(e);
      if (broken) this.env.log("postgres-sink-unavailable", { table: this.spec.table, rows: rows.length, error: why });
      return rows.map(() =>
        broken
          ? this.unavailable(why)
          : { ok: false, code: "VRS_SINK_REJECTED", error: rejection(this.spec.table, e as PgError, []) },
      );
    } finally {
      client.release(broken);
    }
  }

  /**
   * Runs a statement under a savepoint: undefined when it succeeded, the error of the row(s) when it failed. What
   * the transaction owes (BEGIN, the release of the last savepoint) goes with the next SAVEPOINT or the COMMIT in
   * one round trip: a batch of one statement costs three (as BEGIN, INSERT, COMMIT would), not five.
   */
  private async attempt(client: pg.PoolClient, tx: Transaction, sql: string, params: unknown[]): Promise<unknown> {
    await client.query(`${tx.owed}; SAVEPOINT vrsky_row`);
    tx.owed = "RELEASE SAVEPOINT vrsky_row";
    try {
      await client.query(sql, params);
      return undefined;
    } catch (e) {
      if (isTransient(e)) throw e;
      await client.query("ROLLBACK TO SAVEPOINT vrsky_row");
      return e;
    }
  }

  /**
   * The statement as a named prepared statement: each connection parses and plans it once, and later batches send
   * only its name and values (not the text of a hundred rows' placeholders). Names for the first
   * MAX_PREPARED texts a sink sees (its column sets and batch sizes); any other text goes unnamed.
   */
  private prepared(text: string, values: unknown[]): pg.QueryConfig {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < MAX_PREPARED) this.names.set(text, (name = `vrsky_${this.names.size}`));
    return name === undefined ? { text, values } : { name, text, values };
  }

  private async rejected(e: PgError, columns: string[]): Promise<SinkOutcome> {
    let named = columnsOfError(e, columns);
    if (named.length === 0 && sqlState(e)?.startsWith("22"))
      named = columnsOfError(e, columns, await this.columnTypes());
    return { ok: false, code: "VRS_SINK_REJECTED", error: rejection(this.spec.table, e, named) };
  }

  private async columnTypes(): Promise<Map<string, string>> {
    if (this.types) return this.types;
    try {
      const pool = await this.connect();
      const r = await pool.query<{ name: string; type: string }>(
        "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
        [quoteQualified(this.spec.table)],
      );
      this.types = new Map(r.rows.map((x) => [x.name, x.type]));
      return this.types;
    } catch {
      return new Map();
    }
  }

  private connect(): Promise<pg.Pool> {
    if (!this.pool) {
      this.pool = this.target.config({ statement_timeout: STATEMENT_TIMEOUT_MS }).then((cfg) => {
        const pool = new pg.Pool({ ...cfg, max: POOL_SIZE, idleTimeoutMillis: 30_000 });
        // An idle connection lost (the server restarted, an administrator ended it): the pool drops it and the
        // next batch connects anew; a batch that meets a lost connection logs postgres-sink-unavailable.
        pool.on("error", () => undefined);
        return pool;
      });
      this.pool.catch(() => (this.pool = undefined));
    }
    return this.pool;
  }

  private unavailable(why: string): SinkOutcome {
    return { ok: false, code: "VRS_SINK_UNAVAILABLE", error: `postgres ${this.target.label}: ${why}` };
  }
}
