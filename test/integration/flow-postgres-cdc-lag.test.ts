import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { integrationStreams, type FlowRecord } from "../../engine/contract/dataplane.js";
import { integrationKey, replicaKey, STATUS_KEYS } from "../../engine/contract/keys.js";
import { STATUS_FORMAT, type SyncStatus } from "../../engine/contract/status.js";
import { STATE_FORMAT, type StateRecord } from "../../engine/contract/state.js";
import { secretSource } from "../../engine/secrets/sources.js";
import { postgresCdcSourceWith } from "../../engine/worker/flow/sources/postgres-cdc.js";
import type { StatusView } from "../../engine/views/status.js";
import { cli } from "../helpers/cli.js";
import { FlowFixture, slow, TENANT, TestSinks } from "../helpers/flow.js";
import { useNats } from "../helpers/nats.js";
import { openState } from "../../engine/state/open.js";
import { PG_PASSWORD, usePostgres } from "../helpers/postgres.js";
import { until } from "../helpers/until.js";

describe("postgres-cdc slot lag: from a real slot to the flow record, the read model and vrsky status", function () {
  this.timeout(90_000);
  const pgc = usePostgres();
  const fx = useNats({ resetBuckets: false });
  const flow = new FlowFixture(fx);
  let secretsDir: string;

  before(async () => {
    await flow.start();
    secretsDir = mkdtempSync(join(tmpdir(), "vrsky-secrets-"));
    mkdirSync(join(secretsDir, TENANT));
    writeFileSync(join(secretsDir, TENANT, "shop-db"), PG_PASSWORD);
  });
  after(() => rmSync(secretsDir, { recursive: true, force: true }));

  const slotLag = async (slot: string): Promise<number> => {
    const [row] = await pgc.superuser(
      "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1",
      [slot],
    );
    return Number(row?.lag);
  };

  it("a slot whose changes cannot be stored lags; replica 0's record, the status JSON and text show the bytes", async () => {
    await pgc.query("CREATE TABLE lagged (id integer PRIMARY KEY, pad text)");
    const slot = "vrsky_lagged";
    const r = await flow.integration("lagged", {
      source: {
        type: "postgres-cdc",
        config: { ...pgc.connectorConfig(), slot, publication: "lagged_pub", tables: ["lagged"] },
      },
      sinks: [{ name: "out", type: "nats", config: { subject: "hang" } }],
    });
    // The ingest stream takes one message, which the sink never finishes: the source can store no further change,
    // so it confirms nothing further and the slot holds every byte of WAL written after.
    const jsm = await jetstreamManager(fx.nc);
    const ingest = integrationStreams(TENANT, "lagged").ingest;
    await jsm.streams.update(ingest, { ...(await jsm.streams.info(ingest)).config, max_msgs: 1 });
    const sinks = new TestSinks().on("hang", slow(120_000));
    const events: string[] = [];
    const run = await flow.run(
      r,
      sinks.options({
        sources: { "postgres-cdc": postgresCdcSourceWith({ statusIntervalMs: 200, lagIntervalMs: 200 }) },
        secrets: secretSource({ secretsDir }),
        flowIntervalMs: 200,
        log: (event) => events.push(event),
      }),
    );
    const record = async (): Promise<FlowRecord | undefined> => {
      const e = await flow.flow.get(replicaKey(TENANT, "lagged", 0));
      return e?.operation === "PUT" ? e.json<FlowRecord>() : undefined;
    };
    await until(async () => (await record())?.slotLagBytes !== undefined, 20_000, "a first lag in the record");

    await pgc.query("INSERT INTO lagged VALUES (1, 'first')");
    await sinks.until(() => sinks.of("hang").length === 1, 20_000, "the first change at the sink");
    // A change that cannot be stored: from here on the source confirms nothing (not even an idle keepalive).
    await pgc.query("INSERT INTO lagged VALUES (2, 'second')");
    await until(() => events.includes("cdc-persist-failed"), 20_000, "the second change refused by the full stream");
    await pgc.query("INSERT INTO lagged SELECT g, repeat('x', 200) FROM generate_series(3, 3000) g");
    const lag = await slotLag(slot);
    expect(lag, "the server's own figure").to.be.greaterThan(500_000);
    const seen = await until(
      async () => {
        const n = (await record())?.slotLagBytes;
        return n !== undefined && n >= lag ? n : undefined;
      },
      20_000,
      `the record's lag at ${lag} bytes or more`,
    );
    expect(seen, "no more than the server says now").to.be.at.most(await slotLag(slot));

    // The read model: the integration in the state, as the reconciler would have applied it.
    const state: StateRecord = {
      format: STATE_FORMAT,
      kind: "Integration",
      revision: "rev-1",
      hash: "sha256:lagged",
      resource: r as unknown as StateRecord["resource"],
      appliedAt: new Date().toISOString(),
      appliedBy: "test",
    };
    const buckets = await openState(fx.nc);
    await buckets.integrations.put(integrationKey(TENANT, "lagged"), JSON.stringify(state));
    const json = await cli("status", "--nats", fx.url, "--resources", "--format", "json");
    expect(json.stdout, json.stderr).to.not.equal("");
    const view = JSON.parse(json.stdout) as StatusView;
    const item = view.resources.find((x) => x.key === "acme.lagged");
    expect(item?.flow?.slotLagBytes, json.stdout).to.be.at.least(lag);
    // The text form needs a reconcile to have run: a sync status as one would write it.
    const at = new Date().toISOString();
    const ok = { status: "True", reason: "ReconciliationSucceeded", message: "", lastTransitionTime: at } as const;
    const counts = { create: 1, update: 0, delete: 0, unchanged: 0, conflicts: 0, failed: 0 };
    const sync: SyncStatus = {
      format: STATUS_FORMAT,
      reconciler: "test",
      branch: "main",
      observedRevision: "rev-1",
      lastAppliedRevision: "rev-1",
      conditions: [
        { ...ok, type: "Ready" },
        { ...ok, type: "Reconciling", status: "False" },
        { ...ok, type: "Stalled", status: "False" },
      ],
      lastRun: {
        ...{ trigger: "commit", revision: "rev-1", startedAt: at, finishedAt: at, durationMs: 1, outcome: "Applied" },
        ...{ counts, errors: [], errorCount: 0, message: "applied" },
      },
      runs: 1,
      driftCorrections: 0,
      notReady: [],
      updatedAt: at,
    };
    await buckets.status.put(STATUS_KEYS.sync, JSON.stringify(sync));
    const text = await cli("status", "--nats", fx.url, "--resources");
    const line = text.stdout.split("\n").find((l) => l.includes("slot lag:"));
    expect(line, text.stdout).to.match(/^ {6}slot lag: \d+\.\d (KiB|MiB) \((\d+) bytes\)$/);
    expect(Number(/\((\d+) bytes\)/.exec(line!)![1])).to.be.at.least(lag);
    await run.stop();
  });
});
