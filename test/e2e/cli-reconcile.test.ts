import { expect } from "chai";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { cli } from "../helpers/cli.js";
import type { TestRepo } from "../helpers/git-repo.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";
import { VrskyProcess } from "../helpers/process.js";

describe("vrsky reconcile, status and up as a user runs them", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });
  let repo: TestRepo;
  let nc: NatsConnection;
  beforeEach(() => {
    repo = fx.repo;
    nc = fx.nc;
  });

  /** A temporary folder, removed after the test. */
  function scratch(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    fx.defer(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  it("reconcile --once applies the head commit; status says Ready (exit 0) and lists resources", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    const rev = repo.commit();
    const once = await cli("reconcile", "--repo", repo.dir, "--nats", fx.url, "--once");
    expect(once.code, once.stderr).to.equal(0);
    expect(once.stdout).to.match(/^Applied: applied 2 create/);
    const st = await cli("status", "--nats", fx.url, "--format", "json");
    expect(st.code).to.equal(0);
    const view = JSON.parse(st.stdout);
    expect(view.sync.lastAppliedRevision).to.equal(rev);
    expect(view.counts).to.deep.equal({ tenants: 1, integrations: 1 });
    expect(view.resources.map((r: { key: string }) => r.key)).to.deep.equal(["acme", "acme.a"]);
    const text = await cli("status", "--nats", fx.url);
    expect(text.stdout).to.match(/^Ready: ReconciliationSucceeded/);
  });

  it("status exits 1 and shows the failing file, line and code after an invalid commit", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme", "  tier: gold\n"));
    repo.commit();
    const once = await cli("reconcile", "--repo", repo.dir, "--nats", fx.url, "--once");
    expect(once.code).to.equal(1);
    const st = await cli("status", "--nats", fx.url);
    expect(st.code).to.equal(1);
    expect(st.stdout).to.match(/Not ready: ValidationFailed/);
    expect(st.stdout).to.match(/tenants\/acme\.yaml:6:9 {2}VRS_SCHEMA_ENUM/);
  });

  it("follows a remote repository through a periodically fetched mirror", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    repo.commit();
    const state = scratch("vrsky-state-");
    new VrskyProcess([
      "reconcile",
      "--remote",
      `file://${repo.dir}`,
      "--state-dir",
      state,
      "--fetch-interval",
      "200ms",
      "--nats",
      fx.url,
      "--id",
      "remote",
    ]);
    await waitForSync(nc, (s) => s.lastRun.outcome === "Applied");
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    const rev = repo.commit("remote change");
    await waitForSync(nc, (s) => s.observedRevision === rev && s.lastRun.outcome === "Applied");
    expect((await snapshot(await bucket(nc, "integrations"))).has("acme.a")).to.equal(true);
  });

  it("up starts its own nats-server, reconciles, and stops everything on Ctrl-C", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    repo.commit();
    const data = scratch("vrsky-up-");
    const up = new VrskyProcess(["up", "--repo", repo.dir, "--data", data]);
    const run = await up.waitForLog((e) => e.event === "run", 20_000);
    expect(run.outcome).to.equal("Applied");
    expect(up.stdout).to.match(/VRSky is running\./);
    const url = /NATS +(nats:\/\/[0-9.:]+)/.exec(up.stdout)![1]!;
    expect(url).to.not.equal(fx.url);
    expect(await up.kill("SIGINT")).to.equal(0);
    expect(existsSync(join(data, "nats", "jetstream"))).to.equal(true);
    const after = await cli("status", "--nats", url);
    expect(after.code, "the local server is gone").to.equal(2);
  });

  it("rejects bad flags and a folder that is no repository before touching NATS (no process left hanging)", async () => {
    const proc = new VrskyProcess(["reconcile", "--repo", repo.dir, "--nats", fx.url, "--resync", "5x"]);
    expect(await proc.exited).to.equal(2);
    expect(proc.stderr).to.match(/--resync '5x' is not a duration/);
    const notRepo = scratch("vrsky-norepo-");
    const r = await cli("reconcile", "--repo", notRepo, "--nats", fx.url, "--once");
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/VRS_GIT_NOT_A_REPO/);
  });

  it("up without nats-server says how to install it and exits 2", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    repo.commit();
    const data = scratch("vrsky-up-");
    process.env.VRSKY_NATS_SERVER = "/nonexistent/nats-server";
    try {
      const r = await cli("up", "--repo", repo.dir, "--data", data);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/apt-get install -y nats-server/);
    } finally {
      delete process.env.VRSKY_NATS_SERVER;
    }
  });
});
