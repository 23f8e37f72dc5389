import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runVrsky, type ProcessResult } from "../helpers/cli-run.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";

const TOKEN = "ghs_standInToken0123456789abcdefSECRET";
const PASSING = `apiVersion: vrsky.io/v1\ncases:\n  - { name: passes through, input: { body: { a: 1 } }, expect: { sinks: { out: [ { body: { a: 1 } } ] } } }\n`;
const FAILING = `apiVersion: vrsky.io/v1\ncases:\n  - { name: wrong, input: { body: { a: 1 } }, expect: { sinks: { out: [ { body: { a: 2 } } ] } } }\n`;

describe("vrsky pr-check against a GitHub API stand-in", function () {
  let repo: TestRepo;
  let gh: GitHubStandIn;
  let tmp: string;
  let base: string;

  beforeEach(async () => {
    repo = new TestRepo();
    tmp = mkdtempSync(join(tmpdir(), "vrsky-prcheck-"));
    repo
      .write("tenants/acme.yaml", tenantYaml("acme", "  limits:\n    integrations: 5000\n"))
      .write("tenants/old.yaml", tenantYaml("old"));
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    repo.write("integrations/old/legacy.yaml", integrationYaml("old", "legacy"));
    base = repo.commit("base");
    gh = await GitHubStandIn.start({ token: TOKEN });
  });

  afterEach(async () => {
    await gh.close();
    repo.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** Runs pr-check in "GitHub Actions" for a pull request from base to head. */
  function prCheck(head: string, o: { pullHead?: string; base?: string } = {}): Promise<ProcessResult> {
    gh.pullHead = o.pullHead ?? head;
    const event = join(tmp, "event.json");
    // The merge commit's sha (what Actions checks out) must never be used.
    writeFileSync(
      event,
      JSON.stringify({
        pull_request: {
          number: 7,
          head: { sha: head },
          base: { sha: o.base ?? base },
          merge_commit_sha: "f".repeat(40),
        },
      }),
    );
    return runVrsky(["pr-check", "--repo", repo.dir, "--plan-file", join(tmp, "plan.md")], 30_000, {
      GITHUB_EVENT_PATH: event,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: gh.url,
      GITHUB_REPOSITORY: "acme/manifests",
      GITHUB_STEP_SUMMARY: join(tmp, "step-summary.md"),
    });
  }

  function noSecret(r: ProcessResult): void {
    expect(r.stdout + r.stderr).not.to.include(TOKEN);
    expect(r.stdout + r.stderr).not.to.include("SECRET");
  }

  it("a valid pull request: a successful check run on the head sha and one comment, destructive changes on top", async () => {
    repo.remove("tenants/old.yaml").remove("integrations/old/legacy.yaml");
    repo.write("integrations/acme/orders.test.yaml", PASSING);
    const head = repo.commit("delete old");
    const r = await prCheck(head);
    expect(r.code, r.stderr).to.equal(0);
    noSecret(r);
    expect(gh.violations).to.deep.equal([]);
    const [run] = [...gh.checkRuns.values()];
    expect(gh.checkRuns.size).to.equal(1);
    expect(run!.head_sha).to.equal(head);
    expect(run!.conclusion).to.equal("success");
    expect(run!.annotations).to.deep.equal([]);
    expect(run!.output.summary).to.include("1 passed");
    expect(gh.comments).to.have.length(1);
    const body = gh.comments[0]!.body;
    expect(body.startsWith(`<!-- vrsky-plan head=${head} -->\n`)).to.equal(true);
    const caution = body.indexOf("Destructive changes");
    expect(caution).to.be.greaterThan(0);
    expect(caution).to.be.lessThan(body.indexOf("### VRSky plan"));
    expect(body).to.include("deletes Tenant old and its 1 integration");
    expect(gh.requests.every((q) => q.authorization === `token ${TOKEN}`)).to.equal(true);
    expect(readFileSync(join(tmp, "plan.md"), "utf8")).to.include("### VRSky plan");
    expect(readFileSync(join(tmp, "step-summary.md"), "utf8")).to.include("**Manifests:** valid");
  });

  it("an invalid pull request with 60 findings: annotations on their lines in batches of 50, conclusion failure", async () => {
    for (let i = 0; i < 60; i++)
      repo.write(`integrations/acme/bad${i}.yaml`, integrationYaml("acme", `bad${i}`, "  bogus: 1\n"));
    const head = repo.commit("bad");
    const r = await prCheck(head);
    expect(r.code, r.stderr).to.equal(1);
    expect(gh.violations).to.deep.equal([]);
    const patches = gh.of("checks/update");
    const sizes = patches.map(
      (p) => ((p.body as { output: { annotations: unknown[] } }).output.annotations ?? []).length,
    );
    expect(sizes).to.deep.equal([50, 10]);
    expect(patches.map((p) => (p.body as { conclusion?: string }).conclusion)).to.deep.equal([undefined, "failure"]);
    const run = [...gh.checkRuns.values()][0]!;
    expect(run.conclusion).to.equal("failure");
    expect(run.annotations).to.have.length(60);
    const a = run.annotations.find((x) => x.path === "integrations/acme/bad7.yaml")!;
    // integrationYaml's extra text starts on line 16.
    expect([a.start_line, a.end_line, a.annotation_level]).to.deep.equal([16, 16, "failure"]);
    expect(a.title).to.match(/^VRS_SCHEMA_UNKNOWN_FIELD/);
    expect(gh.comments).to.have.length(1);
    expect(gh.comments[0]!.body).to.include("is invalid: no plan");
  });

  it("a failing fixture test fails the check, annotated on the case's line", async () => {
    repo.write("integrations/acme/orders.test.yaml", FAILING);
    const head = repo.commit("failing test");
    const r = await prCheck(head);
    expect(r.code, r.stderr).to.equal(1);
    const run = [...gh.checkRuns.values()][0]!;
    expect(run.conclusion).to.equal("failure");
    expect(run.annotations).to.have.length(1);
    expect(run.annotations[0]).to.include({ path: "integrations/acme/orders.test.yaml", start_line: 3 });
    expect(gh.comments[0]!.body).to.include("Failing fixture tests");
  });

  it("a second push updates the same comment, found through the paginated listing", async () => {
    // Six comments by others first: the listing has four pages of two.
    for (let i = 0; i < 5; i++)
      gh.comments.push({ id: i + 1, body: `LGTM ${i}`, user: { login: "alice", type: "User" } });
    // Someone types the marker into a comment of their own: never taken for the plan comment.
    const spoof = `<!-- vrsky-plan head=${"e".repeat(40)} -->\nnot the plan`;
    gh.comments.push({ id: 6, body: spoof, user: { login: "mallory", type: "User" } });
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"));
    const first = repo.commit("first");
    expect((await prCheck(first)).code).to.equal(0);
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 3\n"));
    const second = repo.commit("second");
    const r = await prCheck(second);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include("comment updated");
    expect(gh.violations).to.deep.equal([]);
    expect(gh.comments.find((c) => c.id === 6)!.body).to.equal(spoof);
    const ours = gh.comments.filter((c) => c.body.startsWith("<!-- vrsky-plan") && c.id !== 6);
    expect(ours).to.have.length(1);
    expect(ours[0]!.body).to.include(`head=${second}`);
    expect(gh.of("issues/create-comment")).to.have.length(1);
    expect(gh.of("issues/update-comment")).to.have.length(1);
    // The second run followed the Link headers to the fourth page, where the comment is.
    expect(gh.of("issues/list-comments").filter((q) => q.url.includes("page=4")).length).to.be.greaterThan(0);
  });

  it("a stale run (the pull request's head moved on) does not overwrite the newer comment", async () => {
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"));
    const older = repo.commit("older");
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 3\n"));
    const newer = repo.commit("newer");
    expect((await prCheck(newer)).code).to.equal(0);
    const before = gh.comments[0]!.body;
    const r = await prCheck(older, { pullHead: newer });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include("comment not written");
    expect(gh.comments).to.have.length(1);
    expect(gh.comments[0]!.body).to.equal(before);
    expect(gh.of("issues/update-comment")).to.have.length(0);
    // The older head still gets its own check run.
    expect([...gh.checkRuns.values()].map((c) => c.head_sha)).to.deep.equal([newer, older]);
  });

  it("a 403 for a missing permission: a message naming it, exit 2, the token never printed", async () => {
    const head = repo.commit("nothing");
    gh.forbidden.add("checks/create");
    const r = await prCheck(head);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include("`checks: write`");
    noSecret(r);
    gh.forbidden.clear();
    gh.forbidden.add("issues/create-comment");
    const c = await prCheck(head);
    expect(c.code).to.equal(2);
    expect(c.stderr).to.include("`pull-requests: write`");
    noSecret(c);
  });

  it("a base commit missing from the clone: the check run is completed as failed, saying why, exit 2", async () => {
    const head = repo.commit("nothing");
    const r = await prCheck(head, { base: "1".repeat(40) });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include("fetch-depth: 0");
    noSecret(r);
    const run = [...gh.checkRuns.values()][0]!;
    expect([run.status, run.conclusion, run.output.title]).to.deep.equal([
      "completed",
      "failure",
      "vrsky pr-check could not run",
    ]);
    expect(run.output.summary).to.include("fetch-depth: 0");
    expect(gh.comments).to.deep.equal([]);
    expect(gh.violations).to.deep.equal([]);
  });

  it("a secondary rate limit is waited out (retry-after) and the request retried", async () => {
    const head = repo.commit("nothing");
    gh.rateLimitOnce.set("checks/create", 403);
    gh.rateLimitOnce.set("issues/list-comments", 429);
    const r = await prCheck(head);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include("rate limit");
    expect(gh.of("checks/create").map((q) => q.status)).to.deep.equal([403, 201]);
    expect(gh.of("issues/list-comments").map((q) => q.status)).to.deep.equal([429, 200]);
    expect(gh.comments).to.have.length(1);
  });

  it("a large plan is cut between lines within 65,536 characters, visibly, and written whole to the plan file", async () => {
    for (let i = 0; i < 1100; i++)
      repo.write(
        `integrations/acme/integration-with-a-long-name-${i}.yaml`,
        integrationYaml("acme", `integration-with-a-long-name-${i}`),
      );
    const head = repo.commit("many");
    const r = await prCheck(head);
    expect(r.code, r.stderr).to.equal(0);
    expect(gh.violations).to.deep.equal([]);
    const body = gh.comments[0]!.body;
    const full = readFileSync(join(tmp, "plan.md"), "utf8");
    expect(full.length).to.be.greaterThan(65_536);
    expect(body.length).to.be.at.most(65_536);
    expect(body).to.include("The report is too long for one comment");
    expect(full).to.include("integration-with-a-long-name-1099");
    // Every plan line in the comment is a whole line of the full report.
    const fullLines = new Set(full.split("\n"));
    const shown = body.split("\n").filter((l) => l.startsWith("| ➕"));
    expect(shown.length).to.be.greaterThan(100);
    for (const l of shown) expect(fullLines.has(l), l).to.equal(true);
  });

  it("without GitHub: prints the Markdown, the exit code says the result", async () => {
    repo.write("integrations/acme/orders.yaml", integrationYaml("acme", "orders", "  replicas: 2\n"));
    const head = repo.commit("change");
    const plain = { GITHUB_EVENT_PATH: undefined, GITHUB_TOKEN: undefined, GITHUB_API_URL: undefined };
    const args = ["pr-check", "--repo", repo.dir, "--plan-file", join(tmp, "p.md")];
    const ok = await runVrsky([...args, "--base", base, "--head", head], 30_000, plain);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.include("## VRSky pull-request check").and.include("spec.replicas");
    expect(gh.requests).to.deep.equal([]);
    // --no-github wins over the environment.
    const forced = await runVrsky([...args, "--no-github", "--base", base, "--head", head], 30_000, {
      GITHUB_EVENT_PATH: join(tmp, "absent.json"),
      GITHUB_TOKEN: TOKEN,
    });
    expect(forced.code, forced.stderr).to.equal(0);
    repo.write("integrations/acme/orders.yaml", "kind: Nope\n");
    const bad = repo.commit("bad");
    const invalid = await runVrsky([...args, "--base", base, "--head", bad], 30_000, plain);
    expect(invalid.code).to.equal(1);
    expect(invalid.stdout).to.include("is invalid");
    const usage = await runVrsky(args, 30_000, plain);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include("--base");
  });
});
