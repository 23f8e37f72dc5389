/**
 * The tree diff of two commits read through a long-lived `git cat-file` (object-reader.ts) instead of a
 * `git diff-tree` process: both root trees are compared entry by entry and only subtrees whose id differs are read
 * (one batch per level), so a one-file commit in a repository of 11,000 files reads a handful of trees. The result
 * is what `git diff-tree -r --raw --no-renames` gives (tree-diff.ts `TreeChange`), in git's path order.
 */
import { comparePaths } from "../manifests/desired-model.js";
import { parseCommit, type GitObjectReader } from "./object-reader.js";
import type { TreeChange } from "./tree-diff.js";

interface Entry {
  mode: string;
  oid: string;
}

const TREE = "40000";

/** The entries of a tree object's bytes, by name (`<mode> <name>\0<raw id>` each). */
export function parseTree(bytes: Buffer, hashBytes: number): Map<string, Entry> {
  const out = new Map<string, Entry>();
  let at = 0;
  while (at < bytes.length) {
    const sp = bytes.indexOf(32, at);
    const nul = bytes.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + hashBytes > bytes.length) throw new Error("malformed tree object");
    const mode = bytes.subarray(at, sp).toString("latin1");
    const name = bytes.subarray(sp + 1, nul).toString("utf8");
    out.set(name, { mode, oid: bytes.subarray(nul + 1, nul + 1 + hashBytes).toString("hex") });
    at = nul + 1 + hashBytes;
  }
  return out;
}

/** The kind git compares for a type change (`T`): regular file, symbolic link or submodule. */
function kind(mode: string): string {
  return mode === "120000" ? "link" : mode === "160000" ? "gitlink" : "file";
}

/** git's six-digit form of a mode ("100644", "000000" for none). */
function mode6(mode: string | undefined): string {
  return (mode ?? "0").padStart(6, "0");
}

/**
 * The files that differ between two commits; undefined when more than `limit` differ (the caller reads the whole
 * tree instead) or when either commit is not there.
 */
export async function diffCommits(
  reader: GitObjectReader,
  from: string,
  to: string,
  limit = Infinity,
): Promise<TreeChange[] | undefined> {
  const [a, b] = await reader.contents([`${from}^{commit}`, `${to}^{commit}`]);
  if (!a?.bytes || !b?.bytes) return undefined;
  const zero = "0".repeat(a.oid.length);
  const hashBytes = a.oid.length / 2;
  const changes: TreeChange[] = [];
  const add = (status: TreeChange["status"], path: string, before: Entry | undefined, after: Entry | undefined) =>
    changes.push({
      status,
      path,
      mode: mode6(after?.mode),
      oid: after?.oid ?? zero,
      oldMode: mode6(before?.mode),
      oldOid: before?.oid ?? zero,
    });

  // Pairs of trees to compare (undefined on one side: every file below the other is added or deleted).
  let level: Array<{ prefix: string; before?: string; after?: string }> = [
    { prefix: "", before: parseCommit(a.bytes).tree, after: parseCommit(b.bytes).tree },
  ];
  while (level.length > 0) {
    const ids = [...new Set(level.flatMap((p) => [p.before, p.after]).filter((x): x is string => x !== undefined))];
    const objects = await reader.contents(ids);
    const trees = new Map<string, Map<string, Entry>>();
    ids.forEach((id, i) => {
      const o = objects[i];
      if (!o?.bytes || o.type !== "tree") throw new Error(`tree ${id} is missing`);
      trees.set(id, parseTree(o.bytes, hashBytes));
    });
    const next: typeof level = [];
    for (const pair of level) {
      const before = pair.before ? trees.get(pair.before)! : new Map<string, Entry>();
      const after = pair.after ? trees.get(pair.after)! : new Map<string, Entry>();
      for (const name of new Set([...before.keys(), ...after.keys()])) {
        const x = before.get(name);
        const y = after.get(name);
        if (x && y && x.oid === y.oid && x.mode === y.mode) continue;
        const path = pair.prefix + name;
        const xTree = x?.mode === TREE ? x : undefined;
        const yTree = y?.mode === TREE ? y : undefined;
        if (xTree || yTree) next.push({ prefix: `${path}/`, before: xTree?.oid, after: yTree?.oid });
        const xFile = xTree ? undefined : x;
        const yFile = yTree ? undefined : y;
        if (xFile && yFile) {
          if (kind(xFile.mode) === kind(yFile.mode)) add("M", path, xFile, yFile);
          else add("T", path, xFile, yFile);
        } else if (xFile) add("D", path, xFile, undefined);
        else if (yFile) add("A", path, undefined, yFile);
      }
      if (changes.length > limit) return undefined;
    }
    level = next;
  }
  return changes.sort((p, q) => comparePaths(p.path, q.path));
}
