import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCreds } from "@nats-io/jwt";
import { loadKeys, tenantAccountKey } from "../../../engine/accounts/keys.js";
import { cli } from "../../helpers/cli.js";
import { expectCodedFailure } from "../../helpers/codes.js";
import { secretsOf, seedIn } from "./secrets.js";

describe("accounts: CLI `vrsky init` and `vrsky creds`", () => {
  let base: string;
  beforeEach(() => (base = mkdtempSync(join(tmpdir(), "vrsky-cli-keys-"))));
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("init prints what it created and the server config path, never a seed (text and json)", async () => {
    const dir = join(base, "keys");
    const r = await cli("init", "--keys", dir);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(`nats-server config (operator mode, full resolver): ${join(dir, "nats-server.conf")}`);
    const keys = loadKeys(dir);
    expect(r.stdout).to.contain(keys.operator.getPublicKey());
    expect(r.stdout).to.contain(keys.platformAccount.getPublicKey());
    for (const s of secretsOf(dir)) expect(r.stdout + r.stderr).not.to.contain(s);

    const dir2 = join(base, "keys2");
    const j = await cli("init", "--keys", dir2, "--format", "json");
    expect(j.code, j.stderr).to.equal(0);
    const out = JSON.parse(j.stdout) as Record<string, unknown>;
    expect(out).to.include({
      formatVersion: 1,
      dir: dir2,
      serverConfig: join(dir2, "nats-server.conf"),
      sysCreds: join(dir2, "sys.creds"),
    });
    expect(out.operatorPublicKey).to.equal(loadKeys(dir2).operator.getPublicKey());
    for (const s of secretsOf(dir2)) expect(j.stdout).not.to.contain(s);
  });

  it("init exits 2 with a clear message when the directory is not empty, and changes nothing", async () => {
    const dir = join(base, "keys");
    await cli("init", "--keys", dir);
    const before = readFileSync(join(dir, "master.key"), "utf8");
    const r = await cli("init", "--keys", dir);
    expectCodedFailure(r, "VRS_KEYS_EXIST");
    expect(readFileSync(join(dir, "master.key"), "utf8")).to.equal(before);
    expect((await cli("init")).code, "missing --keys").to.equal(2);
    writeFileSync(join(base, "a-file"), "x");
    expectCodedFailure(await cli("init", "--keys", join(base, "a-file", "keys")), "VRS_WRITE_FAILED");
  });

  it("creds writes a 0600 file in the tenant's account and says on stderr when it expires", async () => {
    const dir = join(base, "keys");
    await cli("init", "--keys", dir);
    const out = join(base, "acme.creds");
    writeFileSync(out, "old", { mode: 0o644 });
    const r = await cli(
      "creds",
      "--tenant",
      "acme",
      "--keys",
      dir,
      "--force",
      "--generation",
      "2",
      "--ttl",
      "15m",
      "--out",
      out,
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal("");
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    const p = await parseCreds(readFileSync(out));
    expect(p.aid).to.equal(tenantAccountKey(loadKeys(dir), "acme", 2).getPublicKey());
    expect(p.uc.exp! - p.uc.iat).to.equal(900);
    expect(r.stderr).to.match(
      /creds for tenant acme \(account A[A-Z2-7]{55}, user U[A-Z2-7]{55}\) written to .*; they expire at \d{4}-\d\d-\d\dT.* \(in 15m\)/,
    );
    expect(r.stderr).not.to.contain(p.key);
  });

  it("creds prints to stdout when there is no --out (1 h by default)", async () => {
    const dir = join(base, "keys");
    await cli("init", "--keys", dir);
    const r = await cli("creds", "--tenant", "globex", "--keys", dir, "--force");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("-----BEGIN NATS USER JWT-----");
    const p = await parseCreds(new TextEncoder().encode(r.stdout));
    expect(p.uc.exp! - p.uc.iat).to.equal(3600);
    expect(seedIn(r.stdout)).to.equal(p.key);
    expect(r.stderr).to.contain("(in 1h)");
  });

  it("creds exits 2 on usage and environment errors with a clear message", async () => {
    const dir = join(base, "keys");
    await cli("init", "--keys", dir);
    const cases: Array<[string[], string]> = [
      [["--tenant", "acme", "--keys", join(base, "none")], "VRS_KEYS_MISSING"],
      [["--tenant", "acme", "--keys", dir, "--ttl", "soon"], "VRS_USAGE"],
      [["--tenant", "acme", "--keys", dir, "--ttl", "0s"], "VRS_USAGE"],
      [["--tenant", "acme", "--keys", dir, "--generation", "-1"], "VRS_USAGE"],
      [["--tenant", "Not_A_Name", "--keys", dir], "VRS_USAGE"],
      [
        ["--tenant", "acme", "--keys", dir, "--force", "--out", join(base, "missing-dir", "x.creds")],
        "VRS_WRITE_FAILED",
      ],
      [["--tenant", "acme", "--keys", dir], "VRS_USAGE"],
      [["--tenant", "acme", "--keys", dir, "--force", "--ttl", "31d"], "VRS_USAGE"],
      [["--tenant", "acme", "--worker", "w1", "--keys", dir], "VRS_USAGE"],
      [["--worker", "w.1", "--keys", dir], "VRS_USAGE"],
    ];
    for (const [args, code] of cases) expectCodedFailure(await cli("creds", ...args), code, args.join(" "));
    const missing = await cli("creds", "--keys", dir);
    expect(missing.code).to.equal(2);
    expectCodedFailure(missing, "VRS_USAGE");
    expect(missing.stderr).to.contain("give one of --tenant");
  });
});
