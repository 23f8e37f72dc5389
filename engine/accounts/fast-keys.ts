/**
 * nkeys-compatible key pairs on Node's built-in Ed25519.
 *
 * @nats-io/nkeys signs with a pure-JS Ed25519 (tweetnacl): ~55 ms per signature and as much again to derive a
 * public key, so 1,000 tenant JWTs would cost a minute. The same keys through `node:crypto` cost ~50 µs.
 * `FastKeyPair` implements the nkeys `KeyPair` interface, so @nats-io/jwt's encoders accept it as subject and
 * signer, and the text forms (seed `S…`, public `A…`/`O…`/`U…`, private `P…`) are byte-for-byte those of nkeys.
 *
 * Secrets: a FastKeyPair never shows its seed in JSON.stringify, util.inspect or console.log (both are
 * overridden to show only the public key). Only `getSeed()`/`getPrivateKey()` give it out, for files written
 * with mode 0600 (key directory, creds). Never put their result in a log, status record or JSON output.
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from "node:crypto";
import { inspect } from "node:util";
import { NKeysError, NKeysErrorCode, type KeyPair } from "@nats-io/nkeys";

/** nkey prefix bytes (the first byte of the decoded public key). */
export const PREFIX = {
  seed: 18 << 3, // 'S'
  private: 15 << 3, // 'P'
  operator: 14 << 3, // 'O'
  server: 13 << 3, // 'N'
  cluster: 2 << 3, // 'C'
  account: 0, // 'A'
  user: 20 << 3, // 'U'
} as const;
export type KeyRole = "operator" | "account" | "user";

const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const TE = new TextEncoder();

/** CRC-16/XMODEM (poly 0x1021, init 0), as nkeys uses for its checksums. */
export function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const b of data) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** RFC 4648 base32 without padding. */
export function base32Encode(data: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of data) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new NKeysError(NKeysErrorCode.InvalidEncoding);
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function withChecksum(raw: Uint8Array): string {
  const out = new Uint8Array(raw.length + 2);
  out.set(raw);
  const c = crc16(raw);
  out[raw.length] = c & 0xff;
  out[raw.length + 1] = c >> 8;
  return base32Encode(out);
}

function checked(text: string): Uint8Array {
  const raw = base32Decode(text);
  if (raw.length < 4) throw new NKeysError(NKeysErrorCode.InvalidEncoding);
  const body = raw.subarray(0, raw.length - 2);
  if (crc16(body) !== (raw[raw.length - 2]! | (raw[raw.length - 1]! << 8)))
    throw new NKeysError(NKeysErrorCode.InvalidChecksum);
  return body;
}

/** Encodes a 32-byte public key with its role prefix: `A…`, `O…`, `U…`. */
export function encodePublic(role: KeyRole, raw: Uint8Array): string {
  const buf = new Uint8Array(33);
  buf[0] = PREFIX[role];
  buf.set(raw, 1);
  return withChecksum(buf);
}

/** Encodes a 32-byte Ed25519 seed as an nkey seed (`SO…`, `SA…`, `SU…`). */
export function encodeSeed(role: KeyRole, raw: Uint8Array): string {
  if (raw.length !== 32) throw new NKeysError(NKeysErrorCode.InvalidSeedLen);
  const p = PREFIX[role];
  const buf = new Uint8Array(34);
  buf[0] = PREFIX.seed | (p >> 5);
  buf[1] = (p & 31) << 3;
  buf.set(raw, 2);
  return withChecksum(buf);
}

/** Decodes an nkey seed into its role and the raw 32-byte Ed25519 seed. */
export function decodeSeed(text: string): { role: KeyRole; raw: Uint8Array } {
  const body = checked(text.trim());
  if (body.length !== 34 || (body[0]! & 248) !== PREFIX.seed) throw new NKeysError(NKeysErrorCode.InvalidSeed);
  const p = ((body[0]! & 7) << 5) | ((body[1]! & 248) >> 3);
  const role = (Object.keys(PREFIX) as Array<keyof typeof PREFIX>).find((k) => PREFIX[k] === p);
  if (role !== "operator" && role !== "account" && role !== "user")
    throw new NKeysError(NKeysErrorCode.InvalidPrefixByte);
  return { role, raw: body.slice(2) };
}

/** Decodes a public nkey into its role and raw 32 bytes (checksum verified). */
export function decodePublic(text: string): { role: KeyRole; raw: Uint8Array } {
  const body = checked(text);
  const role = (["operator", "account", "user"] as const).find((r) => PREFIX[r] === body[0]);
  if (!role || body.length !== 33) throw new NKeysError(NKeysErrorCode.InvalidPublicKey);
  return { role, raw: body.slice(1) };
}

/** True when `text` is a well-formed public nkey of the role. */
export function isPublicKey(text: string, role: KeyRole): boolean {
  try {
    return decodePublic(text).role === role;
  } catch {
    return false;
  }
}

const DUMMY_X = Buffer.alloc(32).toString("base64url");

/**
 * The private key object and raw public key of a raw Ed25519 seed.
 *
 * Importing PKCS#8 DER costs ~0.35 ms (OpenSSL 3's decoder framework); importing a JWK costs ~0.07 ms. A JWK
 * needs `x` (the public key) as well, which is what we want to compute: Node builds the key from `d` alone
 * (EVP_PKEY_new_raw_private_key) and only checks that `x` is a string, so a placeholder works, and the real
 * public key is then read back from the key. Should a Node version check `x`, the import throws and the DER
 * path is used instead. Unit tests compare the result with nkeys' own derivation and verify signatures.
 */
function importSeed(raw: Uint8Array): { priv: KeyObject; pub: Uint8Array } {
  let priv: KeyObject;
  try {
    priv = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: Buffer.from(raw).toString("base64url"), x: DUMMY_X },
      format: "jwk",
    });
  } catch {
    priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw]), format: "der", type: "pkcs8" });
  }
  const x = (createPublicKey(priv).export({ format: "jwk" }) as { x?: string }).x;
  if (typeof x === "string") {
    const pub = Buffer.from(x, "base64url");
    if (pub.length === 32) return { priv, pub: new Uint8Array(pub) };
  }
  priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  return { priv, pub: new Uint8Array(spki.subarray(SPKI_ED25519.length)) };
}

/** An nkeys `KeyPair` that signs and verifies with node:crypto. Operator, account and user keys only. */
export class FastKeyPair implements KeyPair {
  #seed: Uint8Array | undefined;
  #key: KeyObject | undefined;
  #cleared = false;
  #pubKey: KeyObject | undefined;
  readonly #rawPub: Uint8Array;
  readonly #public: string;

  private constructor(
    readonly role: KeyRole,
    seed: Uint8Array | undefined,
    rawPub: Uint8Array,
    priv: KeyObject | undefined,
  ) {
    this.#seed = seed;
    this.#key = priv;
    this.#rawPub = rawPub;
    this.#public = encodePublic(role, rawPub);
  }

  /** A key pair from a raw 32-byte Ed25519 seed (e.g. derived with HKDF). */
  static fromRawSeed(role: KeyRole, raw: Uint8Array): FastKeyPair {
    if (raw.length !== 32) throw new NKeysError(NKeysErrorCode.InvalidSeedLen);
    const { priv, pub } = importSeed(raw);
    return new FastKeyPair(role, Uint8Array.from(raw), pub, priv);
  }

  /** A key pair from an nkey seed (`SA…`), text or bytes, as nkeys' `fromSeed`. */
  static fromSeed(seed: string | Uint8Array): FastKeyPair {
    const { role, raw } = decodeSeed(typeof seed === "string" ? seed : new TextDecoder().decode(seed));
    return FastKeyPair.fromRawSeed(role, raw);
  }

  /** A public-only key pair (verify only), as nkeys' `fromPublic`. */
  static fromPublic(pub: string): FastKeyPair {
    const { role, raw } = decodePublic(pub);
    return new FastKeyPair(role, undefined, raw, undefined);
  }

  /** A new random key pair. */
  static create(role: KeyRole): FastKeyPair {
    return FastKeyPair.fromRawSeed(role, randomBytes(32));
  }

  getPublicKey(): string {
    return this.#public;
  }

  /** The nkey seed text as bytes (what nkeys returns). Secret: files of mode 0600 only. */
  getSeed(): Uint8Array {
    return TE.encode(encodeSeed(this.role, this.#rawSeed()));
  }

  /** The nkey private key (`P…`: seed and public key) as bytes. Secret. */
  getPrivateKey(): Uint8Array {
    const buf = new Uint8Array(65);
    buf[0] = PREFIX.private;
    buf.set(this.#rawSeed(), 1);
    buf.set(this.#rawPub, 33);
    return TE.encode(withChecksum(buf));
  }

  sign(input: Uint8Array): Uint8Array {
    if (!this.#key) throw new NKeysError(this.#cleared ? NKeysErrorCode.ClearedPair : NKeysErrorCode.CannotSign);
    return new Uint8Array(edSign(null, input, this.#key));
  }

  verify(input: Uint8Array, sig: Uint8Array): boolean {
    if (this.#cleared) throw new NKeysError(NKeysErrorCode.ClearedPair);
    if (sig.length !== 64) return false;
    this.#pubKey ??= createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(this.#rawPub).toString("base64url") },
      format: "jwk",
    });
    return edVerify(null, input, this.#pubKey, sig);
  }

  clear(): void {
    this.#seed?.fill(0);
    this.#seed = undefined;
    this.#key = undefined;
    this.#cleared = true;
  }

  seal(): Uint8Array {
    throw new NKeysError(NKeysErrorCode.InvalidNKeyOperation);
  }

  open(): Uint8Array | null {
    throw new NKeysError(NKeysErrorCode.InvalidNKeyOperation);
  }

  #rawSeed(): Uint8Array {
    if (this.#cleared) throw new NKeysError(NKeysErrorCode.ClearedPair);
    if (!this.#seed) throw new NKeysError(NKeysErrorCode.PublicKeyOnly);
    return this.#seed;
  }

  /** JSON shows the public key only. */
  toJSON(): { role: KeyRole; publicKey: string } {
    return { role: this.role, publicKey: this.#public };
  }

  [inspect.custom](): string {
    return `FastKeyPair(${this.role} ${this.#public})`;
  }
}
