import { expect } from "chai";
import { hkdfSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { fromSeed } from "@nats-io/nkeys";
import { decode, parseCreds } from "@nats-io/jwt";
import { encodeSeed } from "../../../engine/accounts/fast-keys.js";
import { initKeys, loadKeys, serverConfig, tenantAccountKey } from "../../../engine/accounts/keys.js";
import { codeOf as code } from "../../helpers/codes.js";
import { secretsOf } from "./secrets.js";

describe("accounts: key directory (init, load, tenant account keys)", () => {
  let base: string;
  beforeEach(() => (base = mkdtempSync(join(tmpdir(), "vrsky-keys-"))));
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("creates operator, system and platform accounts, users, master secret and server config: dir 0700, files 0600", async () => {
    const dir = join(base, "keys");
    const r = initKeys(dir);
    expect(statSync(dir).mode & 0o777).to.equal(0o700);
    for (const f of readdirSync(dir)) {
      const st = statSync(join(dir, f));
      expect(st.mode & 0o777, f).to.equal(st.isDirectory() ? 0o700 : 0o600);
    }
    expect(r.files).to.include.members([
      "operator.jwt",
      "sys.creds",
      "platform.creds",
      "nats-server.conf",
      "master.key",
    ]);
    expect(Buffer.from(readFileSync(join(dir, "master.key"), "utf8").trim(), "base64").length).to.equal(32);
    const op = decode<{ system_account: string }>(readFileSync(join(dir, "operator.jwt"), "utf8").trim());
    expect(op.sub).to.equal(r.operatorPublicKey);
    expect(op.nats.system_account).to.equal(r.systemAccountPublicKey);
    const sysUser = await parseCreds(readFileSync(join(dir, "sys.creds")));
    expect(sysUser.aid).to.equal(r.systemAccountPublicKey);
    const platUser = await parseCreds(readFileSync(join(dir, "platform.creds")));
    expect(platUser.aid).to.equal(r.platformAccountPublicKey);

    const conf = readFileSync(r.serverConfig, "utf8");
    expect(conf).to.contain(`system_account: ${r.systemAccountPublicKey}`);
    expect(conf).to.match(/resolver: \{\s+type: full\s+dir: "[^"]+\/resolver"\s+allow_delete: true\s+\}/);
    expect(conf).to.contain(`  ${r.systemAccountPublicKey}: ey`);
    expect(conf).to.contain(`  ${r.platformAccountPublicKey}: ey`);
    const platformLine = conf.split("\n").find((l) => l.startsWith(`  ${r.platformAccountPublicKey}: `))!;
    const platform = decode<{ limits: Record<string, unknown> }>(platformLine.split(": ")[1]!);
    for (const k of [
      "conn",
      "subs",
      "data",
      "payload",
      "imports",
      "exports",
      "leaf",
      "mem_storage",
      "disk_storage",
      "streams",
      "consumer",
    ]) {
      expect(platform.nats.limits?.[k], `platform limit ${k}`).to.equal(-1);
    }
    for (const s of secretsOf(dir)) {
      expect(conf).not.to.contain(s);
      expect(readFileSync(join(dir, "keys.json"), "utf8")).not.to.contain(s);
      expect(JSON.stringify(r)).not.to.contain(s);
    }
  });

  it("refuses to overwrite: a non-empty directory or a file is an error naming what is there", () => {
    const dir = join(base, "keys");
    initKeys(dir);
    const before = readFileSync(join(dir, "operator.nk"), "utf8");
    expect(code(() => initKeys(dir))).to.equal("VRS_KEYS_EXIST");
    expect(() => initKeys(dir)).to.throw(/not empty.*refusing to overwrite/);
    expect(readFileSync(join(dir, "operator.nk"), "utf8")).to.equal(before);
    const other = join(base, "other");
    mkdirSync(other);
    writeFileSync(join(other, "notes.txt"), "x");
    expect(code(() => initKeys(other))).to.equal("VRS_KEYS_EXIST");
    writeFileSync(join(base, "file"), "x");
    expect(code(() => initKeys(join(base, "file")))).to.equal("VRS_KEYS_EXIST");
    const empty = join(base, "empty");
    mkdirSync(empty, { mode: 0o755 });
    initKeys(empty);
    expect(statSync(empty).mode & 0o777).to.equal(0o700);
  });

  it("loads the keys back, checks that the files belong together, and prints as public keys only", () => {
    const dir = join(base, "keys");
    const r = initKeys(dir);
    const keys = loadKeys(dir);
    expect(keys.operator.getPublicKey()).to.equal(r.operatorPublicKey);
    expect(keys.systemAccount.getPublicKey()).to.equal(r.systemAccountPublicKey);
    expect(keys.platformAccount.getPublicKey()).to.equal(r.platformAccountPublicKey);
    expect(serverConfig(keys)).to.equal(readFileSync(r.serverConfig, "utf8"));
    for (const s of secretsOf(dir)) {
      expect(JSON.stringify(keys)).not.to.contain(s);
      expect(inspect(keys, { depth: 10, showHidden: true })).not.to.contain(s);
    }
    expect(code(() => loadKeys(join(base, "nowhere")))).to.equal("VRS_KEYS_MISSING");
    // a JWT from another installation
    const other = join(base, "other");
    initKeys(other);
    writeFileSync(join(dir, "platform-account.jwt"), readFileSync(join(other, "platform-account.jwt")));
    expect(code(() => loadKeys(dir))).to.equal("VRS_KEYS_INVALID");
    rmSync(join(dir, "master.key"));
    expect(code(() => loadKeys(dir))).to.equal("VRS_KEYS_MISSING");
    writeFileSync(join(other, "operator.nk"), "not a seed\n");
    expect(code(() => loadKeys(other))).to.equal("VRS_KEYS_INVALID");
  });

  it("derives tenant account keys with HKDF-SHA256(master, vrsky/tenant-account/<tenant>/<generation>)", () => {
    const dir = join(base, "keys");
    initKeys(dir);
    const keys = loadKeys(dir);
    const master = Buffer.from(readFileSync(join(dir, "master.key"), "utf8").trim(), "base64");
    const raw = new Uint8Array(hkdfSync("sha256", master, new Uint8Array(0), "vrsky/tenant-account/acme/0", 32));
    const reference = fromSeed(new TextEncoder().encode(encodeSeed("account", raw)));
    const acme0 = tenantAccountKey(keys, "acme", 0);
    expect(acme0.getPublicKey()).to.equal(reference.getPublicKey());
    expect(acme0.getPublicKey()[0]).to.equal("A");
    // deterministic across loads; different per tenant and per generation
    expect(tenantAccountKey(loadKeys(dir), "acme", 0).getPublicKey()).to.equal(acme0.getPublicKey());
    const pubs = new Set(
      ["acme/0", "acme/1", "acme/2", "globex/0", "globex/1", "acm/0"].map((id) =>
        tenantAccountKey(keys, id.split("/")[0]!, Number(id.split("/")[1])).getPublicKey(),
      ),
    );
    expect(pubs.size).to.equal(6);
    // another installation derives other keys
    initKeys(join(base, "k2"));
    expect(tenantAccountKey(loadKeys(join(base, "k2")), "acme", 0).getPublicKey()).not.to.equal(acme0.getPublicKey());
    for (const bad of ["", "Acme", "a/b", "-x", "a".repeat(64)])
      expect(
        code(() => tenantAccountKey(keys, bad, 0)),
        bad,
      ).to.equal("VRS_NAME_INVALID");
    expect(code(() => tenantAccountKey(keys, "acme", -1))).to.equal("VRS_KEY_GENERATION_INVALID");
    expect(code(() => tenantAccountKey(keys, "acme", 1.5))).to.equal("VRS_KEY_GENERATION_INVALID");
  });
});
