import { expect } from "chai";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { cli } from "../helpers/cli.js";
import { runVrsky } from "../helpers/cli-run.js";
import { appliedAt, useNats, waitForSync } from "../helpers/nats.js";

/** The CI-facing outputs: SARIF and GitHub workflow commands from validate, Terraform's exit codes from plan. */
describe("vrsky validate --format sarif|github and plan --detailed-exitcode", () => {
  let repo: TestRepo;
  beforeEach(() => (repo = new TestRepo()));
  afterEach(() => repo.cleanup());

  const invalid = () =>
    repo
      .write("tenants/acme.yaml", tenantYaml("acme", "  tier: premium\n"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"))
      .commit();

  it("--format github: one ::error per finding with file, line, column and code, then the summary", async () => {
    invalid();
    const r = await cli("validate", "--repo", repo.dir, "--format", "github");
    expect(r.code).to.equal(1);
    const [first, ...rest] = r.stdout.trimEnd().split("\n");
    expect(first).to.match(
      /^::error file=tenants\/acme\.yaml,line=6,col=9,title=VRS_SCHEMA_ENUM%3A [^:]+::spec\.tier: /,
    );
    expect(rest.at(-1)).to.match(/^✗ 1 error in 1 file at HEAD/);
  });

  it("--format github escapes what a commit controls, so a file name cannot end the command or start another", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    repo.write("tenants/a,b:c%0A\n::warning::x.yaml", "kind: [").commit();
    const r = await cli("validate", "--repo", repo.dir, "--format", "github");
    expect(r.code).to.equal(1);
    const commands = r.stdout.split("\n").filter((l) => l.startsWith("::"));
    expect(commands).to.have.length(1);
    expect(commands[0]).to.include("file=tenants/a%2Cb%3Ac%250A%0A%3A%3Awarning%3A%3Ax.yaml,");
  });

  it("--format sarif: a SARIF 2.1.0 log with a rule per code and a located result per finding; none when valid", async () => {
    invalid();
    const r = await cli("validate", "--repo", repo.dir, "--format", "sarif");
    expect(r.code).to.equal(1);
    const log = JSON.parse(r.stdout);
    expect(log.version).to.equal("2.1.0");
    const run = log.runs[0];
    expect(run.tool.driver.name).to.equal("vrsky");
    expect(run.tool.driver.rules.map((x: { id: string }) => x.id)).to.deep.equal(["VRS_SCHEMA_ENUM"]);
    expect(run.results).to.have.length(1);
    expect(run.results[0]).to.deep.include({ ruleId: "VRS_SCHEMA_ENUM", ruleIndex: 0, level: "error" });
    expect(run.results[0].locations[0].physicalLocation).to.deep.equal({
      artifactLocation: { uri: "tenants/acme.yaml", uriBaseId: "%SRCROOT%" },
      region: { startLine: 6, startColumn: 9 },
    });
    expect(run.versionControlProvenance[0].revisionId).to.match(/^[0-9a-f]{40}$/);
    repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    const ok = await cli("validate", "--repo", repo.dir, "--format", "sarif");
    expect(ok.code).to.equal(0);
    expect(JSON.parse(ok.stdout).runs[0].results).to.deep.equal([]);
  });

  it("plan --detailed-exitcode: 0 without changes, 2 with changes, 1 for an invalid head and for a usage error", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    repo.git("branch", "base");
    const plan = (...extra: string[]) =>
      cli("plan", "--repo", repo.dir, "--base", "base", "--detailed-exitcode", ...extra);
    expect((await plan()).code, "no changes").to.equal(0);
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders")).commit();
    expect((await plan()).code, "changes").to.equal(2);
    expect((await cli("plan", "--repo", repo.dir, "--base", "base")).code, "without the flag").to.equal(0);
    expect((await cli("plan", "--repo", repo.dir, "--base", "no-such-ref")).code, "unknown ref, no flag").to.equal(2);
    expect((await plan("--base", "no-such-ref")).code, "unknown ref").to.equal(1);
    repo.write("tenants/acme.yaml", "kind: [").commit();
    expect((await plan()).code, "invalid head").to.equal(1);
    expect((await plan("--head", "no-such-ref")).code, "unknown ref").to.equal(1);
  });
});

describe("vrsky wait --for applied|ready --revision SHA", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });

  it("exits 0 once the revision is applied, 1 at once for an invalid one, and 1 after --timeout for one never seen", async () => {
    fx.repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const first = fx.repo.commit();
    const reconciler = await fx.reconciler({ id: "rec", resyncMs: 3_600_000, sharedServers: [fx.url] });
    await reconciler.start();
    fx.defer(() => reconciler.stop());
    await waitForSync(fx.nc, appliedAt(first));

    // Started before the commit exists: it waits, and ends when the reconciler has applied it.
    fx.repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    const second = fx.repo.commit();
    const applied = await runVrsky([
      "wait",
      "--nats",
      fx.url,
      "--revision",
      second,
      "--for",
      "ready",
      "--timeout",
      "30s",
    ]);
    expect(applied.code, applied.stdout + applied.stderr).to.equal(0);
    expect(applied.stdout).to.match(new RegExp(`^${second.slice(0, 12)} is ready \\(waited [0-9.]+s\\)\\.$`, "m"));

    fx.repo.write("tenants/acme.yaml", tenantYaml("acme", "  tier: premium\n"));
    const bad = fx.repo.commit();
    const failed = await runVrsky(["wait", "--nats", fx.url, "--revision", bad.slice(0, 7), "--format", "json"]);
    expect(failed.code).to.equal(1);
    const result = JSON.parse(failed.stdout);
    expect(result).to.include({ outcome: "failed", revision: bad.slice(0, 7), lastAppliedRevision: second });
    expect(result.errors[0]).to.include({ file: "tenants/acme.yaml", code: "VRS_SCHEMA_ENUM" });

    const never = await runVrsky(["wait", "--nats", fx.url, "--revision", "0123456789abcdef", "--timeout", "1s"]);
    expect(never.code).to.equal(1);
    expect(never.stdout).to.match(
      /^timed out after 1\.[0-9]s waiting for 0123456789ab to be applied: the reconciler last observed [0-9a-f]{12} and applied [0-9a-f]{12}\.$/m,
    );

    const usage = await runVrsky(["wait", "--nats", fx.url, "--revision", "main"]);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include("--revision must be a commit id");
  });
});

describe("environment variables for the common flags (VRSKY_NATS_URL, VRSKY_REPO, ...)", () => {
  let repo: TestRepo;
  let other: TestRepo;
  const saved = { ...process.env };
  beforeEach(() => {
    repo = new TestRepo();
    other = new TestRepo();
  });
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    repo.cleanup();
    other.cleanup();
  });

  it("a variable stands for its flag, the flag on the command line wins, and only the commands listed read it", async () => {
    repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
    other.write("tenants/acme.yaml", "kind: [").commit();
    process.env.VRSKY_REPO = repo.dir;
    expect((await cli("validate")).code, "VRSKY_REPO read").to.equal(0);
    expect((await cli("validate", "--repo", other.dir)).code, "--repo wins").to.equal(1);
    process.env.VRSKY_NATS_URL = "nats://127.0.0.1:1";
    const status = await cli("status");
    expect(status.code).to.equal(2);
    expect(status.stderr, "a required --nats is given by its variable").to.include(
      "cannot connect to nats://127.0.0.1:1",
    );
    const help = await cli("worker", "--help");
    expect(help.stdout).to.include("(env: VRSKY_NATS_URL)");
    expect(help.stdout, "worker's --repo (sealed secrets) stays explicit").to.not.include("VRSKY_REPO");
  });
});
