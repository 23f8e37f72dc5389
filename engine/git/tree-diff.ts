import { VrskyError } from "../errors/errors.js";
import { git, gitOk } from "./exec.js";

/** One path that differs between two commits (`git diff-tree -r --raw`, renames as a delete and an add). */
export interface TreeChange {
  status: "A" | "M" | "D" | "T";
  path: string;
  /** Mode and blob id after the change ("000000" and zeros for a delete). */
  mode: string;
  oid: string;
  /** Mode before the change ("000000" for an add). */
  oldMode: string;
  oldOid: string;
}

/**
 * The files that differ between two commits, whole tree, renames and copies not detected, from a `git diff-tree`
 * process. The reconciler reads the diff through its long-lived reader instead (tree-walk.ts `diffCommits`); this
 * is the plain-git form that `diffCommits` is tested against.
 */
export async function diffTrees(repo: string, from: string, to: string): Promise<TreeChange[]> {
  const out = await gitOk(repo, ["diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-commit-id", from, to]);
  const parts = out.toString("utf8").split("\0");
  const changes: TreeChange[] = [];
  // -z --raw: ":<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0" per file.
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const meta = parts[i]!;
    if (!meta.startsWith(":")) break;
    const [oldMode, mode, oldOid, oid, status] = meta.slice(1).split(" ");
    changes.push({
      status: status![0] as TreeChange["status"],
      path: parts[i + 1]!,
      mode: mode!,
      oid: oid!,
      oldMode: oldMode!,
      oldOid: oldOid!,
    });
  }
  return changes;
}

/** Whether `ancestor` is `commit` or one of its ancestors (a fast-forward from it). */
export async function isAncestor(repo: string, ancestor: string, commit: string): Promise<boolean> {
  const r = await git(repo, ["merge-base", "--is-ancestor", ancestor, commit]);
  if (r.code > 1)
    throw new VrskyError("VRS_GIT_FAILED", `git merge-base failed in ${repo}: ${r.stderr.trim().split("\n")[0] ?? ""}`);
  return r.code === 0;
}
