import { expect } from "chai";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { runVrsky } from "../helpers/cli-run.js";
import { expectCodedFailure } from "../helpers/codes.js";
import { TestRepo } from "../helpers/git-repo.js";
import { tenantYaml } from "../helpers/manifests.js";

/**
 * `vrsky up` and `vrsky init` in a user's repository: the folders they create hold operator keys, so git must
 * ignore them (`git add -A` commits nothing of them), and `up` refuses a key folder that git already tracks.
 */
describe("the key and data folders stay out of git", function () {
  this.timeout(60_000);
  let repo: TestRepo;
  beforeEach(() => {
    repo = new TestRepo();
    repo.write("tenants/acme.yaml", tenantYaml("acme")).commit();
  });
  afterEach(() => repo.cleanup());

  /** What `git add -A` would add: untracked files that are not ignored, and changes. */
  function unignored(): string {
    return repo.git("status", "--porcelain", "--untracked-files=all");
  }

  it("up writes a .gitignore holding * into its data folder and its key folder", async () => {
    const data = join(repo.dir, ".vrsky");
    // Without nats-server, up stops right after creating the keys: enough to see what it wrote.
    process.env.VRSKY_NATS_SERVER = "/nonexistent/nats-server";
    try {
      const r = await cli("up", "--repo", repo.dir, "--data", data);
      expect(r.code, r.stderr).to.equal(2);
    } finally {
      delete process.env.VRSKY_NATS_SERVER;
    }
    expect(existsSync(join(data, "keys", "operator.nk")), "keys created").to.equal(true);
    expect(readFileSync(join(data, ".gitignore"), "utf8")).to.equal("*\n");
    expect(readFileSync(join(data, "keys", ".gitignore"), "utf8")).to.equal("*\n");
    expect(unignored()).to.equal("");
  });

  it("init writes a .gitignore holding * into the key folder", async () => {
    const r = await cli("init", "--keys", join(repo.dir, "ops", "keys"), "--format", "json");
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).files).to.include(".gitignore");
    expect(readFileSync(join(repo.dir, "ops", "keys", ".gitignore"), "utf8")).to.equal("*\n");
    expect(unignored()).to.equal("");
  });

  it("reconcile --keys refuses a key folder git tracks, before connecting anywhere", async () => {
    const keys = join(repo.dir, "ops", "keys");
    expect((await cli("init", "--keys", keys)).code).to.equal(0);
    repo.git("add", "-f", "ops/keys/platform.creds");
    repo.commit("oops");
    const r = await cli("reconcile", "--repo", repo.dir, "--nats", "nats://127.0.0.1:1", "--keys", keys, "--once");
    expectCodedFailure(r, "VRS_KEYS_TRACKED");
    expect(r.stderr).to.include("ops/keys/platform.creds");
  });

  it("up refuses to start when a file of its key folder is tracked by git, and changes nothing", async () => {
    repo.write(".vrsky/keys/operator.nk", "SOxxx\n").commit("oops: keys committed");
    const before = unignored();
    const r = await runVrsky(["up", "--repo", repo.dir, "--data", join(repo.dir, ".vrsky")]);
    expectCodedFailure(r, "VRS_KEYS_TRACKED");
    expect(r.stderr).to.include(".vrsky/keys/operator.nk").and.not.include("SOxxx");
    expect(existsSync(join(repo.dir, ".vrsky", ".gitignore"))).to.equal(false);
    expect(unignored()).to.equal(before);
    // Tracked but deleted from the disk still counts: the next keys written there would be committed again.
    rmSync(join(repo.dir, ".vrsky"), { recursive: true });
    expectCodedFailure(await cli("up", "--repo", repo.dir, "--data", join(repo.dir, ".vrsky")), "VRS_KEYS_TRACKED");
    // Untracked, up goes on (and stops at the missing nats-server).
    repo.git("rm", "-q", "--cached", "-r", ".vrsky");
    repo.commit("keys untracked");
    process.env.VRSKY_NATS_SERVER = "/nonexistent/nats-server";
    try {
      const again = await cli("up", "--repo", repo.dir, "--data", join(repo.dir, ".vrsky"));
      expect(again.stderr)
        .to.match(/nats-server/)
        .and.not.match(/VRS_KEYS_TRACKED/);
    } finally {
      delete process.env.VRSKY_NATS_SERVER;
    }
    expect(unignored()).to.equal("");
  });
});
