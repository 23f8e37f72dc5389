import { armor, Encrypter } from "age-encryption";
import { git } from "../git/exec.js";
import { readBlobs, resolveCommit } from "../git/revision.js";
import { VrskyError } from "../errors/errors.js";
import { loadSecretsIdentity, type AgeIdentity } from "./age-key.js";
import { checkSecretRef, secretMissing, type SecretProvider } from "./provider.js";
import { SecretValue } from "./value.js";

/** Larger than any credential; a bigger file is a mistake, not a secret. */
export const MAX_SEALED_BYTES = 1024 * 1024;
const ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----";

/** Where a sealed secret lives in the repository. */
export function sealedPath(tenant: string, name: string): string {
  checkSecretRef(tenant, name);
  return `secrets/${tenant}/${name}.age`;
}

/**
 * Secrets committed in the repository, `secrets/<tenant>/<name>.age`, encrypted with age to the key folder's
 * recipient. Read from git objects at one commit, never the working tree: like manifests, only committed content
 * counts, so every reconciler and worker at that revision sees the same secrets. A committed link is refused.
 * Errors name the file and the commit, never its content.
 */
export class GitSecretProvider implements SecretProvider {
  constructor(
    readonly repo: string,
    readonly commit: string,
    readonly identity: AgeIdentity,
  ) {}

  /** The provider at a revision (branch, tag or commit id) with the identity of a key folder. */
  static async open(repo: string, ref: string, keysDir: string): Promise<GitSecretProvider> {
    return new GitSecretProvider(repo, await resolveCommit(repo, ref), await loadSecretsIdentity(keysDir));
  }

  async has(tenant: string, name: string): Promise<boolean> {
    return (await this.#entry(tenant, name)) !== undefined;
  }

  async resolve(tenant: string, name: string): Promise<SecretValue> {
    const entry = await this.#entry(tenant, name);
    const path = sealedPath(tenant, name);
    const at = `${path} at ${this.commit.slice(0, 12)}`;
    if (!entry) throw secretMissing(tenant, name, `no ${at}`);
    if (entry.mode !== "100644" && entry.mode !== "100755")
      throw new VrskyError("VRS_SECRET_UNREADABLE", `${at} is not a regular file (links are refused)`);
    if (entry.size > MAX_SEALED_BYTES)
      throw new VrskyError("VRS_SECRET_UNREADABLE", `${at} is ${entry.size} bytes; the limit is ${MAX_SEALED_BYTES}`);
    const sealed = (await readBlobs(this.repo, [entry.oid])).get(entry.oid)!;
    return new SecretValue(await openSealed(sealed, this.identity, at));
  }

  async #entry(tenant: string, name: string): Promise<{ mode: string; oid: string; size: number } | undefined> {
    const path = sealedPath(tenant, name);
    const r = await git(this.repo, ["ls-tree", "-z", "-l", "--full-tree", this.commit, "--", path]);
    if (r.code !== 0)
      throw new VrskyError("VRS_GIT_FAILED", `git ls-tree failed in ${this.repo}: ${r.stderr.trim().split("\n")[0]}`);
    const rec = r.stdout.toString("utf8").split("\0")[0] ?? "";
    const tab = rec.indexOf("\t");
    if (tab < 0 || rec.slice(tab + 1) !== path) return undefined;
    const [mode, type, oid, size] = rec.slice(0, tab).split(/ +/);
    if (type !== "blob") return undefined;
    return { mode: mode!, oid: oid!, size: Number(size) };
  }
}

/**
 * Decrypts a sealed file (armored or binary). The library's own error is dropped on purpose: the message says only
 * which kind of failure it was, so nothing of the file or its plaintext can reach a log.
 */
export async function openSealed(sealed: Uint8Array, identity: AgeIdentity, what: string): Promise<Uint8Array> {
  let binary: Uint8Array;
  try {
    const text = Buffer.from(sealed).toString("latin1");
    binary = text.trimStart().startsWith(ARMOR_BEGIN) ? armor.decode(text) : sealed;
  } catch {
    throw new VrskyError("VRS_SECRET_UNREADABLE", `${what} is damaged (not a readable age file)`);
  }
  try {
    return await identity.decrypter().decrypt(binary);
  } catch (e) {
    const wrongKey = e instanceof Error && /no identity matched/.test(e.message);
    throw new VrskyError(
      "VRS_SECRET_UNREADABLE",
      wrongKey
        ? `${what} is not sealed for this key folder's recipient ${identity.recipient}`
        : `${what} is damaged (age could not decrypt it)`,
    );
  }
}

/** Encrypts a value to age recipients, armored (see docs/operations.md for why). */
export async function seal(value: Uint8Array, recipients: string[]): Promise<string> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return armor.encode(await e.encrypt(value));
}
