import { posix } from "node:path";
import { VrskyError } from "../errors/errors.js";
import { isManifestPath, mayHideManifests, strayEntry, type ManifestFile, type ParseCache } from "../manifests/load.js";
import { DEFAULT_LIMITS, type InputLimits } from "../manifests/limits.js";
import { ALLOW_PRUNE_TRAILER } from "../plan/deletion-guard.js";
import { git, gitOk } from "./exec.js";
import { parseCommit, type GitObjectReader } from "./object-reader.js";

interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  size: number;
  path: string;
}

/** The commit id a ref names; operational error when the repository or the ref does not exist. */
export async function resolveCommit(repo: string, ref: string): Promise<string> {
  // One git process when the ref exists (every run of the reconciler); the checks below explain a failure.
  if (!ref.startsWith("-")) {
    const fast = await git(repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`]);
    if (fast.code === 0) return fast.stdout.toString("utf8").trim();
  }
  const check = await git(repo, ["rev-parse", "--git-dir"]);
  if (check.code !== 0) throw new VrskyError("VRS_GIT_NOT_A_REPO", `${repo} is not a git repository`);
  if (ref.startsWith("-")) throw new VrskyError("VRS_GIT_BAD_REF", `'${ref}' is not a revision`);
  const r = await git(repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`]);
  if (r.code !== 0) throw new VrskyError("VRS_GIT_BAD_REF", `revision '${ref}' does not exist in ${repo}`);
  return r.stdout.toString("utf8").trim();
}

/**
 * The commit a ref names and its parents, in one git process when the ref exists (a reader that read a parent
 * last needs no ancestry check); errors as resolveCommit.
 */
export async function resolveHead(
  repo: string,
  ref: string,
  reader?: GitObjectReader,
): Promise<{ commit: string; parents: string[] }> {
  if (reader && !ref.startsWith("-")) {
    // No git process at all: the reader's long-lived cat-file (a missing ref is explained by the path below).
    const [c] = await reader.contents([`${ref}^{commit}`]).catch(() => [undefined]);
    if (c?.bytes && c.type === "commit") return { commit: c.oid, parents: parseCommit(c.bytes).parents };
  }
  if (!ref.startsWith("-")) {
    const r = await git(repo, ["rev-parse", `${ref}^{commit}`, `${ref}^@`]);
    const lines = r.stdout
      .toString("utf8")
      .split("\n")
      .filter((l) => /^[0-9a-f]{40,64}$/.test(l));
    if (r.code === 0 && lines.length > 0) return { commit: lines[0]!, parents: lines.slice(1) };
  }
  return { commit: await resolveCommit(repo, ref), parents: [] };
}

/**
 * The manifest files of a commit (or the files `select` picks, such as fixture tests), read from git objects
 * (never the work tree). Blobs already in the cache are not read again; oversized blobs are not read at all.
 */
export async function readRevision(
  repo: string,
  commit: string,
  options: {
    limits?: InputLimits;
    cache?: ParseCache;
    select?: (path: string) => boolean;
    /** Filled in: how many of the selected files are symbolic links (their targets may change elsewhere). */
    stats?: { links: number };
  } = {},
): Promise<ManifestFile[]> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const select = options.select ?? isManifestPath;
  const entries = await listTree(repo, commit, ["tenants", "integrations"]);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const files: ManifestFile[] = [];
  const links: Array<{ file: ManifestFile; entry: TreeEntry }> = [];
  for (const e of entries) {
    if (!select(e.path)) {
      // A submodule or a link standing for a folder would hide (or swap in) manifests unseen: a finding, once (in
      // the manifests' load, not again in the fixtures').
      const special = e.type === "commit" ? "submodule" : e.mode === "120000" ? "link" : undefined;
      if (!options.select && special && mayHideManifests(e.path)) files.push(strayEntry(e.path, special));
      continue;
    }
    if (e.type === "commit") {
      files.push(strayEntry(e.path, "submodule"));
    } else if (e.mode === "120000") {
      const file: ManifestFile = { path: e.path };
      links.push({ file, entry: e });
      files.push(file);
    } else {
      files.push(regular(e, limits));
    }
  }
  if (options.stats) options.stats.links = links.length;
  if (files.length > limits.maxFiles) return files;
  if (links.length > 0) await resolveLinks(repo, commit, links, byPath, limits);
  const wanted = new Set<string>();
  for (const f of files) if (f.oid && !f.problem && !options.cache?.get(f.oid)) wanted.add(f.oid);
  const blobs = await readBlobs(repo, [...wanted]);
  for (const f of files) if (f.oid && wanted.has(f.oid)) f.bytes = blobs.get(f.oid);
  return files;
}

/**
 * The regular files committed under `secrets/` at a commit (the sealed secrets of the git provider), or undefined
 * when the commit has no `secrets/` folder. A link or a submodule there is not a sealed secret (the provider
 * refuses links), so it is left out.
 */
export async function sealedSecretsAt(repo: string, commit: string): Promise<Set<string> | undefined> {
  const entries = await listTree(repo, commit, ["secrets"]);
  if (entries.length === 0) return undefined;
  return new Set(entries.filter((e) => e.type === "blob" && e.mode !== "120000").map((e) => e.path));
}

function regular(e: TreeEntry, limits: InputLimits): ManifestFile {
  if (e.size > limits.maxFileBytes) {
    return {
      path: e.path,
      problem: problem("VRS_FILE_TOO_LARGE", `file is ${e.size} bytes; the limit is ${limits.maxFileBytes} bytes`),
    };
  }
  return { path: e.path, oid: e.oid };
}

function problem(
  code: "VRS_FILE_TOO_LARGE" | "VRS_FILE_UNSUPPORTED_TYPE" | "VRS_FILE_SYMLINK_OUTSIDE" | "VRS_FILE_SYMLINK_BROKEN",
  message: string,
) {
  return { line: 1, column: 1, path: "", code, message } as const;
}

/** Follows symbolic links inside the committed tree (up to 8 hops); links leaving the repository are errors. */
async function resolveLinks(
  repo: string,
  commit: string,
  links: Array<{ file: ManifestFile; entry: TreeEntry }>,
  byPath: Map<string, TreeEntry>,
  limits: InputLimits,
): Promise<void> {
  for (const { file, entry } of links) {
    let current = entry;
    let hops = 0;
    for (;;) {
      const target = (await readBlobs(repo, [current.oid])).get(current.oid)!.toString("utf8");
      const resolved = posix.normalize(posix.join(posix.dirname(current.path), target));
      if (posix.isAbsolute(target) || resolved === ".." || resolved.startsWith("../")) {
        file.problem = problem("VRS_FILE_SYMLINK_OUTSIDE", `link to '${target}' leaves the repository`);
        break;
      }
      const next = byPath.get(resolved) ?? (await listTree(repo, commit, [resolved])).find((e) => e.path === resolved);
      if (!next) {
        // ls-tree -r lists a folder's files, never the folder: ask git what the target is.
        const kind = await git(repo, ["cat-file", "-t", `${commit}:${resolved}`]);
        file.problem =
          kind.code === 0 && kind.stdout.toString("utf8").trim() === "tree"
            ? problem("VRS_FILE_UNSUPPORTED_TYPE", `link to '${target}' points to a folder, not a file`)
            : problem("VRS_FILE_SYMLINK_BROKEN", `link to '${target}' points to nothing in this revision`);
        break;
      }
      if (next.mode !== "120000") {
        Object.assign(
          file,
          next.type === "blob"
            ? regular({ ...next, path: file.path }, limits)
            : { problem: problem("VRS_FILE_UNSUPPORTED_TYPE", `link to '${target}' is not a file`) },
        );
        break;
      }
      if (++hops >= 8) {
        file.problem = problem("VRS_FILE_SYMLINK_BROKEN", "too many levels of symbolic links");
        break;
      }
      current = next;
    }
  }
}

async function listTree(repo: string, commit: string, paths: string[]): Promise<TreeEntry[]> {
  const out = await gitOk(repo, ["ls-tree", "-r", "-z", "-l", "--full-tree", commit, "--", ...paths]);
  const entries: TreeEntry[] = [];
  for (const rec of out.toString("utf8").split("\0")) {
    if (rec === "") continue;
    const tab = rec.indexOf("\t");
    const [mode, type, oid, size] = rec.slice(0, tab).split(/ +/);
    entries.push({
      mode: mode!,
      type: type!,
      oid: oid!,
      size: size === "-" ? 0 : Number(size),
      path: rec.slice(tab + 1),
    });
  }
  return entries;
}

/** Reads many blobs through one `git cat-file --batch` process. */
export async function readBlobs(repo: string, oids: string[]): Promise<Map<string, Buffer>> {
  const map = new Map<string, Buffer>();
  if (oids.length === 0) return map;
  const out = await gitOk(repo, ["cat-file", "--batch"], oids.join("\n") + "\n");
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(10, pos);
    const header = out.subarray(pos, nl).toString("utf8");
    const [oid, type, size] = header.split(" ");
    if (type === "missing") throw new VrskyError("VRS_GIT_FAILED", `object ${oid} is missing from ${repo}`);
    const n = Number(size);
    map.set(oid!, out.subarray(nl + 1, nl + 1 + n));
    pos = nl + 1 + n + 1;
  }
  return map;
}

/** Whether the commit's message carries the trailer that permits the deletion guard's prune (`Vrsky-Allow-Prune: true`). */
export async function allowsPrune(repo: string, commit: string): Promise<boolean> {
  const body = await git(repo, ["log", "-1", "--format=%B", commit]);
  return ALLOW_PRUNE_TRAILER.test(body.stdout.toString("utf8"));
}
