/**
 * Where the data plane's processes (gateway, workers, the reconciler's checks) find the value behind a `secretRef`:
 * a directory of files (`--secrets-dir`, a mounted Kubernetes Secret), else the age-encrypted files committed in
 * the repository (`--repo`, decrypted with the key folder's identity) at the revision the integration was applied
 * from. The directory wins when both are given and it has the secret.
 */
import { DirectorySecretProvider } from "./directory.js";
import { GitSecretProvider } from "./git-age.js";
import { secretMissing } from "./provider.js";
import type { SecretValue } from "./value.js";

export interface SecretSourceOptions {
  /** `<dir>/<tenant>/<name>` files. */
  secretsDir?: string;
  /** A git repository with `secrets/<tenant>/<name>.age`, and the key folder holding `secrets.agekey`. */
  repo?: string;
  keysDir?: string;
}

/** Secrets of any tenant, at a revision. */
export interface SecretSource {
  /** The secret's value (VRS_SECRET_MISSING when no provider has it). `revision`: the commit the reference is from. */
  resolve(tenant: string, name: string, revision: string): Promise<SecretValue>;
  has(tenant: string, name: string, revision: string): Promise<boolean>;
  /** Whether any provider is configured (without one every reference is missing). */
  readonly configured: boolean;
}

export function secretSource(o: SecretSourceOptions): SecretSource {
  const dir = o.secretsDir ? new DirectorySecretProvider(o.secretsDir) : undefined;
  const gits = new Map<string, Promise<GitSecretProvider>>();
  const git = (revision: string): Promise<GitSecretProvider> | undefined => {
    if (!o.repo || !o.keysDir || revision === "") return undefined;
    let p = gits.get(revision);
    if (!p) {
      p = GitSecretProvider.open(o.repo, revision, o.keysDir);
      gits.set(revision, p);
      p.catch(() => gits.delete(revision));
      // A handful of revisions are live at once; forget old ones.
      if (gits.size > 16) gits.delete(gits.keys().next().value!);
    }
    return p;
  };
  return {
    configured: dir !== undefined || (o.repo !== undefined && o.keysDir !== undefined),
    async resolve(tenant, name, revision) {
      if (dir && (await dir.has(tenant, name))) return dir.resolve(tenant, name);
      const g = git(revision);
      if (g) return (await g).resolve(tenant, name);
      if (dir) return dir.resolve(tenant, name);
      throw secretMissing(tenant, name, "no secret provider is configured (--secrets-dir, or --repo with --keys)");
    },
    async has(tenant, name, revision) {
      if (dir && (await dir.has(tenant, name))) return true;
      const g = git(revision);
      return g ? (await g).has(tenant, name) : false;
    },
  };
}
