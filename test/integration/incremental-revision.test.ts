import { expect } from "chai";
import { loadCommitted } from "../../engine/git/load-revision.js";
import { RevisionReader, type RevisionRead } from "../../engine/git/revision-reader.js";
import { DesiredModel } from "../../engine/manifests/desired-model.js";
import { ParseCache, type DesiredState } from "../../engine/manifests/load.js";
import { resourceKey, type Resource } from "../../engine/model/resources.js";
import { integrationYaml, tenantYaml, TestRepo } from "../helpers/git-repo.js";

const signed = (tenant: string, name: string, secret: string) =>
  integrationYaml(tenant, name).replace(
    `      path: /${name}\n`,
    `      path: /${name}\n      signature: { secretRef: ${secret} }\n`,
  );

/** A reader and a model that follow the commits one after the other, as the reconciler does. */
class Follower {
  readonly cache = new ParseCache();
  readonly reader: RevisionReader;
  readonly model = new DesiredModel({ cache: this.cache });
  state: DesiredState | undefined;
  constructor(dir: string, fullEvery = 100) {
    this.reader = new RevisionReader(dir, this.cache, { fullEvery });
  }
  async follow(commit: string): Promise<{ read: RevisionRead; changed: string[] | undefined }> {
    const read = await this.reader.read(commit);
    const u = this.model.update(read.files, { changed: read.changed, sealedSecrets: read.sealedSecrets });
    this.state = u.state;
    return { read, changed: u.changed && [...u.changed.keys()].sort() };
  }
}

const byKey = (rs: Resource[]) => new Map(rs.map((r) => [resourceKey(r), JSON.stringify(r)]));

describe("incremental reading of commits (tree diff) gives what a full load gives", () => {
  let repo: TestRepo;
  afterEach(() => repo?.cleanup());

  it("over add, modify, delete, rename, tenant delete, invalid then fixed, secrets, shared blobs and a force push", async () => {
    repo = new TestRepo();
    const f = new Follower(repo.dir);
    const modes: string[] = [];
    /** Commits, follows, and compares with a full load of the same commit (a new cache each time). */
    const step = async (message: string, expectedMode?: string) => {
      const commit = repo.commit(message);
      const before = f.state ? byKey(f.state.resources) : new Map<string, string>();
      const { read, changed } = await f.follow(commit);
      const full = (await loadCommitted(repo.dir, commit)).state;
      expect(f.state, message).to.deep.equal(full);
      modes.push(`${message}: ${read.mode}`);
      if (expectedMode) expect(read.mode, message).to.equal(expectedMode);
      if (changed) {
        // Every key whose value differs is in the delta (a key outside it kept its very object).
        const after = byKey(full.resources);
        const differ = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
        expect(changed, message).to.include.members(differ);
      }
      // The parse cache holds the blobs of this revision only.
      const oids = new Set(read.files.filter((x) => x.oid).map((x) => x.oid));
      expect(f.cache.size, `${message}: cache`).to.equal(oids.size);
      return commit;
    };

    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("tenants/globex.yaml", tenantYaml("globex"))
      .write("integrations/acme/a.yaml", integrationYaml("acme", "a"))
      .write("integrations/acme/b.yaml", integrationYaml("acme", "b"))
      .write("integrations/globex/c.yaml", integrationYaml("globex", "c"))
      .write("README.md", "hello\n");
    await step("initial", "full");
    await step("no change at all", "incremental");
    repo.write("integrations/acme/d.yaml", integrationYaml("acme", "d"));
    const afterAdd = await step("add", "incremental");
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a", "  replicas: 3\n"));
    await step("modify", "incremental");
    repo.remove("integrations/acme/b.yaml");
    await step("delete", "incremental");
    repo.remove("integrations/globex/c.yaml").write("integrations/globex/c.yml", integrationYaml("globex", "c"));
    await step("rename", "incremental");
    repo.write("README.md", "changed, not a manifest\n").write("tenants/.hidden/x.yaml", "not: read\n");
    await step("outside the manifests", "incremental");
    repo.remove("tenants/globex.yaml").remove("integrations/globex/c.yml");
    await step("tenant delete", "incremental");
    repo.write("integrations/acme/a.yaml", "kind: [unclosed\n").write("tenants/acme2.yaml", tenantYaml("acme"));
    await step("invalid", "incremental");
    expect(f.state!.findings.map((x) => x.code)).to.include.members(["VRS_REF_DUPLICATE_NAME"]);
    repo.write("integrations/acme/a.yaml", integrationYaml("acme", "a")).remove("tenants/acme2.yaml");
    await step("fixed", "incremental");
    expect(f.state!.findings).to.deep.equal([]);
    // The same blob at two paths: it stays parsed while one path still holds it.
    repo.write("integrations/acme/copy/a.yaml", integrationYaml("acme", "a"));
    await step("same blob twice", "incremental");
    repo.remove("integrations/acme/copy/a.yaml");
    await step("one of the two removed", "incremental");
    // Sealed secrets: the check follows the secrets/ folder as well as the manifests.
    repo.write("integrations/acme/s.yaml", signed("acme", "s", "hook")).write("secrets/acme/other.age", "x");
    await step("secret missing", "incremental");
    expect(f.state!.findings.map((x) => x.code)).to.deep.equal(["VRS_SECRET_MISSING"]);
    repo.write("secrets/acme/hook.age", "sealed");
    await step("secret sealed", "incremental");
    expect(f.state!.findings).to.deep.equal([]);
    repo.remove("secrets/acme/other.age").remove("secrets/acme/hook.age");
    await step("secrets folder gone", "incremental");
    // A force push to a commit that does not descend from the last one read: a full read.
    repo.git("reset", "-q", "--hard", afterAdd);
    repo.write("tenants/initech.yaml", tenantYaml("initech"));
    await step("force push", "full");
    repo.write("integrations/initech/x.yaml", integrationYaml("initech", "x"));
    await step("after the force push", "incremental");
    // A manifest that is a link: its target may change anywhere, so every read is full while it is there.
    repo.write("shared/t.yaml", tenantYaml("linked")).link("tenants/linked.yaml", "../shared/t.yaml");
    await step("link added", "full");
    repo.write("shared/t.yaml", tenantYaml("linked", "  tier: shared\n"));
    await step("link target changed", "full");
    repo.remove("tenants/linked.yaml");
    await step("link removed", "full");
    repo.write("integrations/initech/y.yaml", integrationYaml("initech", "y"));
    await step("incremental again", "incremental");
  });

  it("reads in full when the last commit read is gone from the repository (force push, then gc)", async () => {
    repo = new TestRepo();
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const f = new Follower(repo.dir);
    await f.follow(repo.commit("base"));
    repo.write("tenants/gone.yaml", tenantYaml("gone"));
    await f.follow(repo.commit("soon gone"));
    repo.git("reset", "-q", "--hard", "HEAD~1");
    repo.git("reflog", "expire", "--expire=now", "--all");
    repo.git("gc", "-q", "--prune=now");
    repo.write("tenants/initech.yaml", tenantYaml("initech"));
    const commit = repo.commit("after gc");
    const { read } = await f.follow(commit);
    expect(read.mode).to.equal("full");
    expect(f.state).to.deep.equal((await loadCommitted(repo.dir, commit)).state);
  });

  it("reads in full every Nth read, and a read of the same commit changes nothing", async () => {
    repo = new TestRepo();
    repo.write("tenants/acme.yaml", tenantYaml("acme"));
    const f = new Follower(repo.dir, 2);
    const modes: string[] = [];
    for (let i = 0; i < 5; i++) {
      repo.write(`integrations/acme/i${i}.yaml`, integrationYaml("acme", `i${i}`));
      const { read } = await f.follow(repo.commit(`c${i}`));
      modes.push(read.changed ? read.mode : "rebuild");
    }
    expect(modes).to.deep.equal(["rebuild", "incremental", "incremental", "rebuild", "incremental"]);
    const again = await f.follow(repo.git("rev-parse", "HEAD"));
    expect(again.read.mode).to.equal("same");
    expect(again.changed).to.deep.equal([]);
    // A full read on request (a resync) lists the whole tree and says what differs from the last read: nothing.
    const full = await f.reader.read(repo.git("rev-parse", "HEAD"), { full: true });
    expect(full.mode).to.equal("full");
    expect(full.changed).to.deep.equal(new Map());
  });
});
