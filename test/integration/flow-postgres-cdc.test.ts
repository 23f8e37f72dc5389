import { expect } from "chai";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { readIngest } from "../../engine/dataplane/wire.js";
import { parseLsn } from "../../engine/worker/flow/sources/postgres-changes.js";
import { PostgresCdcSource, postgresCdcSourceWith } from "../../engine/worker/flow/sources/postgres-cdc.js";
import type { SourceRuntime } from "../../engine/worker/flow/types.js";
import { testEnv, type TestEnvOptions } from "../helpers/connector-env.js";
import { FlowFixture, TestSinks } from "../helpers/flow.js";
import { integrationResource } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { PG_PASSWORD, usePostgres } from "../helpers/postgres.js";
import { SecretValue } from "../../engine/secrets/value.js";
import { until } from "../helpers/until.js";

const TENANT = "acme";

interface Change {
  id: string;
  attributes: Record<string, unknown>;
  body: {
    table: string;
    operation: string;
    new: Record<string, unknown> | null;
    old: Record<string, unknown> | null;
    commitTime: string;
    lsn: string;
    xid: number;
  };
}

describe("flow sources: postgres-cdc", function () {
  this.timeout(90_000);
  const pg = usePostgres();
  const fx = useNats({ resetBuckets: false });
  const flow = new FlowFixture(fx);
  let jsm: JetStreamManager;
  const running: SourceRuntime[] = [];
  let counter = 0;

  before(async () => {
    jsm = await jetstreamManager(fx.nc);
    await flow.start();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  /** A fresh integration (streams in place), table, slot and publication names. */
  async function setup(): Promise<{ name: string; table: string; slot: string; publication: string }> {
    const n = ++counter;
    const name = `cdc${n}`;
    await ensureIntegrationStreams(fx.nc, integrationResource(TENANT, name, { source: { type: "postgres-cdc" } }));
    const table = `orders${n}`;
    await pg.query(
      `CREATE TABLE ${table} (id integer PRIMARY KEY, status text NOT NULL, total numeric, at timestamptz)`,
    );
    return { name, table, slot: `vrsky_slot${n}`, publication: `vrsky_pub${n}` };
  }

  async function start(
    name: string,
    config: Record<string, unknown>,
    o: TestEnvOptions = {},
  ): Promise<{ src: PostgresCdcSource; env: ReturnType<typeof testEnv> }> {
    const env = testEnv({
      tenant: TENANT,
      integration: name,
      connection: fx.nc,
      secrets: { "shop-db": PG_PASSWORD },
      ...o,
    });
    const factory = postgresCdcSourceWith({ statusIntervalMs: 200, lagIntervalMs: 200 });
    const src = (await factory(pg.connectorConfig(config), env)) as PostgresCdcSource;
    running.push(src);
    return { src, env };
  }

  async function streaming(src: PostgresCdcSource, sessions = 1): Promise<void> {
    await until(() => src.counters.sessions >= sessions, 20_000, `replication session ${sessions}`);
  }

  /** The changes stored in the integration's ingest stream, in order. */
  async function stored(name: string): Promise<Change[]> {
    const stream = integrationStreams(TENANT, name).ingest;
    const { state } = await jsm.streams.info(stream);
    const out: Change[] = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (!m) continue;
      const s = readIngest(m.header, m.data);
      out.push({
        id: s.id,
        attributes: s.attributes,
        body: JSON.parse(new TextDecoder().decode(s.body)) as Change["body"],
      });
    }
    return out;
  }

  async function storedAtLeast(name: string, n: number): Promise<Change[]> {
    return until(
      async () => {
        const all = await stored(name);
        return all.length >= n ? all : undefined;
      },
      20_000,
      `${n} changes stored`,
    );
  }

  async function slotLsn(slot: string): Promise<bigint> {
    const [r] = await pg.superuser(
      "SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1",
      [slot],
    );
    return parseLsn(String(r!.lsn));
  }

  it("creates the publication and slot, and stores inserts, updates and deletes with their fields", async () => {
    const { name, table, slot, publication } = await setup();
    const { src } = await start(name, { slot, publication, tables: [table] });
    await streaming(src);
    expect(
      await pg.superuser("SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1", [slot]),
    ).to.have.length(1);
    await pg.query(`INSERT INTO ${table} VALUES (1, 'new', 12.50, '2026-01-31T12:00:00Z'), (2, 'new', 1, null)`);
    await pg.query(`UPDATE ${table} SET status = 'paid' WHERE id = 1`);
    await pg.query(`UPDATE ${table} SET id = 20 WHERE id = 2`);
    await pg.query(`DELETE FROM ${table} WHERE id = 1`);
    const changes = await storedAtLeast(name, 5);
    expect(changes.map((c) => c.body.operation)).to.deep.equal(["insert", "insert", "update", "update", "delete"]);
    const [ins, , upd, moved, del] = changes;
    expect(ins!.body).to.include({ table: `public.${table}`, operation: "insert", old: null });
    expect(ins!.body.new).to.deep.equal({ id: 1, status: "new", total: "12.50", at: "2026-01-31T12:00:00.000Z" });
    expect(ins!.attributes).to.include({ source: "postgres-cdc", table: `public.${table}`, operation: "insert" });
    expect(ins!.body.lsn).to.match(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(ins!.attributes.lsn).to.equal(ins!.body.lsn);
    expect(Date.parse(ins!.body.commitTime)).to.be.closeTo(Date.now(), 60_000);
    expect(ins!.id).to.match(/^cdc-[0-9a-f]{16}-0$/);
    expect(upd!.body.new).to.include({ id: 1, status: "paid" });
    expect(upd!.body.old, "the key did not change: no old row by default").to.equal(null);
    expect(moved!.body.old, "a changed key gives the old key").to.deep.equal({ id: 2 });
    expect(del!.body.new).to.equal(null);
    expect(del!.body.old).to.deep.equal({ id: 1 });
    await until(() => src.slotLagBytes !== undefined, 10_000, "the slot's lag read");
  });

  it("gives the whole old row with REPLICA IDENTITY FULL", async () => {
    const { name, table, slot, publication } = await setup();
    await pg.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
    await pg.query(`INSERT INTO ${table} VALUES (1, 'new', 5, null)`);
    const { src } = await start(name, { slot, publication, tables: [`public.${table}`], operations: ["update"] });
    await streaming(src);
    await pg.query(`UPDATE ${table} SET status = 'paid' WHERE id = 1`);
    const [upd] = await storedAtLeast(name, 1);
    expect(upd!.body.old).to.deep.equal({ id: 1, status: "new", total: "5", at: null });
    expect(upd!.body.new).to.deep.equal({ id: 1, status: "paid", total: "5", at: null });
  });

  it("keeps only the configured tables and operations", async () => {
    const { name, table, slot, publication } = await setup();
    const other = `${table}_other`;
    await pg.query(`CREATE TABLE ${other} (id integer PRIMARY KEY)`);
    await pg.query(`CREATE PUBLICATION ${publication} FOR TABLE ${table}, ${other}`);
    const { src } = await start(name, { slot, publication, tables: [table], operations: ["insert", "delete"] });
    await streaming(src);
    await pg.query(`INSERT INTO ${other} VALUES (1)`);
    await pg.query(`INSERT INTO ${table} VALUES (1, 'new', 1, null)`);
    await pg.query(`UPDATE ${table} SET status = 'paid'`);
    await pg.query(`DELETE FROM ${table}`);
    await pg.query(`INSERT INTO ${table} VALUES (2, 'last', 1, null)`);
    const changes = await storedAtLeast(name, 3);
    expect(changes.map((c) => `${c.body.operation} ${c.body.table}`)).to.deep.equal([
      `insert public.${table}`,
      `delete public.${table}`,
      `insert public.${table}`,
    ]);
    expect(src.counters.filtered).to.equal(2);
  });

  it("confirms nothing it did not persist: stopped before, the changes come again on the next start", async () => {
    const { name, table, slot, publication } = await setup();
    const first = await start(name, { slot, publication, tables: [table] }, { connection: undefined });
    await streaming(first.src);
    const before = await slotLsn(slot);
    for (let i = 1; i <= 5; i++) await pg.query(`INSERT INTO ${table} VALUES (${i}, 'new', ${i}, null)`);
    await until(() => first.src.counters.received === 5, 20_000, "the changes received");
    await until(() => first.env.logs.some((l) => l.event === "cdc-persist-failed"), 10_000, "a failed write");
    await first.src.stop();
    expect(first.src.counters.persisted).to.equal(0);
    const stoppedAt = await slotLsn(slot);
    expect(await stored(name)).to.have.length(0);

    const second = await start(name, { slot, publication, tables: [table] });
    await streaming(second.src);
    const changes = await storedAtLeast(name, 5);
    expect(changes.map((c) => c.body.new!.id)).to.deep.equal([1, 2, 3, 4, 5]);
    const firstCommit = parseLsn(changes[0]!.body.lsn);
    expect(stoppedAt <= firstCommit, "the slot did not move past unpersisted changes").to.equal(true);
    await until(async () => (await slotLsn(slot)) > before, 10_000, "the slot confirmed once persisted");
    await second.src.stop();

    const third = await start(name, { slot, publication, tables: [table] });
    await streaming(third.src);
    await pg.query(`INSERT INTO ${table} VALUES (6, 'new', 6, null)`);
    await storedAtLeast(name, 6);
    expect(third.src.counters.received, "persisted and confirmed changes do not come again").to.equal(1);
    expect((await stored(name)).map((c) => c.body.new!.id)).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it("moves an idle slot along with the server's WAL, so that it pins none", async () => {
    const { name, table, slot, publication } = await setup();
    const { src } = await start(name, { slot, publication, tables: [table] });
    await streaming(src);
    await pg.query(`CREATE TABLE ${table}_noise (id serial PRIMARY KEY, pad text)`);
    await pg.query(`INSERT INTO ${table}_noise (pad) SELECT repeat('x', 200) FROM generate_series(1, 2000)`);
    const [r] = await pg.superuser("SELECT pg_current_wal_lsn()::text AS lsn");
    const after = parseLsn(String(r!.lsn));
    await until(async () => (await slotLsn(slot)) >= after, 20_000, "the slot confirmed past the noise");
    expect(await stored(name)).to.have.length(0);
    await until(
      () => src.slotLagBytes !== undefined && src.slotLagBytes < 64 * 1024,
      10_000,
      () => `lag ${src.slotLagBytes}`,
    );
  });

  it("stores a transaction larger than its write window whole, and confirms it", async () => {
    const { name, table, slot, publication } = await setup();
    const { src } = await start(name, { slot, publication, tables: [table] });
    await streaming(src);
    await pg.query(`INSERT INTO ${table} SELECT g, 'bulk', g, null FROM generate_series(1, 3000) g`);
    const [r] = await pg.superuser("SELECT pg_current_wal_lsn()::text AS lsn");
    await until(
      () => src.counters.persisted === 3000,
      60_000,
      () => `persisted ${src.counters.persisted}`,
    );
    const { state } = await jsm.streams.info(integrationStreams(TENANT, name).ingest);
    expect(state.messages).to.equal(3000);
    await until(async () => (await slotLsn(slot)) >= parseLsn(String(r!.lsn)), 20_000, "the transaction confirmed");
  });

  it("streams again after its replication connection is cut, from where it confirmed", async () => {
    const { name, table, slot, publication } = await setup();
    const { src, env } = await start(name, { slot, publication, tables: [table] });
    await streaming(src);
    await pg.query(`INSERT INTO ${table} VALUES (1, 'new', 1, null)`);
    await storedAtLeast(name, 1);
    await pg.superuser("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1", [
      slot,
    ]);
    await pg.query(`INSERT INTO ${table} VALUES (2, 'new', 2, null)`);
    await streaming(src, 2);
    const changes = await storedAtLeast(name, 2);
    expect(changes.map((c) => c.body.new!.id)).to.deep.equal([1, 2]);
    expect(env.logs.map((l) => l.event)).to.include("cdc-stream-failed");
  });

  it("runs in a flow: a committed row reaches the sinks through the ingest stream", async () => {
    const table = `flow_orders${++counter}`;
    await pg.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, status text)`);
    const config = pg.connectorConfig({
      slot: `vrsky_flow${counter}`,
      publication: `vrsky_flowpub${counter}`,
      tables: [table],
    });
    const r = await flow.integration(`cdcflow${counter}`, {
      source: { type: "postgres-cdc", config },
      steps: [
        { type: "map", config: { fields: { id: "body.new.id", status: "body.new.status", op: "body.operation" } } },
      ],
    });
    const sinks = new TestSinks();
    const events: string[] = [];
    const secrets = {
      configured: true,
      resolve: async () => new SecretValue(new TextEncoder().encode(PG_PASSWORD)),
      has: async () => true,
    };
    await flow.run(r, sinks.options({ secrets, log: (event) => void events.push(event) }));
    await until(() => events.includes("cdc-streaming"), 20_000, "the source streaming");
    await pg.query(`INSERT INTO ${table} VALUES (1, 'new')`);
    await sinks.until(() => sinks.of(`out.${r.metadata.name}`).length === 1, 20_000, "the change delivered");
    expect(sinks.of(`out.${r.metadata.name}`)[0]!.body).to.deep.equal({ id: 1, status: "new", op: "insert" });
  });

  it("streams from replica 0 only", async () => {
    const { name, table, slot, publication } = await setup();
    const { env } = await start(name, { slot, publication, tables: [table] }, { replica: 1 });
    expect(env.logs.map((l) => l.event)).to.include("cdc-not-streaming");
    expect(await pg.superuser("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slot])).to.have.length(0);
  });
});
