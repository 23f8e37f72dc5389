import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SECRETS_KEY_FILE } from "../../engine/secrets/age-key.js";
import { GitSecretProvider } from "../../engine/secrets/git-age.js";
import { packageRoot } from "../../engine/util/package-root.js";
import { cli } from "../helpers/cli.js";
import { expectCodedFailure } from "../helpers/codes.js";
import { TestRepo } from "../helpers/git-repo.js";

const MAIN = join(packageRoot(), "dist/engine/cli/main.js");
const VALUE = "xoxb-0000-this-is-the-secret\n";

/** The real CLI with the value on standard input, as `printf ... | vrsky secret seal ...` runs it. */
function sealCli(args: string[], input: string) {
  const r = spawnSync(process.execPath, [MAIN, "secret", "seal", ...args], { input, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("vrsky secret (seal, keygen) on a real git repository", function () {
  // Each case starts several CLI processes; on a loaded 2-core machine one start can take seconds.
  this.timeout(60_000);
  let repo: TestRepo;
  let base: string;
  beforeEach(() => {
    repo = new TestRepo();
    repo.write("README.md", "x").commit("init");
    base = mkdtempSync(join(tmpdir(), "vrsky-secret-cli-"));
  });
  afterEach(() => {
    repo.cleanup();
    rmSync(base, { recursive: true, force: true });
  });

  it("init makes the identity; seal writes an armored file; once committed it resolves; nothing prints the value", async () => {
    const keys = join(base, "keys");
    expect((await cli("init", "--keys", keys)).code).to.equal(0);
    const r = sealCli(["--tenant", "acme", "--name", "slack", "--repo", repo.dir, "--keys", keys], VALUE);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include("secrets/acme/slack.age");
    expect(r.stdout + r.stderr).not.to.include("xoxb");
    const before = await GitSecretProvider.open(repo.dir, "HEAD", keys);
    expect(await before.has("acme", "slack")).to.equal(false);
    const p = await GitSecretProvider.open(repo.dir, repo.commit("seal slack"), keys);
    expect((await p.resolve("acme", "slack")).revealText()).to.equal(VALUE);
  });

  it("keygen adds the identity to an older key folder, prints its recipient, and never overwrites it", async () => {
    const keys = join(base, "old-keys");
    expect((await cli("init", "--keys", keys)).code).to.equal(0);
    rmSync(join(keys, SECRETS_KEY_FILE));
    const missing = sealCli(["--tenant", "acme", "--name", "db", "--repo", repo.dir, "--keys", keys], "v");
    expectCodedFailure(missing, "VRS_SECRET_KEY_MISSING");
    expect(missing.stderr).to.include(`vrsky secret keygen --keys ${keys}`);
    const g = await cli("secret", "keygen", "--keys", keys);
    expect(g.code, g.stderr).to.equal(0);
    expect(g.stdout).not.to.include("AGE-SECRET-KEY");
    const recipient = /recipient: (age1\S+)/.exec(g.stdout)![1]!;
    expect(statSync(join(keys, SECRETS_KEY_FILE)).mode & 0o777).to.equal(0o600);
    expectCodedFailure(await cli("secret", "keygen", "--keys", keys), "VRS_KEYS_EXIST");
    // sealed for the recipient alone (by someone without the key folder), opened with the folder
    const r = sealCli(["--tenant", "acme", "--name", "db", "--repo", repo.dir, "--recipient", recipient], "pw");
    expect(r.code, r.stderr).to.equal(0);
    const p = await GitSecretProvider.open(repo.dir, repo.commit("seal db"), keys);
    expect((await p.resolve("acme", "db")).revealText()).to.equal("pw");
  });

  it("checks the command line before anything is written (VRS_USAGE, exit 2)", async () => {
    const keys = join(base, "keys");
    await cli("init", "--keys", keys);
    const cases: string[][] = [
      ["--tenant", "../acme", "--name", "db", "--keys", keys],
      ["--tenant", "acme", "--name", "a/b", "--keys", keys],
      ["--tenant", "acme", "--name", "db"],
      ["--tenant", "acme", "--name", "db", "--keys", keys, "--recipient", "age1abc"],
      ["--tenant", "acme", "--name", "db", "--recipient", "not-a-recipient"],
    ];
    for (const args of cases) {
      expectCodedFailure(sealCli([...args, "--repo", repo.dir], "v"), "VRS_USAGE", args.join(" "));
    }
    expectCodedFailure(
      sealCli(["--tenant", "acme", "--name", "db", "--repo", repo.dir, "--keys", keys], ""),
      "VRS_USAGE",
      "empty stdin",
    );
    expect((await cli("secret", "seal", "--name", "db", "--keys", keys)).code).to.equal(2);
    expect(existsSync(join(repo.dir, "secrets"))).to.equal(false);
    expect(readFileSync(join(keys, SECRETS_KEY_FILE), "utf8")).to.match(/^# created: /);
  });
});
