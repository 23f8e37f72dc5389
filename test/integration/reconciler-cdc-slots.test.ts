import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { jetstreamManager } from "@nats-io/jetstream";
import type { IntegrationStatusRecord } from "../../engine/contract/dataplane.js";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { secretSource } from "../../engine/secrets/sources.js";
import { PostgresCdcSource, postgresCdcSourceWith } from "../../engine/worker/flow/sources/postgres-cdc.js";
import { testEnv } from "../helpers/connector-env.js";
import { tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { PG_DATABASE, PG_PASSWORD, PG_USER, usePostgres } from "../helpers/postgres.js";
import { crashAt } from "../helpers/process.js";
import { until } from "../helpers/until.js";

const TENANT = "acme";

describe("reconciler: a deleted postgres-cdc integration's replication slot is dropped, and only then", function () {
  this.timeout(120_000);
  const pgc = usePostgres();
  const fx = useNats({ operator: true, repo: "test" });
  let secretsDir: string;
  let logs: Array<{ event: string; fields: Record<string, unknown> }>;
  let n = 0;
  let serverDown = false;

  beforeEach(() => {
    logs = [];
    secretsDir = mkdtempSync(join(tmpdir(), "vrsky-secrets-"));
    mkdirSync(join(secretsDir, TENANT));
    writeFileSync(join(secretsDir, TENANT, "shop-db"), PG_PASSWORD);
  });
  afterEach(async () => {
    rmSync(secretsDir, { recursive: true, force: true });
    if (serverDown) await pgc.startServer();
    serverDown = false;
  });

  const reconciler = (id = "test", extra: Parameters<typeof fx.reconciler>[0] = {}): Promise<Reconciler> =>
    fx.reconciler({
      id,
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      accounts: true,
      secrets: secretSource({ secretsDir }),
      log: (event, fields) => logs.push({ event, fields: fields ?? {} }),
      ...extra,
    });

  /** A fresh slot name, table and publication (the cluster lives for the whole file). */
  async function names(): Promise<{ slot: string; publication: string; table: string }> {
    const i = ++n;
    await pgc.query(`CREATE TABLE items${i} (id integer PRIMARY KEY, name text)`);
    await pgc.query(`CREATE PUBLICATION pub${i} FOR TABLE items${i}`);
    return { slot: `vrsky_slot${i}`, publication: `pub${i}`, table: `items${i}` };
  }

  function cdcYaml(name: string, slot: string, publication: string, extra = ""): string {
    return (
      `apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: ${name}\n  tenant: ${TENANT}\nspec:\n` +
      `  source:\n    type: postgres-cdc\n    config:\n` +
      `      host: 127.0.0.1\n      port: ${pgc.port}\n      database: ${PG_DATABASE}\n      user: ${PG_USER}\n` +
      `      secretRef: shop-db\n      sslmode: disable\n      slot: ${slot}\n      publication: ${publication}\n` +
      `  sinks:\n    - name: out\n      type: nats\n      config:\n        subject: out.${name}\n${extra}`
    );
  }

  const createSlot = (slot: string) =>
    pgc.superuser("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot], PG_DATABASE);

  async function slotRow(slot: string): Promise<{ active: boolean } | undefined> {
    const rows = await pgc.superuser("SELECT active FROM pg_replication_slots WHERE slot_name = $1", [slot]);
    return rows[0] as { active: boolean } | undefined;
  }

  const status = async (key: string): Promise<IntegrationStatusRecord | undefined> => {
    const e = await (await bucket(fx.nc, "integrationStatus")).get(key);
    return e?.operation === "PUT" ? e.json<IntegrationStatusRecord>() : undefined;
  };

  const logged = (event: string, slot: string) => logs.some((l) => l.event === event && l.fields.slot === slot);

  it("keeps the slot through a suspend, a reconciler restart and a resync; deleting the integration drops it", async () => {
    const { slot, publication } = await names();
    const repo = fx.repo;
    const path = "integrations/acme/changes.yaml";
    repo.write("tenants/acme.yaml", tenantYaml(TENANT)).write(path, cdcYaml("changes", slot, publication));
    const first = await reconciler("first");
    await first.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await createSlot(slot);

    const rec = await status("acme.changes");
    expect(rec?.cdcSlot).to.deep.equal({
      slot,
      host: "127.0.0.1",
      port: pgc.port,
      database: PG_DATABASE,
      user: PG_USER,
      secretRef: "shop-db",
      sslmode: "disable",
    });
    expect(JSON.stringify(rec), "the record names the secret, never its value").to.not.contain(PG_PASSWORD);

    repo.write(path, cdcYaml("changes", slot, publication, "  suspend: true\n"));
    await waitForSync(fx.nc, appliedAt(repo.commit("suspend")));
    await first.stop();
    const second = await reconciler("second");
    await second.start();
    const s = await waitForSync(fx.nc, (x) => x.reconciler === "second" && x.lastRun.outcome !== undefined);
    second.trigger("resync");
    await waitForSync(fx.nc, (x) => x.runs > s.runs);
    expect(await slotRow(slot), "suspended, restarted, resynced: the slot stays").to.not.equal(undefined);
    expect(logs.filter((l) => l.event.startsWith("cdc-slot-"))).to.deep.equal([]);

    repo.remove(path);
    await waitForSync(fx.nc, appliedAt(repo.commit("remove changes")));
    await until(async () => (await slotRow(slot)) === undefined, 20_000, "the slot dropped");
    await until(async () => (await status("acme.changes")) === undefined, 10_000, "the status record removed");
    expect(logs.find((l) => l.event === "cdc-slot-dropped")?.fields).to.include({
      key: "acme.changes",
      slot,
      found: true,
    });
  });

  it("keeps the slot of an integration renamed in one commit (the new name has the same slot)", async () => {
    const { slot, publication } = await names();
    const repo = fx.repo;
    repo.write("tenants/acme.yaml", tenantYaml(TENANT)).write(path("before"), cdcYaml("before", slot, publication));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await createSlot(slot);
    repo.remove(path("before")).write(path("after"), cdcYaml("after", slot, publication));
    await waitForSync(fx.nc, appliedAt(repo.commit("rename before to after")));
    await until(async () => (await status("acme.before")) === undefined, 10_000, "the old status record removed");
    expect(await slotRow(slot), "the renamed integration's slot").to.not.equal(undefined);
    expect(logged("cdc-slot-kept", slot)).to.equal(true);
    expect((await status("acme.after"))?.cdcSlot?.slot).to.equal(slot);
  });

  it("never drops the slot when a worker stops and another takes over: the changes in between arrive", async () => {
    const { slot, publication, table } = await names();
    const repo = fx.repo;
    repo.write("tenants/acme.yaml", tenantYaml(TENANT)).write(path("moves"), cdcYaml("moves", slot, publication));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    const tenantNc = await fx.operator.connectTenant(TENANT);
    // Each start is what a worker does when the replica lands on it; each stop what it does to hand it over.
    const source = async (worker: string): Promise<PostgresCdcSource> => {
      const secrets = { "shop-db": PG_PASSWORD };
      const env = testEnv({ tenant: TENANT, integration: "moves", connection: tenantNc, secrets });
      const src = (await postgresCdcSourceWith({ statusIntervalMs: 200 })(
        { ...cdcConfig(slot, publication), tables: [table] },
        env,
      )) as PostgresCdcSource;
      fx.defer(() => src.stop());
      await until(() => src.counters.sessions >= 1, 20_000, `${worker} streaming`);
      return src;
    };
    const one = await source("w1");
    await pgc.query(`INSERT INTO ${table} VALUES (1, 'a')`);
    await until(() => one.counters.confirmed >= 1, 20_000, "the first change confirmed");
    await one.stop();
    // Between the workers: a change nobody streams, and a forced run of the reconciler.
    await pgc.query(`INSERT INTO ${table} VALUES (2, 'b')`);
    const before = await waitForSync(fx.nc, () => true);
    r.trigger("resync");
    await waitForSync(fx.nc, (s) => s.runs > before.runs);
    expect(await slotRow(slot)).to.deep.equal({ active: false });
    const two = await source("w2");
    await until(() => two.counters.persisted >= 1, 20_000, "the change made between the workers");
    const jsm = await jetstreamManager(tenantNc);
    expect((await jsm.streams.info(integrationStreams(TENANT, "moves").ingest)).state.messages).to.equal(2);
    expect(logs.filter((l) => l.event.startsWith("cdc-slot-"))).to.deep.equal([]);
  });

  it("waits while a worker still streams the slot, then ends that connection after the grace and drops it", async () => {
    const { slot, publication } = await names();
    const repo = fx.repo;
    repo.write("tenants/acme.yaml", tenantYaml(TENANT)).write(path("busy"), cdcYaml("busy", slot, publication));
    const r = await reconciler("test", { cdcSlotBusyGraceMs: 3_000 });
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await createSlot(slot);
    // A replication connection that does not let go (a worker that has not noticed the deletion).
    const stuck = new pg.Client({
      host: "127.0.0.1",
      port: pgc.port,
      database: PG_DATABASE,
      user: PG_USER,
      password: PG_PASSWORD,
      replication: "database",
    } as pg.ClientConfig);
    stuck.on("error", () => undefined);
    await stuck.connect();
    fx.defer(() => stuck.end().catch(() => undefined));
    const ended = stuck
      .query(`START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names '${publication}')`)
      .then(
        () => "ended",
        () => "ended",
      );
    await until(async () => (await slotRow(slot))?.active === true, 10_000, "the slot active");

    const began = Date.now();
    repo.remove(path("busy"));
    await waitForSync(fx.nc, appliedAt(repo.commit("remove busy")));
    expect(logged("cdc-slot-busy", slot), "left alone at first").to.equal(true);
    expect(await slotRow(slot)).to.deep.equal({ active: true });
    expect(await status("acme.busy"), "the record stays until the slot is dropped").to.not.equal(undefined);
    await until(async () => (await slotRow(slot)) === undefined, 40_000, "the slot dropped");
    expect(Date.now() - began).to.be.greaterThanOrEqual(3_000);
    expect(logged("cdc-slot-terminated", slot)).to.equal(true);
    expect(await ended).to.equal("ended");
    await until(async () => (await status("acme.busy")) === undefined, 10_000, "the status record removed");
  });

  it("PostgreSQL down at the deletion: reported, the run goes on, and the slot is dropped once it is back", async () => {
    const { slot, publication } = await names();
    const repo = fx.repo;
    repo.write("tenants/acme.yaml", tenantYaml(TENANT)).write(path("down"), cdcYaml("down", slot, publication));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await createSlot(slot);

    await pgc.stopServer();
    serverDown = true;
    repo.remove(path("down")).write(path("other"), cdcYaml("other", `${slot}_b`, publication));
    const s = await waitForSync(fx.nc, appliedAt(repo.commit("replace down by other")));
    expect(s.lastRun.outcome).to.equal("Applied");
    await until(() => logged("cdc-slot-drop-failed", slot), 10_000, "the failed drop reported");
    const failed = logs.find((l) => l.event === "cdc-slot-drop-failed")!.fields;
    expect(failed).to.include({ key: "acme.down", retry: true, server: `127.0.0.1:${pgc.port}/${PG_DATABASE}` });
    expect(JSON.stringify(failed)).to.not.contain(PG_PASSWORD);
    expect((await status("acme.other"))?.conditions.find((c) => c.type === "StreamsReady")?.status).to.equal("True");
    expect((await status("acme.down"))?.cdcSlot?.slot, "kept while the slot is there").to.equal(slot);

    await pgc.startServer();
    serverDown = false;
    await until(async () => (await slotRow(slot)) === undefined, 60_000, "the slot dropped after the server is back");
    await until(async () => (await status("acme.down")) === undefined, 10_000, "the status record removed");
  });

  it("a reconciler killed between the deletion and the drop: the next one drops the slot", async () => {
    const { slot, publication } = await names();
    const repo = fx.repo;
    repo.write("tenants/acme.yaml", tenantYaml(TENANT)).write(path("gone"), cdcYaml("gone", slot, publication));
    const first = await reconciler("first");
    await first.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await first.stop();
    await createSlot(slot);

    repo.remove(path("gone"));
    const rev = repo.commit("remove gone");
    await crashAt("apply-write:1", [
      "reconcile",
      ...["--repo", repo.dir, "--nats", fx.url, "--keys", fx.keys.dir, "--id", "crashy"],
      ...["--lease-ttl", "2s", "--resync", "1h"],
    ]);
    const records = await bucket(fx.nc, "integrations");
    expect(await records.get("acme.gone").then((e) => e?.operation)).to.not.equal("PUT");
    expect(await slotRow(slot), "killed before its streams step").to.not.equal(undefined);

    const next = await reconciler("next");
    await next.start();
    await waitForSync(fx.nc, (s) => s.reconciler === "next" && appliedAt(rev)(s), 20_000);
    await until(async () => (await slotRow(slot)) === undefined, 20_000, "the slot dropped by the next reconciler");
    expect(await status("acme.gone")).to.equal(undefined);
  });

  function path(name: string): string {
    return `integrations/acme/${name}.yaml`;
  }

  function cdcConfig(slot: string, publication: string): Record<string, unknown> {
    return { ...pgc.connectorConfig(), slot, publication };
  }
});
