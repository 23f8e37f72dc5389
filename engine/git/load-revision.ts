import { loadDesired, ParseCache, type DesiredState } from "../manifests/load.js";
import type { InputLimits } from "../manifests/limits.js";
import { checkFixtures, type CheckedFixtures } from "../pipeline/fixtures/check.js";
import { isFixturePath } from "../pipeline/fixtures/paths.js";
import { readRevision, resolveCommit, sealedSecretsAt } from "./revision.js";
import { readWorktree, sealedSecretsInWorktree } from "./worktree.js";

export interface LoadedRevision {
  ref: string;
  /** A commit id, or `worktree` for an explicit working-tree load. */
  revision: string;
  state: DesiredState;
}

/**
 * Validates and loads the desired state committed at a ref. When the commit has a `secrets/` folder, every
 * `secretRef` must be sealed in it (VRS_SECRET_MISSING otherwise).
 */
export async function loadCommitted(
  repo: string,
  ref: string,
  options: { cache?: ParseCache; limits?: InputLimits } = {},
): Promise<LoadedRevision> {
  const revision = await resolveCommit(repo, ref);
  const cache = options.cache ?? new ParseCache();
  const [files, sealedSecrets] = await Promise.all([
    readRevision(repo, revision, { cache, limits: options.limits }),
    sealedSecretsAt(repo, revision),
  ]);
  return { ref, revision, state: loadDesired(files, { cache, limits: options.limits, sealedSecrets }) };
}

/** Validates the working tree as it is on disk (uncommitted edits included): for editors, never for applying. */
export async function loadWorktree(root: string, options: { limits?: InputLimits } = {}): Promise<LoadedRevision> {
  const files = await readWorktree(root, options);
  const sealedSecrets = await sealedSecretsInWorktree(root);
  return { ref: "worktree", revision: "worktree", state: loadDesired(files, { ...options, sealedSecrets }) };
}

/**
 * Reads and checks the fixture test files (integrations/<tenant>/<name>.test.yaml) of a loaded revision, from
 * the same commit (or the working tree). Fixtures never change what is applied: only `validate` and `test`
 * read them.
 */
export async function loadFixtures(
  repo: string,
  loaded: LoadedRevision,
  options: { limits?: InputLimits } = {},
): Promise<CheckedFixtures> {
  const files =
    loaded.revision === "worktree"
      ? await readWorktree(repo, { ...options, select: isFixturePath })
      : await readRevision(repo, loaded.revision, { ...options, select: isFixturePath });
  return checkFixtures(files, loaded.state, options);
}
