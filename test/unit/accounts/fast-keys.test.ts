import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { createAccount, createOperator, createUser, fromPublic, fromSeed } from "@nats-io/nkeys";
import { decode, encodeAccount, encodeGeneric, encodeOperator, encodeUser, fmtCreds, parseCreds } from "@nats-io/jwt";
import {
  base32Decode,
  base32Encode,
  decodeSeed,
  encodeSeed,
  FastKeyPair,
  isPublicKey,
  type KeyRole,
} from "../../../engine/accounts/fast-keys.js";
import { decodeJwt, signJwt } from "../../../engine/accounts/jwt.js";
import { codeOf } from "../../helpers/codes.js";

const TE = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("accounts: FastKeyPair (node:crypto Ed25519 behind the nkeys KeyPair interface)", () => {
  it("derives the same public key, seed and private key text as nkeys for random seeds of every role", () => {
    const roles: KeyRole[] = ["operator", "account", "user"];
    for (let i = 0; i < 12; i++) {
      const role = roles[i % 3]!;
      const raw = randomBytes(32);
      const fast = FastKeyPair.fromRawSeed(role, raw);
      const slow = fromSeed(TE.encode(encodeSeed(role, raw)));
      expect(fast.getPublicKey(), `seed ${i}`).to.equal(slow.getPublicKey());
      expect(text(fast.getSeed())).to.equal(text(slow.getSeed()));
      expect(text(fast.getPrivateKey())).to.equal(text(slow.getPrivateKey()));
      expect(fast.getPublicKey()[0]).to.equal({ operator: "O", account: "A", user: "U" }[role]);
    }
    // and the other way round: seeds nkeys made
    for (const slow of [createOperator(), createAccount(), createUser()]) {
      const fast = FastKeyPair.fromSeed(slow.getSeed());
      expect(fast.getPublicKey()).to.equal(slow.getPublicKey());
      expect(decodeSeed(text(slow.getSeed())).role).to.equal(fast.role);
    }
  });

  it("signs what nkeys verifies, verifies what nkeys signs, and rejects tampering", () => {
    const fast = FastKeyPair.create("account");
    const data = TE.encode("the quick brown fox");
    const sig = fast.sign(data);
    expect(sig.length).to.equal(64);
    expect(fromPublic(fast.getPublicKey()).verify(data, sig)).to.equal(true);
    const slow = fromSeed(fast.getSeed());
    expect(Buffer.from(slow.sign(data)).equals(Buffer.from(sig)), "Ed25519 is deterministic: same signature").to.equal(
      true,
    );
    expect(fast.verify(data, slow.sign(data))).to.equal(true);
    expect(FastKeyPair.fromPublic(fast.getPublicKey()).verify(data, sig)).to.equal(true);
    const bad = Uint8Array.from(sig);
    bad[0]! ^= 1;
    expect(fast.verify(data, bad)).to.equal(false);
    expect(fast.verify(TE.encode("the quick brown fax"), sig)).to.equal(false);
    expect(fromPublic(fast.getPublicKey()).verify(data, bad)).to.equal(false);
  });

  it("is accepted by @nats-io/jwt's encoders as subject and signer; their JWTs decode and verify", async () => {
    const op = FastKeyPair.create("operator");
    const acct = FastKeyPair.create("account");
    const user = FastKeyPair.create("user");
    const oj = decode<{ system_account: string }>(
      await encodeOperator("op", op, { system_account: acct.getPublicKey() }),
    );
    expect(oj.iss).to.equal(op.getPublicKey());
    const aj = decode(await encodeAccount("acct", acct, { limits: { conn: 5 } }, { signer: op }));
    expect([aj.iss, aj.sub]).to.deep.equal([op.getPublicKey(), acct.getPublicKey()]);
    const uj = await encodeUser("u", user, acct, { pub: { deny: ["$SYS.>"] } });
    const parsed = await parseCreds(fmtCreds(uj, user));
    expect([parsed.aid, parsed.uc.sub, parsed.key]).to.deep.equal([
      acct.getPublicKey(),
      user.getPublicKey(),
      text(user.getSeed()),
    ]);
    const gj = decode<{ accounts: string[] }>(
      await encodeGeneric("del", op, "generic", { accounts: [acct.getPublicKey()] }),
    );
    expect(gj.nats.accounts).to.deep.equal([acct.getPublicKey()]);
    // a public-only pair works as subject
    const aj2 = decode(await encodeAccount("acct", FastKeyPair.fromPublic(acct.getPublicKey()), {}, { signer: op }));
    expect(aj2.sub).to.equal(acct.getPublicKey());
  });

  // Speed is compared with the reference nkeys key pair in the same run (a ratio holds on a loaded machine; a
  // wall-clock bound does not). The figures themselves are in bench:accounts.
  it("signs account JWTs several times faster than the reference nkeys key pair (@nats-io/jwt and signJwt)", async () => {
    const n = 200;
    const time = async (signer: Parameters<typeof encodeAccount>[3]) => {
      const accounts = Array.from({ length: n }, () => FastKeyPair.create("account"));
      const t0 = performance.now();
      const jwts = await Promise.all(
        accounts.map((a, i) => encodeAccount(`t-${i}`, a, { limits: { conn: 10 } }, signer)),
      );
      return { ms: performance.now() - t0, jwts };
    };
    const op = FastKeyPair.create("operator");
    // The reference signs in pure JavaScript (tens to hundreds of ms each): a few suffice for its cost per JWT.
    const refN = 5;
    const t00 = performance.now();
    for (let i = 0; i < refN; i++)
      await encodeAccount(
        `r-${i}`,
        FastKeyPair.create("account"),
        { limits: { conn: 10 } },
        { signer: createOperator() },
      );
    const slow = { ms: ((performance.now() - t00) / refN) * n };
    const viaLib = await time({ signer: op });
    const accounts = Array.from({ length: n }, () => FastKeyPair.create("account"));
    const t0 = performance.now();
    const viaOurs = accounts.map((a, i) =>
      signJwt("account", { name: `t-${i}`, sub: a.getPublicKey(), nats: { limits: { conn: 10 } } }, op),
    );
    const oursMs = performance.now() - t0;
    console.log(
      `      ${n} account JWTs: reference nkeys ~${slow.ms.toFixed(0)} ms (from ${refN}), @nats-io/jwt + FastKeyPair ` +
        `${viaLib.ms.toFixed(0)} ms, signJwt ${oursMs.toFixed(0)} ms`,
    );
    expect(viaLib.ms * 4, "FastKeyPair at least 4× faster").to.be.below(slow.ms);
    expect(oursMs * 4, "signJwt at least 4× faster").to.be.below(slow.ms);
    // spot checks with the slow reference verifier
    for (const j of [viaLib.jwts[0]!, viaLib.jwts[n - 1]!, viaOurs[0]!, viaOurs[n - 1]!])
      expect(decode(j).iss).to.equal(op.getPublicKey());
  });

  it("creates 1,000 fresh key pairs without a pathological cost (user creds make one each)", () => {
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) FastKeyPair.create("user");
    // ~0.1–0.5 ms each on a 2-core machine; the bound only catches a pathological regression on a loaded one.
    expect(performance.now() - t0).to.be.below(5_000);
  });

  it("never shows the seed in JSON or inspect; a cleared pair can no longer sign", () => {
    const kp = FastKeyPair.create("account");
    const seed = text(kp.getSeed());
    expect(JSON.stringify({ kp })).not.to.contain(seed);
    expect(JSON.stringify({ kp })).to.contain(kp.getPublicKey());
    expect(inspect(kp)).not.to.contain(seed);
    expect(String(kp)).not.to.contain(seed);
    kp.clear();
    expect(() => kp.sign(TE.encode("x"))).to.throw(/cleared/);
    expect(() => kp.getSeed()).to.throw(/cleared/);
    expect(() => FastKeyPair.fromPublic(kp.getPublicKey()).sign(TE.encode("x"))).to.throw(/cannot sign/);
  });

  it("encodes base32 and checks checksums like nkeys", () => {
    for (let n = 0; n < 40; n++) {
      const b = randomBytes(n);
      expect(Buffer.from(base32Decode(base32Encode(b))).equals(b)).to.equal(true);
    }
    const pub = FastKeyPair.create("user").getPublicKey();
    expect(isPublicKey(pub, "user")).to.equal(true);
    expect(isPublicKey(pub, "account")).to.equal(false);
    const broken = pub.slice(0, 10) + (pub[10] === "A" ? "B" : "A") + pub.slice(11);
    expect(isPublicKey(broken, "user")).to.equal(false);
    expect(() => FastKeyPair.fromSeed("SAXXX")).to.throw();
    expect(() => fromPublic(broken)).to.throw();
  });

  it("decodeJwt verifies with node:crypto and refuses a JWT whose body was changed", () => {
    const op = FastKeyPair.create("operator");
    const j = signJwt(
      "account",
      { name: "x", sub: FastKeyPair.create("account").getPublicKey(), nats: {} },
      op,
      1_700_000_000,
    );
    expect(decodeJwt(j).iat).to.equal(1_700_000_000);
    const [h, b, s] = j.split(".");
    const body = JSON.parse(Buffer.from(b!, "base64url").toString()) as { name: string };
    body.name = "y";
    const forged = [h, Buffer.from(JSON.stringify(body)).toString("base64url"), s].join(".");
    expect(codeOf(() => decodeJwt(forged))).to.equal("VRS_JWT_INVALID");
    expect(() => decode(forged)).to.throw(/sig/);
    expect(codeOf(() => decodeJwt("not a jwt"))).to.equal("VRS_JWT_INVALID");
    expect(codeOf(() => decodeJwt("a.b.c"))).to.equal("VRS_JWT_INVALID");
    const foreign = Buffer.from(JSON.stringify({ ...body, iss: "nobody" })).toString("base64url");
    expect(codeOf(() => decodeJwt([h, foreign, s].join(".")))).to.equal("VRS_JWT_INVALID");
  });
});
