import { expect } from "chai";
import { jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import type { IntegrationStatusRecord } from "../../engine/contract/dataplane.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/** Trace streams are one per tenant, shared by its integrations (docs/state.md, "The data plane"). */
describe("reconciler: one trace stream per tenant", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });

  const reconciler = (): Promise<Reconciler> => fx.reconciler({ resyncMs: 3_600_000, sharedServers: [fx.url] });

  const traceStreams = async (jsm: JetStreamManager): Promise<string[]> => {
    const out: string[] = [];
    for await (const n of jsm.streams.names()) if (n.startsWith("trace_")) out.push(n);
    return out.sort();
  };

  const ready = async (key: string): Promise<boolean> => {
    const e = await (await bucket(fx.nc, "integrationStatus")).get(key);
    const r = e?.operation === "PUT" ? e.json<IntegrationStatusRecord>() : undefined;
    return r?.conditions.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  };

  /** A trace stream of the layout before: one per integration, with the integration's trace subjects. */
  const legacy = async (jsm: JetStreamManager, tenant: string, integration: string) => {
    await jsm.streams.add({
      name: `trace_${tenant}_${integration}`,
      subjects: [`vrsky.${tenant}.trace.${integration}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    });
    await fx.nc.publish(`vrsky.${tenant}.trace.${integration}.done`, "{}");
    await fx.nc.flush();
  };

  it("moves a tenant's per-integration trace streams to its one stream, which its integrations share", async () => {
    const jsm = await jetstreamManager(fx.nc);
    // Before this version: hook and an integration since removed each had their own trace stream.
    await legacy(jsm, "acme", "hook");
    await legacy(jsm, "acme", "gone");
    const repo = fx.repo;
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/hook.yaml", integrationYaml("acme", "hook"))
      .write("integrations/acme/other.yaml", integrationYaml("acme", "other"));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await until(
      async () => (await ready("acme.hook")) && (await ready("acme.other")),
      20_000,
      "both integrations Ready",
    );
    expect(await traceStreams(jsm), "the old streams deleted, the tenant's made").to.deep.equal(["trace_acme"]);
    const config = (await jsm.streams.info("trace_acme")).config;
    expect(config.subjects).to.deep.equal(["vrsky.acme.trace.>"]);
    expect(config.max_age, "24 hours").to.equal(24 * 3600 * 1e9);
  });

  it("purges a deleted integration's traces; deletes a removed tenant's stream (and one nothing knows) in the shared account", async () => {
    const jsm = await jetstreamManager(fx.nc);
    const repo = fx.repo;
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/globex.yaml", tenantYaml("globex"))
      .write("integrations/acme/hook.yaml", integrationYaml("acme", "hook"))
      .write("integrations/acme/other.yaml", integrationYaml("acme", "other"))
      .write("integrations/globex/hook.yaml", integrationYaml("globex", "hook"));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    expect(await traceStreams(jsm)).to.deep.equal(["trace_acme", "trace_globex"]);
    for (const s of ["vrsky.acme.trace.hook.done", "vrsky.acme.trace.other.done", "vrsky.acme.trace.other.seq.1"])
      await fx.nc.publish(s, "{}");
    await fx.nc.flush();

    repo.remove("integrations/acme/other.yaml").remove("integrations/globex/hook.yaml").remove("tenants/globex.yaml");
    await waitForSync(fx.nc, appliedAt(repo.commit("remove other and globex\n\nVrsky-Allow-Prune: true")));
    await until(async () => (await traceStreams(jsm)).length === 1, 20_000, "globex's trace stream deleted");
    expect(await traceStreams(jsm)).to.deep.equal(["trace_acme"]);
    const left = await jsm.streams.info("trace_acme", { subjects_filter: ">" });
    expect(left.state.subjects, "only hook's traces are left").to.deep.equal({ "vrsky.acme.trace.hook.done": 1 });

    // A tenant's trace stream that no run knows of (its tenant removed while no reconciler ran): the pass's end.
    await jsm.streams.add({ name: "trace_ghost", subjects: ["vrsky.ghost.trace.>"], storage: StorageType.File });
    r.trigger("resync");
    await until(async () => !(await traceStreams(jsm)).includes("trace_ghost"), 20_000, "trace_ghost deleted");
    expect(await traceStreams(jsm)).to.deep.equal(["trace_acme"]);
  });
});
