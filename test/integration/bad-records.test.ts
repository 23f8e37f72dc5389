import { expect } from "chai";
import type { NatsConnection } from "@nats-io/transport-node";
import { BUCKETS, type BucketId } from "../../engine/contract/buckets.js";
import { LEASE_FORMAT } from "../../engine/contract/lease.js";
import {
  decodeAccount,
  decodeAssignment,
  decodeDiscovery,
  decodeIntegrationStatus,
  decodeInventory,
  decodeLease,
  decodeState,
  decodeSyncStatus,
  type RecordDecoder,
} from "../../engine/contract/record-checks.js";
import { openState, type StateBuckets } from "../../engine/state/open.js";
import { cli } from "../helpers/cli.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";

const USER = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";

/** A value in every bucket that is not a record of its contract: not JSON, a wrong shape, a wrong key, a far lease. */
function garbage(now: number): Array<[BucketId, string, string]> {
  return [
    ["tenants", "ghost", "not json{"],
    ["integrations", "acme.orders", JSON.stringify({ format: "vrsky.io/state/v1", resource: 5 })],
    ["status", "sync", JSON.stringify({ format: "vrsky.io/status/v1", conditions: 5, runs: "many" })],
    ["status", "placement", "\u001b[2J"],
    [
      "locks",
      "leader",
      JSON.stringify({ format: LEASE_FORMAT, holder: "ghost", epoch: 7, renewedAt: now, expiresAt: now + 3.6e9 }),
    ],
    ["discovery", "acme", "{"],
    ["accounts", "acme", JSON.stringify({ format: "vrsky.io/account/v1", tenant: "acme" })],
    ["revocations", `acme.${USER}`, "[]"],
    ["inventory", "acme", JSON.stringify({ format: "vrsky.io/inventory/v1", tenant: "acme", entries: 3 })],
    ["workers", "w-bad", "null"],
    ["assignments", "acme.orders.0", "7"],
    ["replicas", "acme.orders.0", "{}"],
    ["integrationStatus", "acme.orders", "true"],
    ["flow", "acme.orders.0", '"x"'],
  ];
}

/** Resolves with the first value at `key` that `decode` accepts and `pred` holds for (a watch, no polling). */
async function until<T>(kv: StateBuckets[BucketId], key: string, decode: RecordDecoder<T>, pred: (v: T) => boolean) {
  const iter = await kv.watch({ key });
  const timer = setTimeout(() => iter.stop(), 20_000);
  try {
    for await (const e of iter) {
      if (e.operation !== "PUT") continue;
      const d = decode(e.value, e.key);
      if (d.ok && pred(d.value)) return d.value;
    }
  } finally {
    clearTimeout(timer);
    iter.stop();
  }
  throw new Error(`timed out waiting for a good record at ${key}`);
}

/** Resolves once `key` holds no value (deleted or purged; a watch, no polling). */
async function untilGone(kv: StateBuckets[BucketId], key: string): Promise<void> {
  const iter = await kv.watch({ key });
  const timer = setTimeout(() => iter.stop(), 20_000);
  try {
    for await (const e of iter) if (e.operation !== "PUT") return;
  } finally {
    clearTimeout(timer);
    iter.stop();
  }
  throw new Error(`timed out waiting for ${key} to be deleted`);
}

describe("bad values in every platform bucket: reported, repaired or ignored, never a wedge or a crash", function () {
  this.timeout(90_000);
  const fx = useNats({ operator: true, repo: "test" });
  let nc: NatsConnection;
  let state: StateBuckets;

  beforeEach(async () => {
    nc = fx.nc;
    state = await openState(nc);
    for (const [b, key, value] of garbage(Date.now())) await state[b].put(key, value);
  });

  it("vrsky status prints every bad record (text and JSON) and exits 1, without a stack trace", async () => {
    const text = await cli("status", "--nats", fx.url, "--keys", fx.keys.dir);
    expect(text.code, text.stderr).to.equal(1);
    expect(text.stderr).to.equal("");
    expect(text.stdout).to.include("No reconcile has run against this NATS yet");
    expect(text.stdout).to.include("bad records: 10 value(s)");
    expect(text.stdout).to.include("vrsky-locks key leader: it lasts longer than the longest lease");
    expect(text.stdout).to.include("vrsky-status key sync: field");
    expect(text.stdout, "a value is never echoed").to.not.include("\u001b[2J");

    const json = await cli("status", "--nats", fx.url, "--keys", fx.keys.dir, "--format", "json");
    expect(json.code, json.stderr).to.equal(1);
    const view = JSON.parse(json.stdout) as {
      sync: unknown;
      leader: unknown;
      placement: unknown;
      invalidRecords: Array<{ bucket: string; key: string }>;
    };
    expect([view.sync, view.leader, view.placement]).to.deep.equal([null, null, null]);
    // Every bucket status reads (not discovery, accounts, revocations, inventory: the reconciler's own).
    expect(view.invalidRecords.map((r) => `${r.bucket} ${r.key}`)).to.deep.equal([
      `${BUCKETS.assignments} acme.orders.0`,
      `${BUCKETS.flow} acme.orders.0`,
      `${BUCKETS.integrationStatus} acme.orders`,
      `${BUCKETS.integrations} acme.orders`,
      `${BUCKETS.locks} leader`,
      `${BUCKETS.replicas} acme.orders.0`,
      `${BUCKETS.status} placement`,
      `${BUCKETS.status} sync`,
      `${BUCKETS.tenants} ghost`,
      `${BUCKETS.workers} w-bad`,
    ]);
  });

  it("a reconciler starts on them, leads, reports each with its bucket and key, converges and rewrites what it owns", async () => {
    const repo = fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    const rev = repo.commit();
    const logged: Array<Record<string, unknown>> = [];
    const reconciler = await fx.reconciler({
      id: "keyed",
      accounts: true,
      sharedServers: [fx.url],
      resyncMs: 3_600_000,
      log: (event, f) => void (event === "bad-record" && logged.push(f!)),
    });
    await reconciler.start();
    const sync = await until(state.status, "sync", decodeSyncStatus, (s) => s.observedRevision === rev);
    expect(sync.lastRun.outcome, sync.lastRun.message).to.equal("Applied");
    expect(sync.runs, "a bad previous status is not carried on").to.equal(1);

    // Each bad value the reconciler read, reported once with its bucket and key (never its value).
    const reported = new Set(logged.map((f) => `${String(f.bucket)} ${String(f.key)}`));
    // (Not the flow counters nor the placement summary: a reconciler writes them, never reads them.)
    for (const [b, key] of garbage(0).filter(([b, key]) => b !== "flow" && key !== "placement"))
      expect(reported, `reported: ${[...reported].join(", ")}`).to.include(`${BUCKETS[b]} ${key}`);
    expect(JSON.stringify(logged)).to.not.include("\u001b");

    // What the reconciler owns is rewritten from the desired state; what it does not own is left alone.
    const lease = await until(state.locks, "leader", decodeLease, () => true);
    expect(lease.holder).to.equal("keyed");
    expect(lease.epoch, "the epoch goes on from the bad lease's").to.equal(8);
    const entry = await until(state.discovery, "acme", decodeDiscovery, () => true);
    expect(entry.accountPublicKey).to.match(/^A[A-Z2-7]{55}$/);
    const account = await until(state.accounts, "acme", decodeAccount, () => true);
    expect(account.accountPublicKey).to.equal(entry.accountPublicKey);
    expect(await fx.resolver.lookup(account.accountPublicKey), "the account is pushed").to.be.a("string");
    const inventory = await until(state.inventory, "acme", decodeInventory, () => true);
    expect(inventory.entries.map((e) => e.kind)).to.deep.equal(["Account", "Discovery"]);
    const integration = await until(state.integrations, "acme.orders", decodeState, () => true);
    expect(integration.revision).to.equal(rev);
    expect(await state.tenants.get("ghost").then((e) => e?.operation), "a bad key git does not have").to.not.equal(
      "PUT",
    );
    // Stored under no worker (none is registered); the bad value at the key of the layout before is deleted.
    const assignment = await until(state.assignments, "unplaced.acme.orders.0", decodeAssignment, () => true);
    expect(assignment.worker, "no worker: not placed, with a reason").to.equal(null);
    await untilGone(state.assignments, "acme.orders.0");
    await until(state.integrationStatus, "acme.orders", decodeIntegrationStatus, () => true);
    expect(
      (await state.revocations.get(`acme.${USER}`))?.string(),
      "a bad revocation is ignored, not deleted",
    ).to.equal("[]");

    // And status now shows the fleet, with only the values nobody here owns as bad.
    const json = await cli("status", "--nats", fx.url, "--keys", fx.keys.dir, "--format", "json");
    expect(json.code, json.stderr).to.equal(0);
    const view = JSON.parse(json.stdout) as { invalidRecords: Array<{ bucket: string; key: string }> };
    expect(view.invalidRecords.map((r) => `${r.bucket} ${r.key}`)).to.deep.equal([
      `${BUCKETS.flow} acme.orders.0`,
      `${BUCKETS.replicas} acme.orders.0`,
      `${BUCKETS.workers} w-bad`,
    ]);
  });
});
