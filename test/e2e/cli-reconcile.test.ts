import { expect } from "chai";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { FastKeyPair } from "../../engine/accounts/fast-keys.js";
import { cli } from "../helpers/cli.js";
import { runVrsky } from "../helpers/cli-run.js";
import { expectCodedFailure } from "../helpers/codes.js";
import { TestRepo } from "../helpers/git-repo.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { bucket, snapshot, useNats, waitForSync } from "../helpers/nats.js";
import { VrskyProcess } from "../helpers/process.js";
import { expectPromtoolPasses } from "../helpers/promtool.js";
import { until } from "../helpers/until.js";

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

  it("up starts its own nats-server, reconciles, and stops everything on Ctrl-C; its log alone is on stderr, as JSON lines", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a"));
    repo.commit();
    const data = scratch("vrsky-up-");
    // At the default level, as a user runs it: what this test waits for is logged at info.
    const ports = ["--gateway-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"];
    const up = new VrskyProcess(["up", "--repo", repo.dir, "--data", data, ...ports], {
      ownGroup: true,
      env: { LOG_LEVEL: undefined, LOG_FORMAT: undefined },
    });
    const run = await up.waitForLog((e) => e.event === "run", 20_000);
    expect(run.outcome).to.equal("Applied");
    await up.waitForLog((e) => e.event === "replica-running", 20_000);
    await until(() => /VRSky is running\./.test(up.stdout), 20_000, "the summary (the gateway is ready)");
    // --listen (127.0.0.1:0 by default; it listens first) serves every in-process component's series.
    const probes = String((await up.waitForLog((e) => e.event === "listening")).url);
    const metrics = await (await fetch(`${probes}/metrics`)).text();
    expect(metrics).to.match(/^vrsky_reconciler_leader 1$/m);
    expect(metrics).to.match(/^vrsky_worker_replicas\{state="running"\} 1$/m);
    expect(metrics).to.match(/^vrsky_gateway_ready 1$/m);
    expect(metrics).to.match(/^vrsky_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
    await expectPromtoolPasses(metrics);
    // The status API, with the admin key up made in its data folder (mode 0600).
    const api = /status API +(http:\/\/[0-9.:]+)\/api\/v1\/sync/.exec(up.stdout)![1]!;
    const keyFile = join(data, "api-admin-key");
    expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
    const sync = await fetch(`${api}/api/v1/sync`, {
      headers: { authorization: `Bearer ${readFileSync(keyFile, "utf8").trim()}` },
    });
    expect(sync.status).to.equal(200);
    const body = (await sync.json()) as { ready: boolean; sync: { lastAppliedRevision: string | null } | null };
    expect(body.ready).to.equal(true);
    expect(body.sync?.lastAppliedRevision).to.match(/^[0-9a-f]{40}$/);
    expect((await fetch(`${api}/api/v1/sync`)).status, "without the key").to.equal(401);
    // up passes its repository: the plan of the head against the live state (applied: nothing to do).
    const plan = await fetch(`${api}/api/v1/plan`, {
      headers: { authorization: `Bearer ${readFileSync(keyFile, "utf8").trim()}` },
    });
    expect(plan.status).to.equal(200);
    expect(await plan.json()).to.deep.include({ revision: body.sync?.lastAppliedRevision, valid: true, changes: [] });
    const url = /NATS +(nats:\/\/[0-9.:]+)/.exec(up.stdout)![1]!;
    expect(url).to.not.equal(fx.url);
    // Ctrl-C reaches the whole process group: the nats-server it started must outlive the worker's drain.
    expect(await up.interrupt()).to.equal(0);
    const events = up.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events, "the worker drained and deregistered while NATS was still there").to.include.members([
      "drained",
      "deregistered",
    ]);
    expect(events).to.not.include.members(["fenced"]);
    expect(events).to.not.include.members(["deregister-failed"]);
    // `vrsky up 2>log; jq . log`: every line of stderr is a log line; the summary is on stdout only.
    const lines = up.stderr.split("\n");
    expect(lines.pop(), "stderr ends with a newline").to.equal("");
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of parsed)
      expect(Object.keys(line), JSON.stringify(line)).to.include.members([
        "level",
        "time",
        "msg",
        "pid",
        "hostname",
        "name",
        "event",
      ]);
    expect(new Set(parsed.map((l) => l.name))).to.deep.equal(new Set(["reconciler", "worker", "gateway", "api"]));
    expect(
      parsed.filter((l) => l.level === "debug"),
      "nothing below the default level",
    ).to.deep.equal([]);
    expect(new Set(parsed.map((l) => l.pid))).to.deep.equal(new Set([up.child.pid]));
    expect(up.stdout).to.match(/^created operator keys in .*\nstarting nats-server \(operator mode/);
    expect(up.stderr).to.not.contain("VRSky is running");
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

  it("every command given a user mistake exits 2 with a code and no stack trace", async function () {
    this.timeout(120_000);
    repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const dir = scratch("vrsky-mistakes-");
    const keys = join(dir, "keys");
    expect((await cli("init", "--keys", keys)).code).to.equal(0);
    const aFile = join(dir, "a-file");
    writeFileSync(aFile, "not a folder, not creds");
    const notRepo = join(dir, "no-repo");
    mkdirSync(notRepo);
    const missing = join(dir, "missing");
    const down = `nats://127.0.0.1:${await closedPort()}`;
    const user = FastKeyPair.create("user").getPublicKey();
    const n = ["--nats", fx.url];
    const cases: Array<[string[], string]> = [
      [["reconcile", "--repo", repo.dir, ...n, "--lease-ttl", "soon"], "VRS_USAGE"],
      [["reconcile", "--repo", repo.dir, ...n, "--max-delete-share", "2"], "VRS_USAGE"],
      [["reconcile", "--repo", notRepo, ...n], "VRS_GIT_NOT_A_REPO"],
      [["reconcile", "--repo", repo.dir, "--nats", down, "--once"], "VRS_NATS_UNAVAILABLE"],
      [["reconcile", "--repo", repo.dir, ...n, "--keys", missing], "VRS_KEYS_MISSING"],
      [["reconcile", "--repo", repo.dir, ...n, "--creds", missing], "VRS_CREDS_INVALID"],
      [["reconcile", "--repo", repo.dir, ...n, "--listen", "127.0.0.1:99999"], "VRS_USAGE"],
      [["status", "--nats", down], "VRS_NATS_UNAVAILABLE"],
      [["revoke", "--tenant", "Acme", "--user", user, ...n], "VRS_USAGE"],
      [["revoke", "--tenant", "acme", "--user", "Unope", ...n], "VRS_USAGE"],
      [["revoke", "--tenant", "acme", "--user", user, "--nats", down], "VRS_NATS_UNAVAILABLE"],
      [["revoke", "--tenant", "acme", "--user", user, ...n, "--creds", aFile], "VRS_CREDS_INVALID"],
      [["up", "--repo", repo.dir, "--worker-capacity", "lots"], "VRS_USAGE"],
      [["up", "--repo", notRepo], "VRS_GIT_NOT_A_REPO"],
      [["up", "--repo", repo.dir, "--data", join(aFile, "data")], "VRS_WRITE_FAILED"],
      [["up", "--repo", repo.dir, "--nats", down], "VRS_NATS_UNAVAILABLE"],
      [["init", "--keys", keys], "VRS_KEYS_EXIST"],
      [["init", "--keys", join(aFile, "keys")], "VRS_WRITE_FAILED"],
      [["creds", "--tenant", "acme", "--keys", missing], "VRS_KEYS_MISSING"],
      [["creds", "--tenant", "acme", "--keys", keys, "--generation", "x"], "VRS_USAGE"],
      [["worker", ...n, "--capacity", "0"], "VRS_USAGE"],
      [["worker", ...n, "--heartbeat", "1s", "--expiry", "2s"], "VRS_USAGE"],
      [["worker", ...n, "--labels", "=x"], "VRS_USAGE"],
      [["worker", ...n, "--id", "a.b"], "VRS_USAGE"],
      [["worker", "--nats", down], "VRS_NATS_UNAVAILABLE"],
      [["worker", ...n, "--creds", aFile], "VRS_CREDS_INVALID"],
      [["worker", ...n, "--keys", aFile], "VRS_KEYS_MISSING"],
      [["worker", ...n, "--id", "w-listen", "--listen", "127.0.0.1:99999"], "VRS_USAGE"],
      [["worker", ...n, "--repo", repo.dir], "VRS_USAGE"],
    ];
    for (const [args, code] of cases) expectCodedFailure(await cli(...args), code, args.join(" "));
    // The real program, as a user runs it: the same one line, no stack trace.
    expectCodedFailure(await runVrsky(["worker", "--nats", down]), "VRS_NATS_UNAVAILABLE");
    expectCodedFailure(await runVrsky(["creds", "--tenant", "acme", "--keys", missing]), "VRS_KEYS_MISSING");
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

/** A loopback port nothing listens on (a NATS that cannot be reached). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
