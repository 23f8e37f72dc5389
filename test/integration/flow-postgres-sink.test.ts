import { expect } from "chai";
import { SecretValue } from "../../engine/secrets/value.js";
import type { SecretSource } from "../../engine/secrets/sources.js";
import { postgresSink, PostgresSinkRuntime } from "../../engine/worker/flow/sinks/postgres.js";
import { SINKS } from "../../engine/worker/flow/connectors.js";
import type { FlowEnv, SinkOutcome } from "../../engine/worker/flow/types.js";
import { delivery, jsonMessage, testEnv } from "../helpers/connector-env.js";
import { envelope, FlowFixture } from "../helpers/flow.js";
import { useNats } from "../helpers/nats.js";
import { PG_PASSWORD, usePostgres } from "../helpers/postgres.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { until } from "../helpers/until.js";

describe("flow sinks: postgres", function () {
  this.timeout(60_000);
  const pg = usePostgres();
  const fx = useNats({ resetBuckets: false });
  const flow = new FlowFixture(fx);
  const open: PostgresSinkRuntime[] = [];
  let counter = 0;

  before(async () => {
    await flow.start();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  /** A fresh table `<name>` with an integer key, a not-null integer, a text and a jsonb column. */
  async function table(extra = ""): Promise<string> {
    const name = `t${++counter}`;
    await pg.query(
      `CREATE TABLE ${name} (id integer PRIMARY KEY, qty integer NOT NULL, note text, doc jsonb${extra ? `, ${extra}` : ""})`,
    );
    return name;
  }

  async function sink(config: Record<string, unknown>): Promise<PostgresSinkRuntime> {
    const s = (await postgresSink(
      pg.connectorConfig(config),
      testEnv({ secrets: { "shop-db": PG_PASSWORD } }),
    )) as PostgresSinkRuntime;
    open.push(s);
    return s;
  }

  /** Sends every body at once (one batch when they fit), in order; the outcomes in that order. */
  function sendAll(s: PostgresSinkRuntime, bodies: Array<Record<string, unknown>>): Promise<SinkOutcome[]> {
    return Promise.all(bodies.map((b, i) => s.send(delivery(jsonMessage(`m-${counter}-${i}`, b as never)))));
  }

  it("inserts concurrent sends in batches of up to batchSize, one transaction each", async () => {
    const t = await table();
    const s = await sink({ table: t, batchSize: 8 });
    const bodies = Array.from({ length: 20 }, (_, i) => ({
      id: i,
      qty: i * 2,
      note: `n${i}`,
      doc: { i, tags: ["a"] },
    }));
    const outcomes = await sendAll(s, bodies);
    expect(outcomes.every((o) => o.ok)).to.equal(true);
    expect(s.batches.reduce((a, b) => a + b, 0)).to.equal(20);
    expect(Math.max(...s.batches)).to.equal(8);
    expect(s.batches.length).to.be.lessThan(20);
    const rows = await pg.query(`SELECT id, qty, note, doc FROM ${t} ORDER BY id`);
    expect(rows).to.have.length(20);
    expect(rows[3]).to.deep.equal({ id: 3, qty: 6, note: "n3", doc: { i: 3, tags: ["a"] } });
  });

  it("upserts on the key, the last of a batch winning, with columns mapped by CEL", async () => {
    const t = await table();
    await pg.query(`INSERT INTO ${t} (id, qty, note) VALUES (1, 1, 'old')`);
    const s = await sink({
      table: `public.${t}`,
      mode: "upsert",
      key: ["id"],
      columns: {
        id: "body.order.id",
        qty: "body.order.lines.size()",
        note: '"order " + body.order.ref',
        doc: "body.order",
      },
    });
    const order = (id: number, ref: string, lines: number) => ({
      order: { id, ref, lines: Array.from({ length: lines }, (_, i) => ({ sku: `s${i}` })) },
    });
    const outcomes = await sendAll(s, [order(1, "a", 2), order(2, "b", 1), order(1, "c", 3), order(2, "d", 4)]);
    expect(outcomes.every((o) => o.ok)).to.equal(true);
    const rows = await pg.query(`SELECT id, qty, note, doc->>'ref' AS ref FROM ${t} ORDER BY id`);
    expect(rows).to.deep.equal([
      { id: 1, qty: 3, note: "order c", ref: "c" },
      { id: 2, qty: 4, note: "order d", ref: "d" },
    ]);
  });

  it("dead-letters a bad row with its column while the rest of the batch commits", async () => {
    const t = await table("code varchar(3)");
    const s = await sink({ table: t, batchSize: 10 });
    const outcomes = await sendAll(s, [
      { id: 1, qty: 1 },
      { id: 2, qty: null },
      { id: 3, qty: "lots" },
      { id: 4, qty: 4, code: "toolong" },
      { id: 5, qty: 5, nosuch: true },
      { id: 1, qty: 9 },
      { id: 6, qty: 6 },
    ]);
    expect(outcomes.map((o) => o.ok)).to.deep.equal([true, false, false, false, false, false, true]);
    const errors = outcomes.map((o) => (o.ok ? "" : `${o.code} ${o.error}`));
    expect(errors[1]).to.match(/^VRS_SINK_REJECTED .*column "qty".*not-null/);
    expect(errors[2]).to.match(/^VRS_SINK_REJECTED .*column "qty".*invalid input syntax for type integer/);
    expect(errors[3]).to.match(/^VRS_SINK_REJECTED .*column "code".*too long/);
    expect(errors[4]).to.match(/^VRS_SINK_REJECTED .*"nosuch".*does not exist/);
    expect(errors[5]).to.match(/^VRS_SINK_REJECTED .*column "id".*duplicate key/);
    const rows = await pg.query(`SELECT id, qty FROM ${t} ORDER BY id`);
    expect(rows).to.deep.equal([
      { id: 1, qty: 1 },
      { id: 6, qty: 6 },
    ]);
  });

  it("takes message data only as values: SQL in a field is stored as text, a quoted field name is no column", async () => {
    const t = await table();
    const s = await sink({ table: t, mode: "upsert", key: ["id"] });
    const evil = `x'); DROP TABLE ${t}; --`;
    const [stored, named] = await sendAll(s, [
      { id: 1, qty: 1, note: evil },
      { id: 2, qty: 2, [`note") VALUES (9, 9); DROP TABLE ${t}; --`]: "x" },
    ]);
    expect(stored!.ok).to.equal(true);
    expect(named!.ok).to.equal(false);
    expect(named!.ok || named!.code).to.equal("VRS_SINK_REJECTED");
    const rows = await pg.query(`SELECT id, note FROM ${t} ORDER BY id`);
    expect(rows).to.deep.equal([{ id: 1, note: evil }]);
    const other = await s.send(delivery(jsonMessage("not-object", [1, 2])));
    expect(other.ok || other.code).to.equal("VRS_SINK_REJECTED");
  });

  it("reports a connection lost in a batch as unavailable (retried), and writes again on a new connection", async () => {
    const t = await table();
    const s = await sink({ table: t });
    expect((await s.send(delivery(jsonMessage("warm", { id: 1, qty: 1 })))).ok).to.equal(true);
    const locker = await pg.client();
    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE ${t} IN ACCESS EXCLUSIVE MODE`);
    const blocked = s.send(delivery(jsonMessage("blocked", { id: 2, qty: 2 })));
    // Queued behind the batch that will fail: failed with it, never written after it (order is kept).
    const behind = s.send(delivery(jsonMessage("behind", { id: 3, qty: 3 })));
    const [waiting] = await until(
      async () => {
        const r = await pg.superuser(
          "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'vrsky-sink%' AND wait_event_type = 'Lock'",
        );
        return r.length > 0 ? r : undefined;
      },
      10_000,
      "the sink waiting for the lock",
    );
    await pg.superuser("SELECT pg_terminate_backend($1)", [waiting!.pid]);
    const outcome = await blocked;
    await locker.query("ROLLBACK");
    expect(outcome.ok || outcome.code).to.equal("VRS_SINK_UNAVAILABLE");
    const after = await behind;
    expect(after.ok || after.code).to.equal("VRS_SINK_UNAVAILABLE");
    expect((await s.send(delivery(jsonMessage("again", { id: 2, qty: 2 })))).ok).to.equal(true);
    expect(await pg.query(`SELECT id FROM ${t} ORDER BY id`)).to.deep.equal([{ id: 1 }, { id: 2 }]);
  });

  it("in a flow, the rows of one message (a CSV chunk) share the sink's batches, in their order", async () => {
    const t = await table();
    const runtimes: PostgresSinkRuntime[] = [];
    const sinks = {
      ...SINKS,
      postgres: async (c: Record<string, unknown>, e: FlowEnv) => {
        const rt = (await postgresSink(c, e)) as PostgresSinkRuntime;
        runtimes.push(rt);
        return rt;
      },
    };
    const secrets: SecretSource = {
      configured: true,
      resolve: async () => new SecretValue(new TextEncoder().encode(PG_PASSWORD)),
      has: async () => true,
    };
    const r = await flow.integration("pg-chunk", {
      steps: [{ name: "rows", type: "csv", config: { header: true, emit: "rows" } }],
      sinks: [{ name: "db", type: "postgres", config: pg.connectorConfig({ table: t, batchSize: 100 }) }],
    });
    await flow.run(r, { secrets, sinks });
    const csv = ["id,qty,note", ...Array.from({ length: 250 }, (_, i) => `${i},${i * 2},row ${i}`)].join("\n");
    await flow.writer(r).write({ ...envelope("chunk-1", null), contentType: "text/csv", body: Buffer.from(csv) });
    await until(
      async () => (await pg.query(`SELECT count(*)::int AS n FROM ${t}`))[0]!.n === 250,
      15_000,
      "250 rows written",
    );
    // One at a time (each row waiting for the one before) made 250 batches of 1.
    expect(runtimes[0]!.batches).to.deep.equal([100, 100, 50]);
    expect((await pg.query(`SELECT qty, note FROM ${t} WHERE id = 249`))[0]).to.deep.equal({
      qty: 498,
      note: "row 249",
    });
  });

  it("in a flow, retries a message while PostgreSQL cannot be reached and writes it once it can", async () => {
    const t = await table();
    const proxy = await new TcpProxy(pg.port).start();
    fx.defer(() => proxy.close());
    proxy.cut();
    const secrets: SecretSource = {
      configured: true,
      resolve: async () => new SecretValue(new TextEncoder().encode(PG_PASSWORD)),
      has: async () => true,
    };
    const events: string[] = [];
    const r = await flow.integration("pg-retry", {
      sinks: [{ name: "db", type: "postgres", config: pg.connectorConfig({ table: t, port: proxy.port }) }],
      retry: { maxAttempts: 100, initialBackoff: "100ms", maxBackoff: "300ms" },
    });
    await flow.run(r, { secrets, log: (event) => void events.push(event) });
    await flow.writer(r).write(envelope("order-1", { id: 7, qty: 3, note: "retried" }));
    await until(() => events.filter((e) => e === "postgres-sink-unavailable").length >= 2, 15_000, "failed attempts");
    proxy.restore();
    const rows = await until(
      async () => {
        const r = await pg.query(`SELECT id, qty, note FROM ${t}`);
        return r.length > 0 ? r : undefined;
      },
      15_000,
      "the row written after the retries",
    );
    expect(rows).to.deep.equal([{ id: 7, qty: 3, note: "retried" }]);
  });
});
