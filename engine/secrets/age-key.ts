/**
 * The age identity that decrypts the secrets committed in the repository: `<keys>/secrets.agekey` (mode 0600), in
 * the key folder of `vrsky init`, never in git. The file has age's own format (`age -d -i` reads it): comment lines,
 * then `AGE-SECRET-KEY-1...`. Its public half, the recipient (`age1...`), is what `vrsky secret seal` encrypts to.
 */
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { inspect } from "node:util";
import { Decrypter, identityToRecipient } from "age-encryption";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { bech32Encode } from "./bech32.js";

export const SECRETS_KEY_FILE = "secrets.agekey";

/** PKCS#8 header of an X25519 private key (RFC 8410); the 32-byte scalar follows. */
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

export interface AgeKey {
  /** The file's text: comments with the recipient, then the identity (secret). */
  fileText: string;
  recipient: string;
}

/** A new X25519 age key; the recipient is derived with node:crypto so that this stays synchronous. */
export function newAgeKey(now = new Date()): AgeKey {
  const scalar = randomBytes(32);
  const identity = bech32Encode("AGE-SECRET-KEY-", scalar).toUpperCase();
  const der = Buffer.concat([X25519_PKCS8_PREFIX, scalar]);
  const priv = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  scalar.fill(0);
  der.fill(0);
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  const recipient = bech32Encode("age", spki.subarray(spki.length - 32));
  return {
    fileText: `# created: ${now.toISOString()}\n# public key: ${recipient}\n${identity}\n`,
    recipient,
  };
}

/** Writes a new `secrets.agekey` into a key folder (never over an existing one); returns its recipient. */
export function writeSecretsKey(keysDir: string): { path: string; recipient: string } {
  const path = join(resolve(keysDir), SECRETS_KEY_FILE);
  const key = newAgeKey();
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new VrskyError("VRS_KEYS_EXIST", `${path} exists; refusing to overwrite the secrets identity`);
    throw new VrskyError("VRS_WRITE_FAILED", `cannot write ${path}: ${errorMessage(e)}`);
  }
  try {
    writeSync(fd, key.fileText);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600);
  return { path, recipient: key.recipient };
}

/** The identity of a key folder. Prints as its recipient only; decrypts through `decrypter()`. */
export class AgeIdentity {
  readonly #identity: string;

  constructor(
    identity: string,
    readonly recipient: string,
  ) {
    this.#identity = identity;
  }

  decrypter(): Decrypter {
    const d = new Decrypter();
    d.addIdentity(this.#identity);
    return d;
  }

  toString(): string {
    return `AgeIdentity(${this.recipient})`;
  }

  toJSON(): { recipient: string } {
    return { recipient: this.recipient };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Reads `<keys>/secrets.agekey` (or any file `age-keygen` wrote); `VRS_SECRET_KEY_MISSING`, with the command that
 * creates it, when absent. The recipient is derived from the identity, never taken from the comment.
 */
export async function loadSecretsIdentity(keysDir: string): Promise<AgeIdentity> {
  const dir = resolve(keysDir);
  const path = join(dir, SECRETS_KEY_FILE);
  if (!existsSync(path)) {
    throw new VrskyError(
      "VRS_SECRET_KEY_MISSING",
      `${path} does not exist (a key folder made before secrets existed); create it with: vrsky secret keygen --keys ${dir}`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new VrskyError("VRS_KEYS_MISSING", `cannot read ${path}: ${errorMessage(e)}`);
  }
  const identity = text
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("AGE-SECRET-KEY-"));
  let recipient: string | undefined;
  try {
    if (identity) recipient = await identityToRecipient(identity);
  } catch {
    // a damaged identity: said below, without repeating any part of it
  }
  if (!identity || !recipient) throw new VrskyError("VRS_KEYS_INVALID", `${path} does not hold an age identity`);
  return new AgeIdentity(identity, recipient);
}
