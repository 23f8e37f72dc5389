/**
 * The `postgres-cdc` source at run time: logical replication with `pgoutput` from the durable slot `slot`, of the
 * publication `publication`, on a replication connection of `pg` (`replication: database`; the stream decoded
 * with pg-logical-replication's pgoutput parser). Each kept row change becomes a message (postgres-changes.ts)
 * persisted into the ingest stream.
 *
 * Nothing is lost: a transaction's end LSN is confirmed to PostgreSQL (a standby status update: written = flushed
 * = applied = that LSN) only once every message of the transaction, and of every transaction before it, was
 * acknowledged by JetStream. A source stopped or killed before that leaves the slot where it was, and the next
 * start streams those changes again (same ids: JetStream's de-duplication stores them once within its window).
 * An idle slot does not pin WAL: when everything received is confirmed, the position of the server's keepalive
 * (WAL the publication had nothing of, other databases' writes) is confirmed too; a status update goes out every
 * STATUS_INTERVAL_MS and whenever the server asks for one.
 *
 * At the start (and after a lost connection) the source creates the publication (`FOR TABLE` the `tables`, or
 * `FOR ALL TABLES` without them, publishing the `operations`) and the slot when they are missing, if the user may.
 * A slot streams to one client at a time, so only replica 0 runs the source; the server refuses a second client
 * of the slot (a worker that has not noticed its replica moved), which then retries with backoff. Failures (the
 * server down, the slot busy, a permission missing) are logged and retried with backoff up to 30 s.
 *
 * Slot lag: the bytes of WAL between the server's current position and the slot's confirmed position, read
 * every LAG_INTERVAL_MS (`slotLagBytes`, the metric `vrsky_cdc_slot_lag_bytes`, and the log event `cdc-slot-lag`).
 */
import pg from "pg";
import { PgoutputParser } from "pg-logical-replication/dist/output-plugins/pgoutput/pgoutput-parser.js";
import { errorMessage } from "../../../errors/errors.js";
import {
  PostgresTarget,
  quoteIdent,
  quoteQualified,
  readPostgresConnection,
  sqlState,
} from "../../../dataplane/postgres-client.js";
import type { SourceEnv, SourceFactory, SourceRuntime } from "../types.js";
import {
  ChangeFilter,
  changeEnvelope,
  commitTimeOf,
  formatLsn,
  parseLsn,
  type Operation,
  type RowChange,
  type Transaction,
} from "./postgres-changes.js";
import { WakeablePauses } from "../../../util/wakeable-pauses.js";

export const STATUS_INTERVAL_MS = 10_000;
export const LAG_INTERVAL_MS = 30_000;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
const RECONNECT_MAX_MS = 30_000;
/** Writes in flight at which the source stops reading the stream, and at which it reads again. */
const PAUSE_AT = 1024;
const RESUME_AT = 256;
/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MICROS = 946_684_800_000_000n;

export interface CdcOptions {
  statusIntervalMs?: number;
  lagIntervalMs?: number;
}

export interface CdcCounters {
  /** Row changes received (kept or not). */
  received: number;
  persisted: number;
  filtered: number;
  /** Transactions whose end LSN was confirmed to the server. */
  confirmed: number;
  sessions: number;
}

/** The replication connection's socket and sender (pg's Connection: not in its typings). */
interface ReplicationConnection {
  on(event: "copyData", listener: (msg: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

export function postgresCdcSourceWith(o: CdcOptions = {}): SourceFactory {
  return async (config, env) => {
    const conn = readPostgresConnection(config, "postgres-cdc source");
    const slot = String(config.slot ?? "");
    const publication = String(config.publication ?? "");
    const name = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
    if (!name.test(slot) || !name.test(publication))
      throw new Error("the postgres-cdc source needs a slot and a publication");
    if (env.replica !== 0) {
      env.log("cdc-not-streaming", { slot, reason: "only replica 0 streams a slot" });
      return { stop: async () => undefined };
    }
    const tables = Array.isArray(config.tables) ? config.tables.map(String) : undefined;
    const operations = Array.isArray(config.operations) ? config.operations.map(String) : undefined;
    const target = await PostgresTarget.open(conn, env, `vrsky-cdc ${env.tenant}/${env.integration}`);
    const source = new PostgresCdcSource(target, slot, publication, new ChangeFilter(tables, operations), env, o);
    source.start();
    return source;
  };
}

export const postgresCdcSource: SourceFactory = postgresCdcSourceWith();

export class PostgresCdcSource implements SourceRuntime {
  readonly counters: CdcCounters = { received: 0, persisted: 0, filtered: 0, confirmed: 0, sessions: 0 };
  /** Bytes of WAL the slot holds beyond its confirmed position, as last read; undefined before the first read. */
  slotLagBytes: number | undefined;
  /** The position confirmed to the server (0 until the slot's is known). */
  confirmed = 0n;
  private stopped = false;
  private running: Promise<void> | undefined;
  private client: pg.Client | undefined;
  private connection: ReplicationConnection | undefined;
  private readonly parser = new PgoutputParser();
  private txn: Transaction | undefined;
  private txnWrites: Array<Promise<boolean>> = [];
  /** Commits confirmed in order: each waits for its writes and for the commits before it. */
  private confirming: Promise<void> = Promise.resolve();
  private unconfirmed = 0;
  private pending = 0;
  private paused = false;
  private readonly writes = new Set<Promise<boolean>>();
  private readonly pauses = new WakeablePauses();
  private lastFailureLog = 0;

  constructor(
    private readonly target: PostgresTarget,
    readonly slot: string,
    readonly publication: string,
    private readonly filter: ChangeFilter,
    private readonly env: SourceEnv,
    private readonly o: CdcOptions = {},
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pauses.wakeAll();
    await this.client?.end().catch(() => undefined);
    await Promise.all([this.running, ...this.writes]);
  }

  private async loop(): Promise<void> {
    for (let delay = RETRY_FIRST_MS; !this.stopped; delay = Math.min(delay * 2, RECONNECT_MAX_MS)) {
      const began = Date.now();
      try {
        await this.session();
      } catch (e) {
        if (this.stopped) break;
        this.env.log("cdc-stream-failed", {
          slot: this.slot,
          error: errorMessage(e),
          code: sqlState(e),
          retryInMs: delay,
        });
      }
      if (Date.now() - began > RECONNECT_MAX_MS) delay = RETRY_FIRST_MS;
      await this.pause(delay);
    }
  }

  /** Prepares the slot and publication, then streams until the connection ends. */
  private async session(): Promise<void> {
    const admin = new pg.Client(await this.target.config());
    admin.on("error", () => undefined);
    const timers: NodeJS.Timeout[] = [];
    try {
      await admin.connect();
      await this.prepare(admin);
      const cfg = await this.target.config();
      const client = new pg.Client({ ...cfg, replication: "database" } as pg.ClientConfig);
      this.client = client;
      if (this.stopped) return;
      const ended = new Promise<void>((_resolve, reject) => client.on("error", reject));
      ended.catch(() => undefined);
      await client.connect();
      const connection = (client as unknown as { connection: ReplicationConnection }).connection;
      connection.on("copyData", ({ chunk }) => this.onCopyData(chunk));
      this.connection = connection;
      this.txn = undefined;
      this.txnWrites = [];
      this.counters.sessions++;
      timers.push(setInterval(() => this.sendStatus(false), this.o.statusIntervalMs ?? STATUS_INTERVAL_MS));
      const readLag = () => void this.readLag(admin);
      timers.push(setInterval(readLag, this.o.lagIntervalMs ?? LAG_INTERVAL_MS));
      readLag();
      this.env.log("cdc-streaming", {
        slot: this.slot,
        publication: this.publication,
        from: formatLsn(this.confirmed),
      });
      const options = `proto_version '1', publication_names '${this.publication}'`;
      const sql = `START_REPLICATION SLOT ${quoteIdent(this.slot)} LOGICAL ${formatLsn(this.confirmed)} (${options})`;
      await Promise.race([client.query(sql), ended]);
    } finally {
      for (const t of timers) clearInterval(t);
      this.connection = undefined;
      this.paused = false;
      await this.client?.end().catch(() => undefined);
      this.client = undefined;
      await admin.end().catch(() => undefined);
    }
  }

  /** Creates the publication and the slot when missing; learns the slot's confirmed position. */
  private async prepare(admin: pg.Client): Promise<void> {
    const pub = await admin.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [this.publication]);
    if (pub.rowCount === 0) {
      const tables = this.filter.tableList;
      const what = tables ? `TABLE ${tables.map(quoteQualified).join(", ")}` : "ALL TABLES";
      const publish = this.filter.operationList.join(", ");
      await admin
        .query(`CREATE PUBLICATION ${quoteIdent(this.publication)} FOR ${what} WITH (publish = '${publish}')`)
        .catch((e: unknown) => {
          if (sqlState(e) !== "42710") throw e;
        });
      this.env.log("cdc-publication-created", { publication: this.publication, tables: tables ?? "all" });
    }
    const find = () =>
      admin.query<{ lsn: string | null; plugin: string; database: string }>(
        "SELECT confirmed_flush_lsn::text AS lsn, plugin, database FROM pg_replication_slots WHERE slot_name = $1",
        [this.slot],
      );
    let slot = await find();
    if (slot.rowCount === 0) {
      await admin
        .query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [this.slot])
        .catch((e: unknown) => {
          if (sqlState(e) !== "42710") throw e;
        });
      this.env.log("cdc-slot-created", { slot: this.slot });
      slot = await find();
    }
    const row = slot.rows[0];
    if (!row) throw new Error(`replication slot ${this.slot} does not exist`);
    if (row.plugin !== "pgoutput") throw new Error(`replication slot ${this.slot} uses ${row.plugin}, not pgoutput`);
    if (row.lsn) {
      const lsn = parseLsn(row.lsn);
      if (lsn > this.confirmed) this.confirmed = lsn;
    }
  }

  private onCopyData(chunk: Buffer): void {
    if (this.stopped) return;
    try {
      if (chunk[0] === 0x77) {
        // XLogData: start, end, send time (8 bytes each), then a pgoutput message.
        this.onMessage(this.parser.parse(chunk.subarray(25)));
      } else if (chunk[0] === 0x6b) {
        // Primary keepalive: the server's WAL end, send time, whether it wants an answer now.
        this.onKeepalive(chunk.readBigUInt64BE(1), chunk[17] === 1);
      }
    } catch (e) {
      this.env.log("cdc-stream-failed", { slot: this.slot, error: errorMessage(e) });
      void this.client?.end();
    }
  }

  private onMessage(m: ReturnType<PgoutputParser["parse"]>): void {
    switch (m.tag) {
      case "begin":
        this.txn = {
          commitLsn: m.commitLsn ? parseLsn(m.commitLsn) : 0n,
          commitTime: commitTimeOf(m.commitTime),
          xid: m.xid,
          seen: 0,
        };
        this.txnWrites = [];
        return;
      case "insert":
      case "update":
      case "delete":
        return this.onChange(m);
      case "commit":
        return this.onCommit(m.commitEndLsn ? parseLsn(m.commitEndLsn) : 0n);
      default:
        // relation (kept by the parser), type, origin, truncate, message: nothing to store.
        return;
    }
  }

  private onChange(change: RowChange): void {
    const txn = this.txn;
    if (!txn) return;
    const index = txn.seen++;
    this.counters.received++;
    if (!this.filter.keeps(change.tag as Operation, change.relation.schema, change.relation.name)) {
      this.counters.filtered++;
      return;
    }
    const write = this.persist(changeEnvelope(change, txn, index));
    this.txnWrites.push(write);
  }

  private onCommit(end: bigint): void {
    const writes = this.txnWrites;
    this.txn = undefined;
    this.txnWrites = [];
    this.unconfirmed++;
    this.confirming = this.confirming.then(async () => {
      const ok = (await Promise.all(writes)).every(Boolean);
      this.unconfirmed--;
      if (!ok || this.stopped) return;
      this.counters.confirmed++;
      this.confirm(end);
    });
  }

  /** Everything received is persisted and confirmed: the server's position is the slot's too. */
  private onKeepalive(walEnd: bigint, reply: boolean): void {
    const idle = !this.txn && this.pending === 0 && this.unconfirmed === 0;
    const advance = idle && walEnd > this.confirmed;
    if (advance) this.confirmed = walEnd;
    if (reply || advance) this.sendStatus(false);
  }

  private confirm(lsn: bigint): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.sendStatus(false);
  }

  /** A standby status update: received, flushed and applied up to the confirmed position. */
  private sendStatus(reply: boolean): void {
    if (!this.connection || this.confirmed === 0n || this.stopped) return;
    const b = Buffer.alloc(34);
    b[0] = 0x72;
    b.writeBigUInt64BE(this.confirmed, 1);
    b.writeBigUInt64BE(this.confirmed, 9);
    b.writeBigUInt64BE(this.confirmed, 17);
    b.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS, 25);
    b[33] = reply ? 1 : 0;
    this.connection.sendCopyFromChunk(b);
  }

  /** Writes a message until JetStream has it; false when the source stopped first (never confirmed then). */
  private persist(envelope: ReturnType<typeof changeEnvelope>): Promise<boolean> {
    this.pending++;
    if (this.pending >= PAUSE_AT && !this.paused && this.connection) {
      this.paused = true;
      this.connection.stream.pause();
    }
    const write = (async () => {
      for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
        if (this.stopped) return false;
        const writer = this.env.ingest();
        let error = "no connection to the ingest stream";
        if (writer) {
          try {
            await writer.write(envelope);
            this.counters.persisted++;
            return true;
          } catch (e) {
            error = errorMessage(e);
          }
        }
        if (Date.now() - this.lastFailureLog > 5_000) {
          this.lastFailureLog = Date.now();
          this.env.log("cdc-persist-failed", { slot: this.slot, id: envelope.id, error });
        }
        await this.pause(delay);
      }
    })().finally(() => {
      this.pending--;
      this.writes.delete(write);
      if (this.paused && this.pending <= RESUME_AT) {
        this.paused = false;
        this.connection?.stream.resume();
      }
    });
    this.writes.add(write);
    return write;
  }

  private async readLag(admin: pg.Client): Promise<void> {
    try {
      const r = await admin.query<{ lag: string | null }>(
        "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1",
        [this.slot],
      );
      const lag = r.rows[0]?.lag;
      if (lag === null || lag === undefined) return;
      this.slotLagBytes = Math.max(0, Number(lag));
      this.env.log("cdc-slot-lag", {
        slot: this.slot,
        lagBytes: this.slotLagBytes,
        confirmed: formatLsn(this.confirmed),
      });
    } catch {
      // the next session reads it again
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.pauses.pause(ms);
  }
}
