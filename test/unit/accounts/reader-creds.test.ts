import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userCreds } from "../../../engine/accounts/claims.js";
import { initKeys, loadKeys, type VrskyKeys } from "../../../engine/accounts/keys.js";
import {
  checkReadOnlyCreds,
  READER_PUBLISH,
  readerUser,
  writableBecause,
} from "../../../engine/accounts/reader-user.js";
import { decodeJwt } from "../../../engine/accounts/jwt.js";
import { credsJwt } from "../../../engine/accounts/platform-user.js";
import { isVrskyError } from "../../../engine/errors/errors.js";

describe("read-only platform creds (vrsky creds --reader) and the check of pr-check --creds", () => {
  let dir: string;
  let keys: VrskyKeys;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "vrsky-reader-"));
    initKeys(join(dir, "keys"));
    keys = loadKeys(join(dir, "keys"));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  function codeOf(f: () => void): string | undefined {
    try {
      f();
      return undefined;
    } catch (e) {
      return isVrskyError(e) ? e.code : "not a VrskyError";
    }
  }

  it("a reader is a platform user that may publish only the read requests and subscribe only to its inbox", () => {
    const r = readerUser(keys, { ttlSeconds: 3600 });
    const claims = decodeJwt<{ pub: { allow: string[] }; sub: { allow: string[] }; tags: string[] }>(
      credsJwt(r.creds)!,
    );
    expect(claims.iss).to.equal(keys.platformAccount.getPublicKey());
    expect(claims.nats.pub.allow).to.deep.equal([...READER_PUBLISH]);
    expect(claims.nats.sub.allow).to.deep.equal(["_INBOX.>"]);
    expect(claims.nats.pub.allow.some((s) => s.startsWith("$KV"))).to.equal(false);
    // Serialised (a log line, --format json), the reader is its public key and expiry: no seed. (Not "no `SU` in
    // the text": a random public key holds those two letters in about one run of twenty.)
    expect(Object.keys(JSON.parse(JSON.stringify(r)) as object)).to.deep.equal(["userPublicKey", "expiresAt"]);
    expect(r.userPublicKey).to.match(/^U[A-Z2-7]{55}$/);
    const file = join(dir, "reader.creds");
    writeFileSync(file, r.creds);
    expect(codeOf(() => checkReadOnlyCreds(file))).to.equal(undefined);
  });

  it("creds that may publish more are refused: the engine's platform creds, a tenant user, an extra subject", () => {
    expect(writableBecause({})).to.match(/any subject/);
    expect(writableBecause({ pub: { allow: [...READER_PUBLISH, "$KV.vrsky-tenants.>"] } })).to.include(
      "$KV.vrsky-tenants.>",
    );
    expect(writableBecause({ pub: { allow: [...READER_PUBLISH] } })).to.equal(undefined);
    expect(codeOf(() => checkReadOnlyCreds(keys.files.platformCreds))).to.equal("VRS_CREDS_WRITABLE");
    const tenant = join(dir, "tenant.creds");
    writeFileSync(tenant, userCreds(keys, "acme", 0, { name: "u", ttlSeconds: 60 }).creds);
    expect(codeOf(() => checkReadOnlyCreds(tenant))).to.equal("VRS_CREDS_WRITABLE");
    const junk = join(dir, "junk.creds");
    writeFileSync(junk, "not creds");
    expect(codeOf(() => checkReadOnlyCreds(junk))).to.equal("VRS_CREDS_INVALID");
  });
});
