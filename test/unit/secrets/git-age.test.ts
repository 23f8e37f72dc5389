import { expect } from "chai";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identityToRecipient } from "age-encryption";
import { initKeys } from "../../../engine/accounts/keys.js";
import { isVrskyError, type VrskyError } from "../../../engine/errors/errors.js";
import { loadSecretsIdentity, newAgeKey, SECRETS_KEY_FILE, writeSecretsKey } from "../../../engine/secrets/age-key.js";
import { GitSecretProvider } from "../../../engine/secrets/git-age.js";
import { sealSecret } from "../../../engine/secrets/seal.js";
import { asyncCodeOf } from "../../helpers/codes.js";
import { TestRepo } from "../../helpers/git-repo.js";

const VALUE = "postgres-password-0123456789";

async function thrown(p: Promise<unknown>): Promise<VrskyError> {
  try {
    await p;
  } catch (e) {
    if (isVrskyError(e)) return e;
    throw e;
  }
  throw new Error("did not reject");
}

describe("secrets: age key in the key folder", () => {
  let base: string;
  beforeEach(() => (base = mkdtempSync(join(tmpdir(), "vrsky-agekey-"))));
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("writes an identity age reads, with its recipient, mode 0600, never over an existing one", async () => {
    const r = writeSecretsKey(base);
    expect(statSync(r.path).mode & 0o777).to.equal(0o600);
    const identity = readFileSync(r.path, "utf8")
      .split("\n")
      .find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
    expect(await identityToRecipient(identity)).to.equal(r.recipient);
    expect((await loadSecretsIdentity(base)).recipient).to.equal(r.recipient);
    expect(() => writeSecretsKey(base))
      .to.throw()
      .with.property("code", "VRS_KEYS_EXIST");
  });

  it("derives the recipient like the age library, for many keys", async () => {
    for (let i = 0; i < 20; i++) {
      const k = newAgeKey();
      const identity = k.fileText.split("\n")[2]!;
      expect(await identityToRecipient(identity)).to.equal(k.recipient);
    }
  });

  it("vrsky init puts secrets.agekey (0600) in new key folders", async () => {
    const dir = join(base, "keys");
    const r = initKeys(dir);
    expect(r.files).to.include(SECRETS_KEY_FILE);
    expect(statSync(join(dir, SECRETS_KEY_FILE)).mode & 0o777).to.equal(0o600);
    expect((await loadSecretsIdentity(dir)).recipient).to.match(/^age1/);
  });

  it("a folder without it is VRS_SECRET_KEY_MISSING; a damaged one VRS_KEYS_INVALID; it prints as its recipient", async () => {
    expect(await asyncCodeOf(loadSecretsIdentity(base))).to.equal("VRS_SECRET_KEY_MISSING");
    writeFileSync(join(base, SECRETS_KEY_FILE), "AGE-SECRET-KEY-1QQQQ\n");
    expect(await asyncCodeOf(loadSecretsIdentity(base))).to.equal("VRS_KEYS_INVALID");
    rmSync(join(base, SECRETS_KEY_FILE));
    const r = writeSecretsKey(base);
    const id = await loadSecretsIdentity(base);
    expect(JSON.stringify(id)).to.equal(JSON.stringify({ recipient: r.recipient }));
    expect(String(id)).not.to.include("AGE-SECRET-KEY");
  });
});

describe("secrets: age files committed in the repository (secrets/<tenant>/<name>.age)", () => {
  let repo: TestRepo;
  let keys: string;
  let other: string;
  beforeEach(() => {
    repo = new TestRepo();
    repo.write("README.md", "x").commit("init");
    keys = mkdtempSync(join(tmpdir(), "vrsky-agekeys-"));
    other = mkdtempSync(join(tmpdir(), "vrsky-agekeys-other-"));
    writeSecretsKey(keys);
    writeSecretsKey(other);
  });
  afterEach(() => {
    repo.cleanup();
    rmSync(keys, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
  });

  const sealAcme = async (name = "db", value = VALUE, dir = keys) =>
    sealSecret({
      repo: repo.dir,
      tenant: "acme",
      name,
      recipients: [(await loadSecretsIdentity(dir)).recipient],
      value: Buffer.from(value),
    });

  it("round trip: seal, commit, resolve at that revision; armored text age itself can read", async () => {
    const r = await sealAcme();
    expect(r.path).to.equal("secrets/acme/db.age");
    const text = readFileSync(join(repo.dir, r.path), "utf8");
    expect(text).to.match(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    expect(text).not.to.include(VALUE);
    const commit = repo.commit("seal");
    const p = await GitSecretProvider.open(repo.dir, commit, keys);
    expect(await p.has("acme", "db")).to.equal(true);
    expect((await p.resolve("acme", "db")).revealText()).to.equal(VALUE);
    expect((await GitSecretProvider.open(repo.dir, "main", keys)).commit).to.equal(commit);
  });

  it("only committed content counts: an uncommitted file is missing, an uncommitted change unseen", async () => {
    const before = repo.git("rev-parse", "HEAD");
    await sealAcme();
    const p = await GitSecretProvider.open(repo.dir, before, keys);
    expect(await p.has("acme", "db")).to.equal(false);
    expect(await asyncCodeOf(p.resolve("acme", "db"))).to.equal("VRS_SECRET_MISSING");
    const commit = repo.commit("seal");
    await sealAcme("db", "rotated-value");
    const at = await GitSecretProvider.open(repo.dir, commit, keys);
    expect((await at.resolve("acme", "db")).revealText()).to.equal(VALUE);
    const rotated = await GitSecretProvider.open(repo.dir, repo.commit("rotate"), keys);
    expect((await rotated.resolve("acme", "db")).revealText()).to.equal("rotated-value");
  });

  it("tenant A cannot resolve B's secret; path tricks are refused before git is asked", async () => {
    await sealAcme();
    repo.link("secrets/initech", "acme");
    const p = await GitSecretProvider.open(repo.dir, repo.commit("seal"), keys);
    expect(await asyncCodeOf(p.resolve("globex", "db"))).to.equal("VRS_SECRET_MISSING");
    // a committed link to another tenant's folder is not followed
    expect(await asyncCodeOf(p.resolve("initech", "db"))).to.equal("VRS_SECRET_MISSING");
    for (const [tenant, name] of [
      ["globex", "../acme/db"],
      ["globex/../acme", "db"],
      ["globex", "/secrets/acme/db"],
      ["..", "db"],
      ["globex", "db.age"],
    ] as const) {
      expect(await asyncCodeOf(p.resolve(tenant, name)), `${tenant} ${name}`).to.equal("VRS_NAME_INVALID");
    }
  });

  it("a committed link is refused, even to the tenant's own file", async () => {
    await sealAcme();
    repo.link("secrets/acme/alias.age", "db.age");
    const p = await GitSecretProvider.open(repo.dir, repo.commit("link"), keys);
    expect(await asyncCodeOf(p.resolve("acme", "alias"))).to.equal("VRS_SECRET_UNREADABLE");
  });

  it("wrong identity and damaged files are VRS_SECRET_UNREADABLE, saying nothing of the content", async () => {
    const r = await sealAcme();
    const sealed = readFileSync(join(repo.dir, r.path), "utf8");
    const lines = sealed.split("\n");
    lines[2] = lines[2]!.replace(/^./, (c) => (c === "A" ? "B" : "A"));
    repo.write("secrets/acme/damaged.age", lines.join("\n"));
    repo.write("secrets/acme/garbage.age", "not age at all");
    const commit = repo.commit("seal");
    const wrong = await GitSecretProvider.open(repo.dir, commit, other);
    const right = await GitSecretProvider.open(repo.dir, commit, keys);
    const errors = [
      await thrown(wrong.resolve("acme", "db")),
      await thrown(right.resolve("acme", "damaged")),
      await thrown(right.resolve("acme", "garbage")),
    ];
    for (const e of errors) {
      expect(e.code).to.equal("VRS_SECRET_UNREADABLE");
      const shown = `${e.explain()} ${String(e.cause ?? "")} ${JSON.stringify(e)}`;
      expect(shown).not.to.include(VALUE);
      for (const line of sealed.split("\n").slice(1, -2)) if (line.length > 8) expect(shown).not.to.include(line);
      expect(shown).not.to.include("AGE-SECRET-KEY");
    }
  });

  it("sealing into a folder that is not a git repository is VRS_GIT_NOT_A_REPO", async () => {
    const notRepo = mkdtempSync(join(tmpdir(), "vrsky-norepo-"));
    mkdirSync(join(notRepo, "x"));
    try {
      const code = await asyncCodeOf(
        sealSecret({ repo: notRepo, tenant: "acme", name: "db", recipients: [], value: Buffer.from("v") }),
      );
      expect(code).to.equal("VRS_GIT_NOT_A_REPO");
    } finally {
      rmSync(notRepo, { recursive: true, force: true });
    }
  });
});
