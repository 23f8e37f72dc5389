import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import { cli } from "../helpers/cli.js";
import { flowRecord, integrationStatus, REVISION } from "../helpers/dataplane-records.js";
import { useNats } from "../helpers/nats.js";
import { openState, type StateBuckets } from "../../engine/state/open.js";
import { integrationKey, replicaKey, STATUS_KEYS } from "../../engine/contract/keys.js";
import { BUCKETS } from "../../engine/contract/buckets.js";
import { STATE_FORMAT, type StateRecord } from "../../engine/contract/state.js";
import { STATUS_FORMAT, type SyncStatus } from "../../engine/contract/status.js";

const T0 = "2026-01-02T10:00:00.000Z";

function sync(): SyncStatus {
  return {
    format: STATUS_FORMAT,
    reconciler: "rec-1",
    branch: "main",
    observedRevision: REVISION,
    lastAppliedRevision: REVISION,
    conditions: [
      { type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: "", lastTransitionTime: T0 },
      { type: "Reconciling", status: "False", reason: "ReconciliationSucceeded", message: "", lastTransitionTime: T0 },
      { type: "Stalled", status: "False", reason: "ReconciliationSucceeded", message: "", lastTransitionTime: T0 },
    ],
    lastRun: {
      trigger: "commit",
      revision: REVISION,
      startedAt: T0,
      finishedAt: T0,
      durationMs: 3,
      outcome: "Applied",
      counts: { create: 0, update: 0, delete: 0, unchanged: 0, conflicts: 0, failed: 0 },
      errors: [],
      errorCount: 0,
      message: "applied",
    },
    runs: 1,
    driftCorrections: 0,
    notReady: [],
    updatedAt: T0,
  } as SyncStatus;
}

/** A state record of `acme` (a tenant) or of one of its integrations (`name`). */
function state(kind: "Tenant" | "Integration", name = "acme"): StateRecord {
  const metadata = kind === "Tenant" ? { name } : { name, tenant: "acme" };
  return {
    format: STATE_FORMAT,
    kind,
    revision: REVISION,
    hash: "sha256:x",
    resource: { kind, metadata, spec: {} } as unknown as StateRecord["resource"],
    appliedAt: T0,
    appliedBy: "rec-1",
  };
}

describe("vrsky status --resources: each integration's data-plane conditions and message counters", function () {
  this.timeout(30_000);
  const fx = useNats();
  let kv: StateBuckets;

  const put = (bucket: keyof StateBuckets, key: string, value: unknown) => kv[bucket].put(key, JSON.stringify(value));

  beforeEach(async () => {
    kv = await openState(fx.nc);
    await put("status", STATUS_KEYS.sync, sync());
    await put("tenants", "acme", state("Tenant"));
    await put("integrations", integrationKey("acme", "orders"), state("Integration", "orders"));
    await put("integrations", integrationKey("acme", "pings"), state("Integration", "pings"));
  });

  /** acme/orders: secrets missing (Degraded), two replicas reporting; acme/pings: nothing written yet. */
  async function dataPlane(): Promise<void> {
    await put(
      "integrationStatus",
      integrationKey("acme", "orders"),
      integrationStatus("acme", "orders", [
        { type: "StreamsReady", status: "True", reason: "Created", message: "", since: T0 },
        {
          type: "SecretsResolved",
          status: "False",
          reason: "SecretMissing",
          message: "tenant acme has no secret 'slack-webhook'",
          since: T0,
        },
        { type: "Ready", status: "False", reason: "SecretMissing", message: "", since: T0 },
        { type: "Degraded", status: "True", reason: "SecretMissing", message: "", since: T0 },
      ]),
    );
    await put(
      "flow",
      replicaKey("acme", "orders", 0),
      flowRecord("acme", "orders", 0, {
        counters: { received: 100, filtered: 20, delivered: 75, retried: 4, dead: 2 },
        inFlight: 3,
        deadLetterDepth: 2,
        pending: 7,
        updatedAt: "2026-01-02T10:00:05.000Z",
      }),
    );
    await put(
      "flow",
      replicaKey("acme", "orders", 1),
      flowRecord("acme", "orders", 1, {
        counters: { received: 20, filtered: 10, delivered: 13, retried: 0, dead: 1 },
        inFlight: 1,
        deadLetterDepth: 3,
        pending: 5,
        updatedAt: "2026-01-02T10:00:04.000Z",
      }),
    );
    // Not ours: left out of the counters (and listed under the bad records).
    await kv.flow.put(replicaKey("acme", "orders", 2), "not json");
  }

  it("text: conditions under each integration, counters summed over replicas (dead-letter depth: the largest)", async () => {
    await dataPlane();
    const r = await cli("status", "--nats", fx.url, "--resources");
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.split("\n");
    const at = lines.findIndex((l) => /^ {2}Integration acme\.orders /.test(l));
    expect(at, r.stdout).to.be.greaterThan(0);
    expect(lines.slice(at + 1, at + 6)).to.deep.equal([
      "      StreamsReady     True    Created",
      "      SecretsResolved  False   SecretMissing  tenant acme has no secret 'slack-webhook'",
      "      Ready            False   SecretMissing",
      "      Degraded         True    SecretMissing",
      "      messages: 120 received, 30 filtered, 88 delivered, 4 retried, 3 dead; 3 dead letters, 4 in flight, 7 pending (2 replicas, updated 2026-01-02T10:00:05.000Z)",
    ]);
    expect(lines[at + 6]).to.match(/^ {2}Integration acme\.pings /);
    expect(lines[at + 7]).to.not.match(/^ {6}/);
    const plain = await cli("status", "--nats", fx.url);
    expect(plain.stdout, "only with --resources").to.not.include("messages:");
  });

  it("json: dataPlane and flow on each integration (null when nothing was written), none on tenants", async () => {
    await dataPlane();
    const r = await cli("status", "--nats", fx.url, "--format", "json");
    expect(r.code, r.stderr).to.equal(0);
    const v = JSON.parse(r.stdout);
    const [tenant, orders, pings] = v.resources;
    expect(tenant).to.have.keys("kind", "key", "suspended", "lastAppliedRevision", "hash", "conditions");
    expect(orders.key).to.equal("acme.orders");
    expect(orders.dataPlane).to.deep.equal({
      revision: REVISION,
      conditions: [
        { type: "StreamsReady", status: "True", reason: "Created", message: "", since: T0 },
        {
          type: "SecretsResolved",
          status: "False",
          reason: "SecretMissing",
          message: "tenant acme has no secret 'slack-webhook'",
          since: T0,
        },
        { type: "Ready", status: "False", reason: "SecretMissing", message: "", since: T0 },
        { type: "Degraded", status: "True", reason: "SecretMissing", message: "", since: T0 },
      ],
      updatedAt: T0,
    });
    expect(orders.flow).to.deep.equal({
      replicas: 2,
      counters: { received: 120, filtered: 30, delivered: 88, retried: 4, dead: 3 },
      inFlight: 4,
      pending: 7,
      deadLetterDepth: 3,
      updatedAt: "2026-01-02T10:00:05.000Z",
    });
    expect(pings).to.deep.include({ key: "acme.pings", dataPlane: null, flow: null });
  });

  it("a fleet older than the data plane (no vrsky-flow, no vrsky-integration-status): nothing shown, no error", async () => {
    const jsm = await jetstreamManager(fx.nc);
    await jsm.streams.delete(`KV_${BUCKETS.flow}`);
    await jsm.streams.delete(`KV_${BUCKETS.integrationStatus}`);
    const text = await cli("status", "--nats", fx.url, "--resources");
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stderr).to.equal("");
    expect(text.stdout).to.match(/^ {2}Integration acme\.orders .*\n {2}Integration acme\.pings /m);
    const json = await cli("status", "--nats", fx.url, "--format", "json");
    expect(json.code, json.stderr).to.equal(0);
    const v = JSON.parse(json.stdout);
    expect(v.resources[1]).to.deep.include({ dataPlane: null, flow: null });
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    expect(names, "status created no bucket").to.not.include(`KV_${BUCKETS.flow}`);
  });
});
