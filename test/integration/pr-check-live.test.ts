import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { runVrsky, type ProcessResult } from "../helpers/cli-run.js";
import { workerRecord } from "../helpers/api.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, bucket, useNats, waitForSync } from "../helpers/nats.js";
import { closedPort } from "../helpers/connector-env.js";
import { until } from "../helpers/until.js";

const TOKEN = "ghs_standInToken0123456789abcdefSECRET";

describe("vrsky pr-check --nats: the head against the live state, with read-only creds", function () {
  this.timeout(120_000);
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  let gh: GitHubStandIn;
  let tmp: string;
  let applied: string;
  let readerCreds: string;
  /** The zone of the worker that does not run acme.orders now: pinning acme there moves that replica. */
  let otherZone: string;
  const conns: NatsConnection[] = [];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "vrsky-prlive-"));
    fx.repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/old.yaml", tenantYaml("old"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .write("integrations/acme/pings.yaml", integrationYaml("acme", "pings"))
      .write("integrations/old/legacy.yaml", integrationYaml("old", "legacy"));
    applied = fx.repo.commit("live");
    const reconciler = await fx.reconciler({ accounts: true, resyncMs: 3_600_000, sharedServers: [fx.url] });
    const workers = await bucket(fx.nc, "workers");
    await workers.put("w1", JSON.stringify(workerRecord("w1", "s-1", { zone: "a" })));
    await workers.put("w2", JSON.stringify(workerRecord("w2", "s-2", { zone: "b" })));
    await reconciler.start();
    await waitForSync(fx.nc, appliedAt(applied));
    const placed = (k: string) => reconciler.controller.assignments.get(k)?.value.worker ?? null;
    await until(
      () => ["acme.orders.0", "acme.pings.0", "old.legacy.0"].every((k) => placed(k) !== null),
      20_000,
      "every replica placed",
    );
    otherZone = placed("acme.orders.0") === "w1" ? "b" : "a";
    // From here on the live state stays at `applied`; the pull request's base and head move on.
    await reconciler.stop();
    const out = join(tmp, "reader.creds");
    const issued = await runVrsky(["creds", "--reader", "--keys", fx.keys.dir, "--out", out]);
    expect(issued.code, issued.stderr).to.equal(0);
    expect(issued.stderr).to.match(/read-only creds \(platform account, user U[A-Z0-9]+\)/);
    readerCreds = out;
  });

  beforeEach(async () => {
    gh = await GitHubStandIn.start({ token: TOKEN });
  });

  afterEach(async () => {
    await gh.close();
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    rmSync(tmp, { recursive: true, force: true });
  });

  async function connectAs(credsFile: string): Promise<NatsConnection> {
    const nc = await connect({
      servers: fx.url,
      reconnect: false,
      authenticator: credsAuthenticator(readFileSync(credsFile)),
    });
    conns.push(nc);
    return nc;
  }

  function prCheck(base: string, head: string, extra: string[]): Promise<ProcessResult> {
    gh.pullHead = head;
    const event = join(tmp, "event.json");
    writeFileSync(event, JSON.stringify({ pull_request: { number: 7, head: { sha: head }, base: { sha: base } } }));
    return runVrsky(["pr-check", "--repo", fx.repo.dir, "--plan-file", join(tmp, "plan.md"), ...extra], 60_000, {
      GITHUB_EVENT_PATH: event,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: gh.url,
      GITHUB_REPOSITORY: "acme/manifests",
    });
  }

  it("the reader's creds read the state, and the server refuses their KV put and stream delete", async () => {
    const nc = await connectAs(readerCreds);
    const kv = await new Kvm(nc).open("vrsky-tenants");
    const entry = await kv.get("acme");
    expect(entry?.operation).to.equal("PUT");
    const before = entry!.string();
    let putError: unknown;
    await kv.put("acme", "overwritten").catch((e: unknown) => (putError = e));
    expect(String(putError)).to.match(/permission|timeout/i);
    let deleteError: unknown;
    await (await jetstreamManager(nc)).streams.delete("KV_vrsky-tenants").catch((e: unknown) => (deleteError = e));
    expect(String(deleteError)).to.match(/permission|timeout/i);
    // Read back as the platform: nothing changed.
    const platform = await new Kvm(fx.nc).open("vrsky-tenants");
    expect((await platform.get("acme"))!.string()).to.equal(before);
  });

  it("the comment and the check run show what the head really changes against the live state", async () => {
    // The base moved past the live state (not applied yet): only the live plan shows acme/extra's create.
    fx.repo.write("integrations/acme/extra.yaml", integrationYaml("acme", "extra"));
    const base = fx.repo.commit("extra, not applied");
    fx.repo
      .write(
        "tenants/acme.yaml",
        tenantYaml(
          "acme",
          `  tier: dedicated\n  accountKeyGeneration: 1\n  placement:\n    workerLabels:\n      zone: ${otherZone}\n`,
        ),
      )
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"))
      .write("tenants/newco.yaml", tenantYaml("newco"))
      .remove("tenants/old.yaml")
      .remove("integrations/old/legacy.yaml");
    const head = fx.repo.commit("acme goes dedicated, old goes, newco comes");
    const r = await prCheck(base, head, ["--nats", fx.url, "--creds", readerCreds]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).not.to.include("warning");
    expect(gh.violations).to.deep.equal([]);
    const body = gh.comments[0]!.body;
    const live = body.slice(body.indexOf("### Against the live state"));
    expect(body.indexOf("### Against the live state")).to.be.greaterThan(body.indexOf("### VRSky plan"));
    // acme/extra: created against the live state, unchanged between base and head.
    expect(live).to.include("| create | Integration `acme.extra` |");
    expect(body.slice(0, body.indexOf("### Against the live state"))).not.to.include("acme/extra");
    expect(live).to.include("**Accounts:** created `newco`; deleted `old`; key rotated: `acme`");
    expect(live).to.include("**NATS instances scaled:** `acme` 0 → 1");
    expect(live).to.include("**Replicas scaled:** `acme.orders` 1 → 2");
    expect(live).to.match(/\*\*Replicas\*\* \(placed over 2 live workers\): [1-9]\d* moved, 2 started, 1 stopped/);
    expect(live).to.include("`acme.orders.0`: `w");
    expect(live).to.include(
      "**Streams deleted:** `in_old_legacy`, `dlq_old_legacy`, `payloads_old_legacy` (traces purged from `trace_old`)",
    );
    const top = body.slice(0, body.indexOf("### VRSky plan"));
    expect(top).to.include("live: deletes the NATS account of tenant `old`");
    expect(top).to.include("live: rotates the account key of tenant `acme` (generation 0 → 1)");
    expect(top).to.include("live: deletes 2 streams of 1 integration");
    const run = [...gh.checkRuns.values()][0]!;
    expect(run.conclusion).to.equal("success");
    expect(run.output.summary).to.match(/\*\*Live state:\*\* 6 changes .*1 account created, 1 account deleted/);
  });

  it("creds that can write are refused before anything is reported", async () => {
    const r = await prCheck(applied, applied, ["--nats", fx.url, "--creds", fx.keys.files.platformCreds]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include("VRS_CREDS_WRITABLE");
    expect(r.stderr).to.include("vrsky creds --reader");
    expect(r.stderr).not.to.match(/^\s+at /m);
    expect(gh.requests).to.deep.equal([]);
    const usage = await prCheck(applied, applied, ["--creds", readerCreds]);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include("--creds is for --nats");
    // No creds at all: not known to be read-only, said on stderr; the check goes on.
    const bare = await prCheck(applied, applied, ["--nats", `nats://127.0.0.1:${await closedPort()}`]);
    expect(bare.code, bare.stderr).to.equal(0);
    expect(bare.stderr).to.include("warning: --nats without --creds: the connection is not known to be read-only");
  });

  it("NATS unreachable: the check still reports head against base and says the live plan was unavailable", async () => {
    const base = fx.repo.git("rev-parse", "HEAD");
    fx.repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 3\n"));
    const head = fx.repo.commit("orders: 3");
    const port = await closedPort();
    const r = await prCheck(base, head, ["--nats", `nats://127.0.0.1:${port}`, "--creds", readerCreds]);
    expect(r.code, r.stderr).to.equal(0);
    const run = [...gh.checkRuns.values()][0]!;
    expect(run.conclusion).to.equal("success");
    expect(run.output.summary).to.match(/\*\*Live state:\*\* unavailable \(cannot connect to nats:/);
    const body = gh.comments[0]!.body;
    expect(body).to.include("The live state could not be read");
    expect(body).to.include("### VRSky plan");
    expect(body).to.include("1 to update");
  });
});
