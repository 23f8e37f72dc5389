import { expect } from "chai";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type pg from "pg";
import { DeadLetters } from "../../engine/dataplane/dead-letters.js";
import { integrationStreams, MAX_IN_FLIGHT_PER_REPLICA } from "../../engine/contract/dataplane.js";
import { CSV_CHUNK_ROWS } from "../../engine/worker/flow/sources/file-format.js";
import { DataPlane, flowYaml, httpSinks } from "../helpers/e2e-dataplane.js";
import { lossAndDuplicates, RecordingReceiver } from "../helpers/e2e-traffic.js";
import { tenantYaml } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { PG_PASSWORD, usePostgres } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";
import type { WorkerLife } from "../helpers/workers.js";

/*
 * Kill -9 of the worker that runs a connector's replica, through the processes a user runs (`vrsky reconcile`,
 * `vrsky worker`s with --file-root and --secrets-dir, a nats-server in operator mode, a private PostgreSQL with
 * wal_level=logical, an HTTP receiver on loopback): the replica moves to the other worker, nothing is lost, and the
 * repeats are bounded by what the killed replica held unacknowledged (the consumer's ack-pending count read just
 * after the kill: the only messages JetStream hands out again).
 */

const T = "acme";
/** A loaded 2-core machine: a worker starved of CPU for a second must not fence itself. */
const WORKER = { heartbeat: "500ms", expiry: "4s" } as const;

describe("connectors end to end: kill -9 of a worker during a CSV load and during CDC streaming (processes)", function () {
  this.timeout(180_000);
  const pg = usePostgres();
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  const receiver = new RecordingReceiver();
  const dir = mkdtempSync(join(tmpdir(), "vrsky-connectors-kill-"));
  const fileRoot = join(dir, "files");
  let dp: DataPlane;
  let jsm: JetStreamManager;
  let tenantNc: NatsConnection;

  before(async function () {
    this.timeout(90_000);
    await receiver.start();
    mkdirSync(join(dir, "secrets", T), { recursive: true });
    writeFileSync(join(dir, "secrets", T, "shop-db"), PG_PASSWORD);
    fx.repo.write(`tenants/${T}.yaml`, tenantYaml(T));
    const rev = fx.repo.commit("tenant");
    dp = new DataPlane(fx, { keep: true, secretsDir: join(dir, "secrets") });
    await dp.startReconciler(rev);
    tenantNc = await fx.operator.connectTenant(T);
    jsm = await jetstreamManager(tenantNc);
  });

  after(async () => {
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(`      logs: ${dp.dumpLogs(this.currentTest.fullTitle())}`);
  });

  /** Commits `spec` as the only integration of the tenant and waits until it is applied (streams made). */
  async function only(name: string, spec: Record<string, unknown>): Promise<void> {
    const folder = join(fx.repo.dir, "integrations", T);
    for (const f of existsSync(folder) ? readdirSync(folder) : []) rmSync(join(folder, f));
    fx.repo.write(`integrations/${T}/${name}.yaml`, flowYaml(T, name, spec));
    await dp.applied(fx.repo.commit(name));
  }

  /** Two workers of this test; the one running the replica is the victim, the other the survivor. */
  async function twoWorkers(prefix: string, key: string): Promise<{ victim: WorkerLife; survivor: WorkerLife }> {
    const ids = [`${prefix}1`, `${prefix}2`];
    for (const id of ids) dp.startWorker(id, { ...WORKER, keep: false, fileRoot });
    await until(
      () => ids.every((id) => dp.state!.workers.get(id)?.state === "active"),
      30_000,
      () => `workers ${ids.join(", ")} registered`,
    );
    const placed = (await dp.running([key])).get(key)!;
    const victim = dp.workers.find((w) => w.id === placed && w.alive)!;
    const survivor = dp.workers.find((w) => ids.includes(w.id) && w.id !== placed)!;
    return { victim, survivor };
  }

  /** Kills the victim; then the messages it held (ack pending on the shared consumer) and when it died. */
  async function kill(victim: WorkerLife, name: string): Promise<{ heldAtKill: number; killedAt: number }> {
    await victim.sigkill();
    const killedAt = performance.now();
    const s = integrationStreams(T, name);
    const info = await jsm.consumers.info(s.ingest, s.consumer);
    return { heldAtKill: info.num_ack_pending, killedAt };
  }

  /** Waits until the leader placed the replica on the survivor and it runs there. */
  async function movedTo(survivor: WorkerLife, key: string): Promise<void> {
    await until(
      () => dp.state!.assignments.get(key)?.worker === survivor.id,
      30_000,
      () => `the replica placed on ${survivor.id}\n${dp.state!.describe([key])}`,
    );
    await dp.running([key], 30_000);
  }

  /** Lives of the replica that ended: its starts in every worker's log, less the one running now. */
  function livesEnded(key: string): number {
    return dp.events("replica-running").filter((e) => e.key === key).length - 1;
  }

  /** Resolves on the first NOTIFY on `channel` (a trigger announcing a committed write). */
  async function firstNotify(client: pg.Client, channel: string): Promise<void> {
    const got = new Promise<void>((resolve) => client.once("notification", () => resolve()));
    await client.query(`LISTEN ${channel}`);
    return got;
  }

  it("CSV file → csv → postgres upsert: every row once, the file moved to done, repeats within the killed replica's chunks", async () => {
    const name = "csvload";
    const key = `${T}.${name}.0`;
    const rows = 5_000;
    // Every committed write of a row counts in `versions` (an upsert of an existing row adds 1), and each
    // statement that wrote rows announces itself.
    await pg.query(
      "CREATE TABLE products (sku text PRIMARY KEY, name text NOT NULL, price numeric NOT NULL, stock integer NOT NULL, versions integer NOT NULL DEFAULT 1)",
    );
    await pg.query(
      "CREATE FUNCTION products_version() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.versions := OLD.versions + 1; RETURN NEW; END $$",
    );
    await pg.query(
      "CREATE TRIGGER products_version BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION products_version()",
    );
    await pg.query(
      "CREATE FUNCTION products_written() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('products_written', ''); RETURN NULL; END $$",
    );
    await pg.query(
      "CREATE TRIGGER products_written AFTER INSERT OR UPDATE ON products FOR EACH STATEMENT EXECUTE FUNCTION products_written()",
    );
    const tenantRoot = join(fileRoot, T);
    for (const d of ["inbox", "done"]) mkdirSync(join(tenantRoot, d), { recursive: true });
    await only(name, {
      replicas: 1,
      source: {
        type: "file",
        config: {
          directory: "inbox",
          pattern: "*.csv",
          format: "csv",
          afterRead: "move",
          moveTo: "done",
          pollInterval: "200ms",
        },
      },
      steps: [{ name: "rows", type: "csv", config: { header: true, emit: "rows" } }],
      sinks: [
        {
          name: "products",
          type: "postgres",
          config: pg.connectorConfig({ table: "products", mode: "upsert", key: ["sku"] }),
        },
      ],
    });
    const { victim, survivor } = await twoWorkers("c", key);

    const lines = ["sku,name,price,stock"];
    for (let i = 0; i < rows; i++) lines.push(`S-${String(i).padStart(5, "0")},item ${i},${(i % 997) + 0.5},${i % 50}`);
    const file = "products-load.csv";
    const listener = await pg.client();
    const loading = firstNotify(listener, "products_written");
    // Written beside the inbox and renamed in: the source never sees half a file.
    writeFileSync(join(tenantRoot, `.${file}.part`), `${lines.join("\n")}\n`);
    renameSync(join(tenantRoot, `.${file}.part`), join(tenantRoot, "inbox", file));
    await loading;
    const { heldAtKill } = await kill(victim, name);
    const [atKill] = await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM products");
    expect(atKill!.n, "the kill came mid-load").to.be.greaterThan(0).and.lessThan(rows);

    await movedTo(survivor, key);
    // Messages the killed replica held come back after the consumer's ack wait (ACK_WAIT_MS, 10 s).
    await until(
      async () => {
        const [r] = await pg.query<{ n: number }>("SELECT count(*)::int AS n FROM products");
        return r!.n === rows && existsSync(join(tenantRoot, "done", file));
      },
      90_000,
      "every row in the table and the file moved to done",
      250,
    );
    // Settled: the consumer holds nothing more (a late repeat would change the version count).
    const s = integrationStreams(T, name);
    await until(
      async () => {
        const c = await jsm.consumers.info(s.ingest, s.consumer);
        return c.num_ack_pending === 0 && c.num_pending === 0;
      },
      60_000,
      "the consumer settled",
      250,
    );
    const table = await pg.query<{ sku: string; price: string; stock: number; versions: number }>(
      "SELECT sku, price::text, stock, versions FROM products ORDER BY sku",
    );
    const writes = table.reduce((n, r) => n + r.versions, 0);
    const repeats = writes - rows;
    const chunks = Math.ceil(rows / CSV_CHUNK_ROWS);
    const stored = (await jsm.streams.info(s.ingest)).state.last_seq;
    const ended = livesEnded(key);
    console.log(
      `      figures: ${rows} rows in ${chunks} chunks, ${atKill!.n} committed at the kill, ${heldAtKill} chunks ` +
        `held by the killed replica, ${writes} row writes (${repeats} repeated), ${stored} messages stored, ` +
        `${ended} replica lives ended`,
    );
    expect(table.map((r) => r.sku)).to.deep.equal(lines.slice(1).map((l) => l.split(",")[0]));
    expect(table[1234]).to.deep.include({ sku: "S-01234", price: `${(1234 % 997) + 0.5}`, stock: 1234 % 50 });
    expect(readdirSync(join(tenantRoot, "inbox")).filter((f) => !f.startsWith("."))).to.deep.equal([]);
    expect(readdirSync(join(tenantRoot, "inbox", ".vrsky", "claims", "0")), "no claim left").to.deep.equal([]);
    // No check of the `file-read` log line: the killed worker may have moved the file (every chunk stored) and died
    // before it wrote that line; the file in done/ and the empty inbox and claims say the same.
    // Each chunk stored once: a file read again after the kill gives the same message ids.
    expect(stored, "messages in the ingest stream").to.equal(chunks);
    // Only the chunks the killed replica held unacknowledged are delivered again, each of at most CSV_CHUNK_ROWS
    // rows (and, should the load make the survivor fence itself too, what it held: at most every chunk).
    const held = heldAtKill + Math.max(0, ended - 1) * chunks;
    expect(repeats, "repeated row writes").to.be.at.most(held * CSV_CHUNK_ROWS);
  });

  /**
   * postgres-cdc → HTTP with one-row transactions committed at a steady rate throughout; once 500 changes were
   * delivered, `disrupt` does its harm to the worker streaming and returns how many messages may come again.
   */
  async function cdcThrough(
    name: string,
    disrupt: (victim: WorkerLife, survivor: WorkerLife, key: string) => Promise<{ mayRepeat: number; what: string }>,
  ): Promise<void> {
    const key = `${T}.${name}.0`;
    const changes = 2_500;
    const rate = 250;
    await pg.query(`CREATE TABLE ${name} (id integer PRIMARY KEY, note text NOT NULL)`);
    await only(name, {
      replicas: 1,
      source: {
        type: "postgres-cdc",
        config: pg.connectorConfig({ slot: name, publication: name, tables: [name], operations: ["insert"] }),
      },
      sinks: httpSinks(receiver.url(`/${name}`)),
      // A loaded machine may starve the stand-in past the sink's timeout: retried, never dead-lettered here.
      retry: { maxAttempts: 50, initialBackoff: "500ms", maxBackoff: "5s" },
    });
    const { victim, survivor } = await twoWorkers(name.slice(0, 4), key);
    await victim.waitForLog((e) => e.event === "cdc-streaming" && e.key === key, 30_000);

    // One transaction per change, at a steady rate, on and on through the harm and the recovery.
    const writer = await pg.client();
    const began = performance.now();
    const writing = (async () => {
      for (let i = 0; i < changes; i++) {
        const due = began + (i * 1000) / rate - performance.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
        await writer.query(`INSERT INTO ${name} VALUES ($1, $2)`, [i, `change ${i}`]);
      }
    })();
    await receiver.until(
      () => receiver.delivered(`/${name}`).size >= 500,
      30_000,
      "500 changes delivered before the harm",
    );
    const harmedAt = performance.now();
    const deliveredAtHarm = receiver.delivered(`/${name}`).size;
    const { mayRepeat, what } = await disrupt(victim, survivor, key);
    const recoveredAfterMs = performance.now() - harmedAt;
    await writing;

    // The row ids received so far, each request's body read once (checked after every request).
    const received = new Set<number>();
    let read = 0;
    const ids = () => {
      for (; read < receiver.hits.length; read++) {
        const h = receiver.hits[read]!;
        if (h.path === `/${name}`) received.add((JSON.parse(h.body.toString()) as { new: { id: number } }).new.id);
      }
      return received;
    };
    const s = integrationStreams(T, name);
    await receiver
      .until(
        () => ids().size === changes,
        90_000,
        () => `all ${changes} changes delivered; have ${ids().size}`,
      )
      .catch(async (e: unknown) => {
        const have = ids();
        const missing = [...Array(changes).keys()].filter((i) => !have.has(i));
        const c = await jsm.consumers.info(s.ingest, s.consumer);
        const [ingest, dead] = await Promise.all([jsm.streams.info(s.ingest), jsm.streams.info(s.deadLetter)]);
        const letters = await (await DeadLetters.open(tenantNc, T, name)).list({ limit: 3 });
        const why = letters.items.map(
          (d) => `${d.context?.code}: ${d.context?.error} (attempts ${d.context?.attempts})`,
        );
        throw new Error(
          `${(e as Error).message}; missing ids ${JSON.stringify(missing.slice(0, 60))}; consumer pending ` +
            `${c.num_pending}, ack pending ${c.num_ack_pending}, redelivered ${c.num_redelivered}; ingest stored ` +
            `${ingest.state.last_seq}, holding ${ingest.state.messages}; dead letters ${dead.state.messages} ${JSON.stringify(why)}`,
        );
      });
    await until(
      async () => (await jsm.consumers.info(s.ingest, s.consumer)).num_ack_pending === 0,
      60_000,
      "the consumer settled",
      250,
    );
    const byKey = receiver.delivered(`/${name}`);
    const f = lossAndDuplicates(byKey.keys(), byKey);
    const stored = (await jsm.streams.info(s.ingest)).state.last_seq;
    const resumedFrom = dp
      .events("cdc-streaming")
      .filter((e) => e.key === key)
      .map((e) => `${e.life} from ${String(e.from)}`);
    const ended = livesEnded(key);
    console.log(
      `      figures: ${changes} changes, ${deliveredAtHarm} delivered at the ${what}, ${mayRepeat} held then, ` +
        `${f.duplicates} repeated (${f.duplicated} ids), ${stored} stored; streaming ${resumedFrom.join(", ")}; ` +
        `running again ${Math.round(recoveredAfterMs)} ms after the ${what}; ${ended} replica lives ended`,
    );
    // Every change by key (its row) and by message id (its commit LSN): one id per change.
    expect(ids().size).to.equal(changes);
    expect(byKey.size, "message ids (cdc-<commit LSN>-<n>)").to.equal(changes);
    for (const k of byKey.keys()) expect(k).to.match(/^cdc-[0-9a-f]{16}-0$/i);
    // Changes the slot streamed again (persisted, not yet confirmed) were stored once: JetStream's de-duplication.
    expect(stored, "messages in the ingest stream").to.equal(changes);
    expect((await jsm.streams.info(s.deadLetter)).state.messages, "dead letters").to.equal(0);
    // What the harmed life held; a life ended by a fence the load caused (seen on a loaded 2-core machine) hands
    // back at most its window too.
    expect(f.duplicates, "repeats").to.be.at.most(mayRepeat + Math.max(0, ended - 1) * MAX_IN_FLIGHT_PER_REPLICA);
  }

  it("postgres-cdc → HTTP, kill -9 mid-stream: every change delivered, each stored once; repeats within the killed replica's window", async () => {
    await cdcThrough("cdckill", async (victim, survivor, key) => {
      const { heldAtKill } = await kill(victim, "cdckill");
      await movedTo(survivor, key);
      return { mayRepeat: Math.min(heldAtKill, MAX_IN_FLIGHT_PER_REPLICA), what: "kill" };
    });
  });

  it("postgres-cdc → HTTP, the worker stalled past its fence (SIGSTOP 3.5 s): every change delivered, each stored once", async () => {
    await cdcThrough("cdcstall", async (victim, _survivor, key) => {
      const pid = victim.proc.child.pid!;
      process.kill(pid, "SIGSTOP");
      await new Promise((r) => setTimeout(r, 3_500));
      process.kill(pid, "SIGCONT");
      // Whoever runs it now (the stalled worker once unfenced, or the other one).
      await dp.running([key], 30_000);
      return { mayRepeat: MAX_IN_FLIGHT_PER_REPLICA, what: "stall" };
    });
  });
});
