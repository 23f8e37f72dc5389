import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { IntegrationCondition, IntegrationStatusRecord } from "../../engine/contract/dataplane.js";
import type { Instance, Provisioner } from "../../engine/provision/provisioner.js";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { secretSource } from "../../engine/secrets/sources.js";
import { cli } from "../helpers/cli.js";
import { hookYaml, integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { crashAt } from "../helpers/process.js";
import { until } from "../helpers/until.js";

/** The data-plane streams of integrations in an account (other streams, such as KV buckets, left out). */
async function dataPlane(nc: NatsConnection): Promise<string[]> {
  const names: string[] = [];
  for await (const n of (await jetstreamManager(nc)).streams.names())
    if (/^(in|dlq|trace|OBJ_payloads)_/.test(n)) names.push(n);
  return names.sort();
}

/** An integration's own streams (`<tenant>_<integration>`); its traces are in its tenant's `trace_<tenant>`. */
const objectsOf = (id: string) => [`OBJ_payloads_${id}`, `dlq_${id}`, `in_${id}`];

/** Instances that report "starting" for the first `starting` calls of scale, then "ready" at `url`. */
class SlowProvisioner implements Provisioner {
  readonly kind = "local";
  calls = 0;
  constructor(
    private readonly url: string,
    private starting: number,
  ) {}
  async scale(t: { tenant: string }, count: number): Promise<Instance[]> {
    this.calls++;
    const state = this.starting-- > 0 ? "starting" : "ready";
    return Array.from({ length: count }, (_, index) => ({
      id: `${t.tenant}-${index}`,
      tenant: t.tenant,
      index,
      url: this.url,
      state,
      startedAt: new Date().toISOString(),
    }));
  }
  instances(): Instance[] {
    return [];
  }
  async remove(): Promise<void> {}
  onChange(): void {}
  async close(): Promise<void> {}
}

const condition = (r: IntegrationStatusRecord | undefined, type: IntegrationCondition["type"]) => {
  const c = r?.conditions.find((x) => x.type === type);
  return c ? { status: c.status, reason: c.reason } : undefined;
};

describe("reconciler: integrations' streams in their tenants' accounts, and their conditions", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, repo: "test" });
  let secretsDir: string;

  beforeEach(() => {
    secretsDir = mkdtempSync(join(tmpdir(), "vrsky-secrets-"));
    mkdirSync(join(secretsDir, "acme"));
    writeFileSync(join(secretsDir, "acme", "other"), "https://example.invalid/other");
  });
  afterEach(() => rmSync(secretsDir, { recursive: true, force: true }));

  const reconciler = (id = "test"): Promise<Reconciler> =>
    fx.reconciler({
      id,
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      accounts: true,
      secrets: secretSource({ secretsDir }),
    });

  const status = async (key: string): Promise<IntegrationStatusRecord | undefined> => {
    const e = await (await bucket(fx.nc, "integrationStatus")).get(key);
    return e?.operation === "PUT" ? e.json<IntegrationStatusRecord>() : undefined;
  };

  it("creates the streams and consumer with an integration, follows its spec, and deletes them with it", async () => {
    const repo = fx.repo;
    const path = "integrations/acme/orders.yaml";
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write(path, integrationYaml("acme", "orders"));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));

    const acme = await fx.operator.connectTenant("acme");
    const jsm = await jetstreamManager(acme);
    expect(await dataPlane(acme), "in the tenant's own account").to.deep.equal([
      ...objectsOf("acme_orders"),
      "trace_acme",
    ]);
    expect(await dataPlane(fx.nc), "none in the platform account").to.deep.equal([]);
    expect((await jsm.consumers.info("in_acme_orders", "run_acme_orders")).config.max_ack_pending).to.equal(256);
    const ready = await status("acme.orders");
    expect(ready?.revision).to.equal(repo.git("rev-parse", "HEAD"));
    expect(ready?.conditions.map((c) => [c.type, c.status, c.reason])).to.deep.equal([
      ["StreamsReady", "True", "Created"],
      ["SecretsResolved", "True", "NoSecrets"],
      ["Ready", "True", "Ready"],
      ["Degraded", "False", "AsExpected"],
    ]);

    repo.write(path, integrationYaml("acme", "orders", "  deadLetter:\n    retention: 2d\n"));
    await waitForSync(fx.nc, appliedAt(repo.commit("keep dead letters 2 days")));
    expect((await jsm.streams.info("dlq_acme_orders")).config.max_age).to.equal(2 * 86_400 * 1e9);

    repo.write(path, integrationYaml("acme", "orders", "  replicas: 3\n  deadLetter:\n    retention: 2d\n"));
    await waitForSync(fx.nc, appliedAt(repo.commit("3 replicas")));
    expect((await jsm.consumers.info("in_acme_orders", "run_acme_orders")).config.max_ack_pending).to.equal(768);
    expect((await status("acme.orders"))?.conditions[0]?.since, "a condition keeps its time").to.equal(
      ready!.conditions[0]!.since,
    );

    await acme.publish("vrsky.acme.trace.orders.done", "a completion batch");
    await acme.flush();
    repo.remove(path);
    await waitForSync(fx.nc, appliedAt(repo.commit("remove orders")));
    expect(await dataPlane(acme), "the tenant's trace stream stays").to.deep.equal(["trace_acme"]);
    expect((await jsm.streams.info("trace_acme")).state.messages, "the integration's traces purged").to.equal(0);
    expect(await status("acme.orders"), "the status record goes with the integration").to.equal(undefined);
  });

  it("a resync makes a deleted stream again and corrects one changed by hand (checked against one listing)", async () => {
    const repo = fx.repo;
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/acme/billing.yaml", integrationYaml("acme", "billing"));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    const acme = await fx.operator.connectTenant("acme");
    const jsm = await jetstreamManager(acme);
    const maxAge = (await jsm.streams.info("trace_acme")).config.max_age;
    await jsm.streams.delete("dlq_acme_orders");
    const trace = (await jsm.streams.info("trace_acme")).config;
    await jsm.streams.update("trace_acme", { ...trace, max_age: 3_600 * 1e9, duplicate_window: 60 * 1e9 });
    expect(await dataPlane(acme)).to.have.length(6);

    r.trigger("resync");
    await until(
      async () =>
        (await dataPlane(acme)).length === 7 && (await jsm.streams.info("trace_acme")).config.max_age === maxAge,
      20_000,
      "the deleted stream made again and the changed one corrected",
    );
    expect(await dataPlane(acme)).to.deep.equal(
      [...objectsOf("acme_billing"), ...objectsOf("acme_orders"), "trace_acme"].sort(),
    );
  });

  it("finishes a removal cut short between the records and the streams on the next start", async () => {
    const repo = fx.repo;
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/acme/billing.yaml", integrationYaml("acme", "billing"));
    const first = await reconciler("first");
    await first.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await first.stop();
    const acme = await fx.operator.connectTenant("acme");
    expect(await dataPlane(acme)).to.have.length(7);

    // `vrsky reconcile` deletes both records and is killed before its streams step.
    repo.remove("integrations/acme/orders.yaml").remove("integrations/acme/billing.yaml");
    // Both integrations of a tenant that stays: over the integration deletion guard, allowed by the trailer.
    const rev = repo.commit("remove both\n\nVrsky-Allow-Prune: true");
    await crashAt("apply-write:2", [
      "reconcile",
      ...["--repo", repo.dir, "--nats", fx.url, "--keys", fx.keys.dir, "--id", "crashy"],
      ...["--lease-ttl", "2s", "--resync", "1h"],
    ]);
    const records = await bucket(fx.nc, "integrations");
    expect(await records.get("acme.orders").then((e) => e?.operation)).to.not.equal("PUT");
    expect(await dataPlane(acme), "the streams outlived their records").to.have.length(7);
    // Worse than the crash: billing's status record is gone too, so only its streams tell of it.
    await (await bucket(fx.nc, "integrationStatus")).delete("acme.billing");

    const next = await reconciler("next");
    await next.start();
    await waitForSync(fx.nc, (s) => s.reconciler === "next" && appliedAt(rev)(s), 20_000);
    expect(await dataPlane(acme), "the tenant stays: its trace stream too").to.deep.equal(["trace_acme"]);
    expect(await status("acme.orders")).to.equal(undefined);
  });

  it("reports a tenant's JetStream limits as a condition while the run and other tenants go on", async () => {
    const repo = fx.repo;
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/small.yaml", tenantYaml("small", "  limits:\n    jetstream:\n      streams: 2\n"))
      .write("tenants/dedi.yaml", tenantYaml("dedi", "  tier: dedicated\n"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/small/tiny.yaml", integrationYaml("small", "tiny"))
      .write("integrations/dedi/far.yaml", integrationYaml("dedi", "far"));
    const r = await reconciler();
    await r.start();
    const s = await waitForSync(fx.nc, appliedAt(repo.commit()));
    expect(s.lastRun.outcome).to.equal("Applied");

    const small = await status("small.tiny");
    expect(condition(small, "StreamsReady")).to.deep.equal({ status: "False", reason: "StreamLimits" });
    expect(small?.conditions.find((c) => c.type === "StreamsReady")?.message).to.match(
      /maximum number of streams reached: 2 \(spec\.limits\.jetstream\.streams\).*needs 3 .* need 4\./,
    );
    expect(condition(small, "Ready")).to.deep.equal({ status: "False", reason: "StreamLimits" });
    expect(condition(small, "Degraded")).to.deep.equal({ status: "True", reason: "StreamLimits" });
    expect(condition(await status("dedi.far"), "StreamsReady")).to.deep.equal({
      status: "False",
      reason: "TenantUnavailable",
    });
    expect(condition(await status("acme.orders"), "Ready")).to.deep.equal({ status: "True", reason: "Ready" });

    // Raising the limit is enough: the commit that raises it creates the streams.
    repo.write("tenants/small.yaml", tenantYaml("small", "  limits:\n    jetstream:\n      streams: 8\n"));
    await waitForSync(fx.nc, appliedAt(repo.commit("room for small")));
    expect(condition(await status("small.tiny"), "Ready")).to.deep.equal({ status: "True", reason: "Ready" });
    expect(await dataPlane(await fx.operator.connectTenant("small"))).to.deep.equal([
      ...objectsOf("small_tiny"),
      "trace_small",
    ]);
  });

  it("retries a tenant whose instances are starting until they are ready, without failing a run", async () => {
    const repo = fx.repo;
    repo
      .write("tenants/dedi.yaml", tenantYaml("dedi", "  tier: dedicated\n"))
      .write("integrations/dedi/far.yaml", integrationYaml("dedi", "far"));
    // The dedicated instance is the test's server (it serves every account): ready after two runs.
    const provisioner = new SlowProvisioner(fx.url, 2);
    const runs: string[] = [];
    const r = await fx.reconciler({
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      accounts: true,
      provisioner,
      log: (e, f = {}) => void (e === "run" && runs.push(`${String(f.trigger)} ${String(f.outcome)}`)),
    });
    repo.commit();
    await r.start();
    const ready = await until(
      async () => {
        const st = await status("dedi.far");
        return condition(st, "Ready")?.status === "True" && st;
      },
      20_000,
      () => `dedi.far Ready; runs: ${runs.join(", ")}`,
      100,
    );
    expect(condition(ready, "StreamsReady")).to.deep.equal({ status: "True", reason: "Created" });
    expect(runs[0], "the first run applied; the tenant was not ready").to.equal("startup Applied");
    expect(runs.slice(1).every((x) => x === "retry NoChange")).to.equal(true, runs.join(", "));
    expect(provisioner.calls).to.equal(3);
    expect(await dataPlane(await fx.operator.connectTenant("dedi"))).to.deep.equal([
      ...objectsOf("dedi_far"),
      "trace_dedi",
    ]);
  });

  it("reports a missing secret by name, and resolves it once the secret is there", async () => {
    const repo = fx.repo;
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/hook.yaml", hookYaml("acme", "hook", "hook-url"));
    const r = await reconciler();
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    const missing = await status("acme.hook");
    expect(condition(missing, "StreamsReady")).to.deep.equal({ status: "True", reason: "Created" });
    expect(condition(missing, "SecretsResolved")).to.deep.equal({ status: "False", reason: "SecretMissing" });
    expect(missing?.conditions.find((c) => c.type === "SecretsResolved")?.message).to.include("'hook-url'");
    expect(condition(missing, "Ready")).to.deep.equal({ status: "False", reason: "SecretMissing" });
    expect(condition(missing, "Degraded")).to.deep.equal({ status: "True", reason: "SecretMissing" });

    const value = "https://hooks.example.invalid/T0/B0/very-secret-token";
    writeFileSync(join(secretsDir, "acme", "hook-url"), value);
    r.trigger("resync");
    await waitForSync(fx.nc, (s) => s.lastRun.trigger === "resync");
    const resolved = await status("acme.hook");
    expect(condition(resolved, "SecretsResolved")).to.deep.equal({ status: "True", reason: "Resolved" });
    expect(condition(resolved, "Ready")).to.deep.equal({ status: "True", reason: "Ready" });
    expect(JSON.stringify(resolved)).to.not.include("very-secret-token");
  });

  it("refuses at plan time a secretRef not sealed in a repository that keeps its secrets in secrets/", async () => {
    const repo = fx.repo;
    const text = hookYaml("acme", "hook", "hook-url");
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/hook.yaml", text);
    const base = repo.commit("no secrets folder: secrets come from a folder of files at run time");
    expect((await cli("validate", "--repo", repo.dir)).code).to.equal(0);

    repo.write("secrets/acme/other.age", "-----BEGIN AGE ENCRYPTED FILE-----\n");
    const head = repo.commit("a secrets folder, without hook-url");
    const line = text.split("\n").findIndex((l) => l.includes("secretRef")) + 1;
    const finding = {
      file: "integrations/acme/hook.yaml",
      line,
      column: text.split("\n")[line - 1]!.indexOf("hook-url") + 1,
      path: "spec.sinks[0].config.secretRef",
      code: "VRS_SECRET_MISSING",
    };
    const v = await cli("validate", "--repo", repo.dir, "--format", "json");
    expect(v.code).to.equal(1);
    const errors = (JSON.parse(v.stdout) as { errors: Array<Record<string, unknown>> }).errors;
    expect(errors).to.have.length(1);
    expect(errors[0]).to.include(finding);
    expect(errors[0]!.message).to.include("secrets/acme/hook-url.age");
    const p = await cli("plan", "--repo", repo.dir, "--base", base, "--head", head);
    expect(p.code).to.equal(1);
    expect(p.stdout)
      .to.include(`integrations/acme/hook.yaml:${line}:${finding.column}`)
      .and.include("VRS_SECRET_MISSING");
    // The reconciler validates the same way: nothing of the revision is applied.
    const r = await reconciler();
    await r.start();
    const s = await waitForSync(fx.nc, (x) => x.observedRevision === head);
    expect(s.lastRun.outcome).to.equal("Invalid");
    expect(s.lastRun.errors[0]).to.include(finding);

    repo.write("secrets/acme/hook-url.age", "-----BEGIN AGE ENCRYPTED FILE-----\n");
    repo.commit("seal hook-url");
    expect((await cli("validate", "--repo", repo.dir)).code).to.equal(0);
  });
});
