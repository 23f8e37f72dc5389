import { expect } from "chai";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Reconciler } from "../../engine/reconciler/reconciler.js";
import { secretSource, type SecretSource } from "../../engine/secrets/sources.js";
import { hookYaml, tenantYaml } from "../helpers/manifests.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

/**
 * A resync's forced streams pass checks tenant after tenant; a commit that arrives meanwhile runs before the rest
 * of the pass (its run checks only what it changed), and a `resume` run finishes the pass.
 */
describe("reconciler: a commit does not wait for a resync's streams pass", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });
  const TENANTS = Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, "0")}`);
  let secretsDir: string;

  beforeEach(() => {
    secretsDir = mkdtempSync(join(tmpdir(), "vrsky-secrets-"));
    for (const t of TENANTS) {
      mkdirSync(join(secretsDir, t));
      writeFileSync(join(secretsDir, t, "url"), "https://example.invalid/hook");
    }
  });
  afterEach(() => rmSync(secretsDir, { recursive: true, force: true }));

  it("lets a commit that arrives during the pass go first, then finishes the pass in a resume run", async () => {
    const repo = fx.repo;
    for (const t of TENANTS)
      repo.write(`tenants/${t}.yaml`, tenantYaml(t)).write(`integrations/${t}/hook.yaml`, hookYaml(t, "hook", "url"));
    const runs: Array<{ trigger: string; outcome: string }> = [];
    const passes: Array<{ ensured: number; checked: number; due: number; force: boolean }> = [];
    // The forced pass asks whether each integration's secret is still there: the first time it asks, a commit
    // lands (the last tenant's integration changed), as if pushed while the pass ran.
    const files = secretSource({ secretsDir });
    let onForcedLookup: (() => void) | undefined;
    const secrets: SecretSource = {
      configured: true,
      resolve: (t, n, rev) => files.resolve(t, n, rev),
      has: (t, n, rev) => {
        const fire = onForcedLookup;
        onForcedLookup = undefined;
        fire?.();
        return files.has(t, n, rev);
      },
    };
    const r: Reconciler = await fx.reconciler({
      resyncMs: 3_600_000,
      sharedServers: [fx.url],
      secrets,
      log: (event, f = {}) => {
        if (event === "run") runs.push({ trigger: String(f.trigger), outcome: String(f.outcome) });
        if (event === "streams")
          passes.push({
            ensured: Number(f.ensured),
            checked: Number(f.checked),
            due: Number(f.due),
            force: f.force === true,
          });
      },
    });
    await r.start();
    await waitForSync(fx.nc, appliedAt(repo.commit()));
    await until(() => runs.length > 0 && passes.length > 0, 10_000, "the first run's streams pass");

    // A stream of a tenant late in the pass, deleted by hand: only the pass's check makes it again.
    const jsm = await jetstreamManager(fx.nc);
    await jsm.streams.delete("dlq_t10_hook");
    runs.length = 0;
    passes.length = 0;
    let changed = "";
    onForcedLookup = () => {
      repo.write("integrations/t11/hook.yaml", hookYaml("t11", "hook", "url") + "  replicas: 2\n");
      changed = repo.commit("t11: 2 replicas");
      r.trigger("commit");
    };
    r.trigger("resync");
    await until(() => passes.length > 2 && passes[passes.length - 1]!.due === 0, 20_000, "the pass's end");
    await waitForSync(fx.nc, appliedAt(changed));

    // Resume runs until the pass ends: one, or more when another trigger (the repository watch's own commit
    // event, late on a loaded machine) came while one ran and it checked only its minimum.
    const [first, second, ...rest] = runs.map((x) => `${x.trigger} ${x.outcome}`);
    expect([first, second]).to.deep.equal(["resync NoChange", "commit Applied"]);
    expect(rest.length, "resume runs").to.be.at.least(1);
    expect(new Set(rest)).to.deep.equal(new Set(["resume NoChange"]));
    const [resync, commit, ...resumes] = passes;
    // The commit landed as the pass began: the resync's run left the tenants it had not checked (all of them, as
    // they waited for the account's listing) to the resume run.
    expect(resync, "the resync's pass").to.deep.include({ force: true, due: 12 - resync!.checked });
    expect(resync!.due, "tenants left to the resume run").to.be.above(0);
    expect(resync!.ensured, "one integration per tenant checked").to.equal(resync!.checked);
    expect(commit, "the commit's own pass: only the changed integration").to.deep.include({
      checked: 0,
      due: resync!.due,
      ensured: 1,
    });
    const checked = resumes.reduce((n, p) => n + p.checked, 0);
    expect(checked, "the resume runs check the tenants left, each once").to.equal(resync!.due);
    expect(resumes[resumes.length - 1]!.due, "the pass ended").to.equal(0);
    expect((await jsm.streams.info("dlq_t10_hook")).config.name, "made again by the resumed pass").to.equal(
      "dlq_t10_hook",
    );
  });
});
