import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, parseCreds, type Account, type Generic, type User } from "@nats-io/jwt";
import {
  deleteAccountsJwt,
  tenantAccountJwt,
  tenantAccountPublicKey,
  tenantLimits,
  userCreds,
  userJwt,
} from "../../../engine/accounts/claims.js";
import { FastKeyPair } from "../../../engine/accounts/fast-keys.js";
import { initKeys, loadKeys, tenantAccountKey, type VrskyKeys } from "../../../engine/accounts/keys.js";
import { codeOf } from "../../helpers/codes.js";
import { tenantResource as tenant } from "../../helpers/manifests.js";
import { seedIn } from "./secrets.js";

describe("accounts: claims (tenant account JWTs, user creds, delete requests)", () => {
  let base: string;
  let keys: VrskyKeys;
  before(() => {
    base = mkdtempSync(join(tmpdir(), "vrsky-claims-"));
    initKeys(join(base, "keys"));
    keys = loadKeys(join(base, "keys"));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it("signs the tenant account with the operator, named after the tenant, EVERY limit explicit", () => {
    const t = tenant("acme", {
      accountKeyGeneration: 2,
      limits: {
        connections: 7,
        subscriptions: 99,
        payloadBytes: "64KiB",
        jetstream: { memoryBytes: 0, storageBytes: "10MB", streams: 3, consumers: 4 },
      },
    });
    const c = decode<Account>(tenantAccountJwt(keys, t));
    expect(c.iss).to.equal(keys.operator.getPublicKey());
    expect(c.sub).to.equal(tenantAccountKey(keys, "acme", 2).getPublicKey());
    expect(c.sub).to.equal(tenantAccountPublicKey(keys, t));
    expect(c.name).to.equal("acme");
    expect(c.nats.type).to.equal("account");
    expect(c.nats.limits).to.deep.equal({
      subs: 99,
      data: -1,
      payload: 65536,
      imports: 0,
      exports: 0,
      wildcards: true,
      conn: 7,
      leaf: 0,
      mem_storage: 0,
      disk_storage: 10_000_000,
      streams: 3,
      consumer: 4,
      mem_max_stream_bytes: -1,
      disk_max_stream_bytes: -1,
      max_bytes_required: false,
      max_ack_pending: -1,
    });
    expect(c.nats.disallow_bearer).to.equal(true);
  });

  it("fills in the schema defaults for limits the manifest leaves out (never an empty limits block)", () => {
    expect(tenantLimits(tenant("x"))).to.deep.equal({
      connections: 200,
      subscriptions: 10000,
      payloadBytes: 1048576,
      memoryBytes: 67108864,
      storageBytes: 1073741824,
      streams: 200,
      consumers: 500,
    });
    const c = decode<Account>(
      tenantAccountJwt(keys, { apiVersion: "vrsky.io/v1", kind: "Tenant", metadata: { name: "bare" } }),
    );
    expect(c.nats.limits?.conn).to.equal(200);
    expect(c.sub).to.equal(tenantAccountKey(keys, "bare", 0).getPublicKey());
  });

  it("gives the same JWT for equal inputs and iat; a different one when limits, revocations or generation change", () => {
    const t = tenant("acme", { limits: { connections: 5 } });
    const a = tenantAccountJwt(keys, t, { iat: 1_700_000_000 });
    expect(tenantAccountJwt(keys, structuredClone(t), { iat: 1_700_000_000 })).to.equal(a);
    expect(tenantAccountJwt(loadKeys(keys.dir), t, { iat: 1_700_000_000 }), "after a reload").to.equal(a);
    expect(tenantAccountJwt(keys, tenant("acme", { limits: { connections: 6 } }), { iat: 1_700_000_000 })).not.to.equal(
      a,
    );
    expect(tenantAccountJwt(keys, t, { iat: 1_700_000_001 })).not.to.equal(a);
    expect(
      tenantAccountJwt(keys, tenant("acme", { accountKeyGeneration: 1, limits: { connections: 5 } }), {
        iat: 1_700_000_000,
      }),
    ).not.to.equal(a);
    const u1 = FastKeyPair.create("user").getPublicKey();
    const u2 = FastKeyPair.create("user").getPublicKey();
    const r1 = tenantAccountJwt(keys, t, { iat: 1_700_000_000, revocations: { [u1]: 10, [u2]: 20 } });
    const r2 = tenantAccountJwt(keys, t, { iat: 1_700_000_000, revocations: { [u2]: 20, [u1]: 10 } });
    expect(r1, "revocation order does not matter").to.equal(r2);
    expect(decode<Account>(r1).nats.revocations).to.deep.equal({ [u1]: 10, [u2]: 20 });
    expect(codeOf(() => tenantAccountJwt(keys, t, { revocations: { "not-a-key": 1 } }))).to.equal(
      "VRS_PUBLIC_KEY_INVALID",
    );
    expect(codeOf(() => tenantAccountJwt(keys, tenant("acme", { limits: { payloadBytes: "lots" } })))).to.equal(
      "VRS_SIZE_INVALID",
    );
  });

  it("issues short-lived user creds signed by the tenant account key, denying $SYS.>", async () => {
    const now = Date.UTC(2030, 0, 1);
    const u = userCreds(keys, "acme", 0, { name: "worker-1", now });
    const p = await parseCreds(new TextEncoder().encode(u.creds));
    expect(p.aid).to.equal(tenantAccountKey(keys, "acme", 0).getPublicKey());
    expect(p.uc.iss).to.equal(p.aid);
    expect(p.uc.sub).to.equal(u.userPublicKey);
    expect(p.uc.name).to.equal("worker-1");
    expect(p.uc.exp! - p.uc.iat).to.equal(3600);
    expect(u.expiresAt).to.equal(new Date(now + 3_600_000).toISOString());
    expect(p.uc.nats.pub).to.deep.equal({ deny: ["$SYS.>"] });
    expect(p.uc.nats.sub).to.deep.equal({ deny: ["$SYS.>"] });
    expect(FastKeyPair.fromSeed(p.key).getPublicKey()).to.equal(u.userPublicKey);

    const narrow = userCreds(keys, "acme", 3, {
      name: "w",
      ttlSeconds: 60,
      allowPub: ["orders.>"],
      allowSub: ["orders.>", "_INBOX.>"],
    });
    const q = await parseCreds(new TextEncoder().encode(narrow.creds));
    expect(q.aid).to.equal(tenantAccountKey(keys, "acme", 3).getPublicKey());
    expect(q.uc.exp! - q.uc.iat).to.equal(60);
    expect((q.uc.nats as Partial<User>).pub).to.deep.equal({ allow: ["orders.>"], deny: ["$SYS.>"] });
    expect(codeOf(() => userCreds(keys, "acme", 0, { name: "w", ttlSeconds: 0 }))).to.equal("VRS_CREDS_TTL_INVALID");
    // Longer than revocations are kept: a pruned revocation could match it again.
    expect(codeOf(() => userCreds(keys, "acme", 0, { name: "w", ttlSeconds: 31 * 24 * 3600 }))).to.equal(
      "VRS_CREDS_TTL_INVALID",
    );
    expect(codeOf(() => userCreds(keys, "Acme", 0, { name: "w" }))).to.equal("VRS_NAME_INVALID");
    expect(codeOf(() => userCreds(keys, "acme", -1, { name: "w" }))).to.equal("VRS_KEY_GENERATION_INVALID");
    expect(codeOf(() => userJwt(keys, "acme", 0, keys.operator.getPublicKey(), { name: "w" }))).to.equal(
      "VRS_PUBLIC_KEY_INVALID",
    );
  });

  it("keeps the creds (user seed) out of JSON: the property is not enumerable", () => {
    const u = userCreds(keys, "acme", 0, { name: "w" });
    const seed = seedIn(u.creds)!;
    expect(seed).to.match(/^SU/);
    expect(JSON.stringify(u)).not.to.contain(seed);
    expect(Object.keys(u)).to.deep.equal(["userPublicKey", "accountPublicKey", "expiresAt"]);
  });

  it("builds the operator-signed delete request; refuses the system and platform accounts", () => {
    const a = tenantAccountKey(keys, "a", 0).getPublicKey();
    const b = tenantAccountKey(keys, "b", 0).getPublicKey();
    const c = decode<Generic>(deleteAccountsJwt(keys, [a, b]));
    expect(c.iss).to.equal(keys.operator.getPublicKey());
    expect(c.sub).to.equal(keys.operator.getPublicKey());
    expect(c.nats.accounts).to.deep.equal([a, b]);
    expect(codeOf(() => deleteAccountsJwt(keys, [keys.systemAccount.getPublicKey()]))).to.equal(
      "VRS_ACCOUNT_PROTECTED",
    );
    expect(codeOf(() => deleteAccountsJwt(keys, [keys.platformAccount.getPublicKey()]))).to.equal(
      "VRS_ACCOUNT_PROTECTED",
    );
    expect(codeOf(() => deleteAccountsJwt(keys, [keys.operator.getPublicKey()]))).to.equal("VRS_PUBLIC_KEY_INVALID");
  });
});
