import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userCreds } from "../../../engine/accounts/claims.js";
import { FastKeyPair } from "../../../engine/accounts/fast-keys.js";
import { initKeys, loadKeys, type VrskyKeys } from "../../../engine/accounts/keys.js";
import { checkPlatformCreds, credsJwt } from "../../../engine/accounts/platform-user.js";
import { redactSeeds } from "../../../engine/errors/errors.js";
import { cli } from "../../helpers/cli.js";
import { codeOf, expectCodedFailure } from "../../helpers/codes.js";
import { seedIn } from "./secrets.js";

// Nothing listens here: a command that got as far as connecting would fail with VRS_NATS_UNAVAILABLE instead.
const NOWHERE = "nats://127.0.0.1:1";

describe("accounts: --creds next to --keys must be a user of the keys' platform account", function () {
  this.timeout(20_000);
  let base: string;
  let keysDir: string;
  let keys: VrskyKeys;
  let tenantCreds: string;
  let otherPlatformCreds: string;
  let repo: string;

  before(() => {
    base = mkdtempSync(join(tmpdir(), "vrsky-platform-creds-"));
    keysDir = join(base, "keys");
    initKeys(keysDir);
    keys = loadKeys(keysDir);
    tenantCreds = join(base, "acme.creds");
    writeFileSync(join(base, "admin.key"), "admin-key-0123456789abcdef\n", { mode: 0o600 });
    writeFileSync(tenantCreds, userCreds(keys, "acme", 0, { name: "acme-user" }).creds, { mode: 0o600 });
    // The platform user of another installation's keys: a platform account, but not this one.
    initKeys(join(base, "other"));
    otherPlatformCreds = join(base, "other", "platform.creds");
    repo = join(base, "repo");
    mkdirSync(repo);
    execFileSync("git", ["init", "-q", repo]);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const commands = (creds: string): Array<[string, string[]]> => [
    ["reconcile", ["reconcile", "--once", "--repo", repo, "--nats", NOWHERE, "--keys", keysDir, "--creds", creds]],
    ["worker", ["worker", "--nats", NOWHERE, "--keys", keysDir, "--creds", creds, "--id", "w1"]],
    ["gateway", ["gateway", "--nats", NOWHERE, "--keys", keysDir, "--creds", creds]],
    [
      "api",
      ["api", "--nats", NOWHERE, "--keys", keysDir, "--creds", creds, "--admin-key-file", join(base, "admin.key")],
    ],
    ["status", ["status", "--nats", NOWHERE, "--keys", keysDir, "--creds", creds]],
    ["revoke", ["revoke", "--tenant", "acme", "--user", FastKeyPair.create("user").getPublicKey()]],
    ["dlq", ["dlq", "list", "--tenant", "acme", "--integration", "orders", "--nats", NOWHERE]],
    ["trace", ["trace", "m1", "--tenant", "acme", "--integration", "orders", "--nats", NOWHERE]],
  ];
  const withFlags = (args: string[], creds: string) =>
    args.includes("--keys")
      ? args
      : [...args, ...(args[0] === "revoke" ? ["--nats", NOWHERE] : []), "--keys", keysDir, "--creds", creds];

  it("refuses a tenant's creds in every command that takes --creds with --keys, before connecting, naming the flag", async () => {
    const seed = seedIn(readFileSync(tenantCreds, "utf8"))!;
    const jwt = credsJwt(readFileSync(tenantCreds, "utf8"))!;
    for (const [name, args] of commands(tenantCreds)) {
      const r = await cli(...withFlags(args, tenantCreds));
      expectCodedFailure(r, "VRS_CREDS_NOT_PLATFORM", name);
      expect(r.stderr, name).to.contain(`--creds ${tenantCreds}`);
      expect(r.stderr, name).to.contain(`not of the platform account ${keys.platformAccount.getPublicKey()}`);
      expect(r.stderr, name).not.to.contain(seed);
      expect(r.stderr, name).not.to.contain(jwt);
    }
  });

  it("refuses the platform creds of other keys, and accepts this keys' platform creds (then fails only to connect)", async () => {
    for (const [name, args] of commands(otherPlatformCreds)) {
      const r = await cli(...withFlags(args, otherPlatformCreds));
      expectCodedFailure(r, "VRS_CREDS_NOT_PLATFORM", name);
    }
    const own = await cli("status", "--nats", NOWHERE, "--keys", keysDir, "--creds", keys.files.platformCreds);
    expectCodedFailure(own, "VRS_NATS_UNAVAILABLE");
  });

  it("checkPlatformCreds accepts the platform user and refuses files that are not creds or not platform users", () => {
    expect(() => checkPlatformCreds(keys.files.platformCreds, keys)).not.to.throw();
    const notCreds = join(base, "not.creds");
    writeFileSync(notCreds, "hello\n");
    expect(codeOf(() => checkPlatformCreds(notCreds, keys))).to.equal("VRS_CREDS_INVALID");
    expect(codeOf(() => checkPlatformCreds(join(base, "missing.creds"), keys))).to.equal("VRS_CREDS_INVALID");
    expect(codeOf(() => checkPlatformCreds(tenantCreds, keys))).to.equal("VRS_CREDS_NOT_PLATFORM");
  });
});

describe("no message echoes a seed", () => {
  it("revoke --user <a seed> exits 2 and says it looks like a seed, without printing it", async () => {
    const seed = new TextDecoder().decode(FastKeyPair.create("user").getSeed());
    const r = await cli("revoke", "--tenant", "acme", "--user", seed, "--nats", NOWHERE);
    expectCodedFailure(r, "VRS_USAGE");
    expect(r.stderr).not.to.contain(seed);
    expect(r.stderr).not.to.contain(seed.slice(2, 20));
    expect(r.stderr).to.contain("looks like a secret seed");
    const other = await cli("revoke", "--tenant", "acme", "--user", "bogus-value", "--nats", NOWHERE);
    expectCodedFailure(other, "VRS_USAGE");
    expect(other.stderr).not.to.contain("bogus-value");
  });

  it("redacts any nkey seed in an error message, and leaves public keys alone", () => {
    const kp = FastKeyPair.create("account");
    const seed = new TextDecoder().decode(kp.getSeed());
    const pub = kp.getPublicKey();
    expect(redactSeeds(`x ${seed} y ${pub}`)).to.equal(`x [seed redacted] y ${pub}`);
    const u = FastKeyPair.create("user");
    expect(redactSeeds(`'${new TextDecoder().decode(u.getSeed())}'`)).to.equal("'[seed redacted]'");
  });
});
