import { comparePaths } from "../manifests/desired-model.js";
import { isManifestPath, parseIntoCache, type ManifestFile, type ParseCache } from "../manifests/load.js";
import { DEFAULT_LIMITS, type InputLimits } from "../manifests/limits.js";
import { readRevision, sealedSecretsAt } from "./revision.js";
import { GitObjectReader, readBlobsVia } from "./object-reader.js";
import { isAncestor, type TreeChange } from "./tree-diff.js";
import { diffCommits } from "./tree-walk.js";

/** One revision as `RevisionReader.read` gives it. */
export interface RevisionRead {
  commit: string;
  /** The commit `changed` is counted from (the previous read); undefined for a full read. */
  base?: string;
  /** The manifest files, in git's order, parsed into the cache (their bytes are not kept). */
  files: ManifestFile[];
  /** The regular files under `secrets/`; undefined when the revision has no such folder. */
  sealedSecrets?: Set<string>;
  /**
   * The manifest paths that changed since the previous read, with their new file (undefined: removed): from the
   * tree diff, or for a full read by comparing the two lists. Undefined on the first read and every `fullEvery`th,
   * when everything is to be checked anew.
   */
  changed?: Map<string, ManifestFile | undefined>;
  /** How it was read: every file listed (`full`), the tree diff from the previous read, or the same commit. */
  mode: "full" | "incremental" | "same";
}

export interface RevisionReaderOptions {
  limits?: InputLimits;
  /** A full read, with no delta (everything checked anew), at least once in this many reads (default 100). */
  fullEvery?: number;
  /** A diff naming more files than this is read in full (default 2,000). */
  maxChanges?: number;
}

const SPECIAL = new Set(["120000", "160000"]);
const WATCHED = /^(tenants|integrations|secrets)\//;

/**
 * Reads the revisions of one repository one after the other, each as a change to the one before: the tree diff
 * between the previously read commit and the new one names the files to read again; a full read lists the whole
 * tree. A full read happens on the first read, on request, when the new commit does not descend from the previous
 * one (a force push), when manifests are symbolic links (their targets can change anywhere), when the diff is
 * large, and every `fullEvery` reads. The parse cache keeps exactly the blobs of the last revision read.
 */
export class RevisionReader {
  private last: { commit: string; files: ManifestFile[]; sealed?: Set<string>; links: number } | undefined;
  /** Paths of the last revision holding each blob (a blob leaves the cache with its last path). */
  private readonly holders = new Map<string, number>();
  private sinceFull = 0;
  /** The repository's objects through one long-lived `git cat-file` (no git process per commit). */
  readonly objects: GitObjectReader;

  constructor(
    readonly repo: string,
    private readonly cache: ParseCache,
    private readonly options: RevisionReaderOptions = {},
  ) {
    this.objects = new GitObjectReader(repo);
  }

  /** Stops the reader's git process (it also stops by itself when idle). */
  close(): void {
    this.objects.close();
  }

  /**
   * The revision at `commit`; `full` lists the whole tree whatever came before. `parents`: the commit's parents
   * when known (a commit on top of the last one read needs no ancestry check).
   */
  async read(commit: string, o: { full?: boolean; parents?: readonly string[] } = {}): Promise<RevisionRead> {
    const last = this.last;
    if (!o.full && last?.commit === commit) {
      return { commit, base: commit, files: last.files, sealedSecrets: last.sealed, changed: new Map(), mode: "same" };
    }
    const fullEvery = this.options.fullEvery ?? 100;
    const rebuild = !last || this.sinceFull >= fullEvery;
    if (!o.full && !rebuild && last.links === 0) {
      // The last commit read may be gone (a force push, then gc): the full read below does not need it.
      const r = await this.readChanges(last, commit, o.parents?.includes(last.commit) ?? false).catch(() => undefined);
      if (r) {
        this.sinceFull++;
        return r;
      }
    }
    const r = await this.readFull(commit);
    if (rebuild) this.sinceFull = 0;
    else {
      this.sinceFull++;
      r.base = last!.commit;
      r.changed = compareLists(last!.files, r.files);
    }
    return r;
  }

  /** Forgets the previous revision: the next read is a full one. */
  reset(): void {
    this.last = undefined;
  }

  private async readFull(commit: string): Promise<RevisionRead> {
    const limits = this.options.limits ?? DEFAULT_LIMITS;
    const stats = { links: 0 };
    const [files, sealed] = await Promise.all([
      readRevision(this.repo, commit, { cache: this.cache, limits, stats }),
      sealedSecretsAt(this.repo, commit),
    ]);
    await parseIntoCache(files, this.cache, { limits });
    this.holders.clear();
    for (const f of files) {
      delete f.bytes;
      if (f.oid) this.holders.set(f.oid, (this.holders.get(f.oid) ?? 0) + 1);
    }
    this.cache.retain(new Set(this.holders.keys()));
    this.last = { commit, files, sealed, links: stats.links };
    return { commit, files, sealedSecrets: sealed, mode: "full" };
  }

  /** The diff from the last revision applied to its files; undefined when a full read is needed instead. */
  private async readChanges(
    last: NonNullable<RevisionReader["last"]>,
    commit: string,
    child: boolean,
  ): Promise<RevisionRead | undefined> {
    const limits = this.options.limits ?? DEFAULT_LIMITS;
    const maxChanges = this.options.maxChanges ?? 2_000;
    const [diff, descends] = await Promise.all([
      diffCommits(this.objects, last.commit, commit, maxChanges),
      child || isAncestor(this.repo, last.commit, commit),
    ]);
    if (!descends || !diff) return undefined;
    if (diff.some((c) => WATCHED.test(c.path) && (SPECIAL.has(c.mode) || SPECIAL.has(c.oldMode)))) return undefined;
    const manifests = diff.filter((c) => isManifestPath(c.path));
    const added = manifests.filter((c) => c.status !== "D").length;
    const removed = manifests.filter((c) => c.status !== "A").length;
    if (last.files.length + added - removed > limits.maxFiles) return undefined;
    const unread = [...new Set(manifests.filter((c) => c.status !== "D" && !this.cache.get(c.oid)).map((c) => c.oid))];
    const secretsChanged = diff.some((c) => c.path.startsWith("secrets/"));
    const [blobs, sealed] = await Promise.all([
      readBlobsVia(this.objects, unread, limits.maxFileBytes),
      secretsChanged ? sealedSecretsAt(this.repo, commit) : Promise.resolve(last.sealed),
    ]);
    const changed = new Map<string, ManifestFile | undefined>();
    for (const c of manifests) changed.set(c.path, c.status === "D" ? undefined : this.fileOf(c, blobs.get(c.oid)));
    await parseIntoCache(
      [...changed.values()].filter((f) => f !== undefined),
      this.cache,
      { limits },
    );
    const files = last.files.slice();
    const replaced: string[] = [];
    for (const [path, f] of changed) {
      const at = lowerBound(files, path);
      const present = files[at]?.path === path;
      const old = present ? files[at] : undefined;
      if (f) delete f.bytes;
      if (f && present) files[at] = f;
      else if (f) files.splice(at, 0, f);
      else if (present) files.splice(at, 1);
      if (f?.oid) this.holders.set(f.oid, (this.holders.get(f.oid) ?? 0) + 1);
      if (old?.oid) replaced.push(old.oid);
    }
    // After every new holder is counted: a blob that moved to another path stays in the cache.
    for (const oid of replaced) this.release(oid);
    this.last = { commit, files, sealed, links: 0 };
    return { commit, base: last.commit, files, sealedSecrets: sealed, changed, mode: "incremental" };
  }

  private fileOf(c: TreeChange, blob: { size: number; bytes?: Buffer } | undefined): ManifestFile {
    const limits = this.options.limits ?? DEFAULT_LIMITS;
    if (blob && blob.size > limits.maxFileBytes) {
      return {
        path: c.path,
        problem: {
          line: 1,
          column: 1,
          path: "",
          code: "VRS_FILE_TOO_LARGE",
          message: `file is ${blob.size} bytes; the limit is ${limits.maxFileBytes} bytes`,
        },
      };
    }
    return { path: c.path, oid: c.oid, bytes: blob?.bytes };
  }

  private release(oid: string): void {
    const n = (this.holders.get(oid) ?? 1) - 1;
    if (n > 0) this.holders.set(oid, n);
    else {
      this.holders.delete(oid);
      this.cache.delete(oid);
    }
  }
}

/** The paths whose file differs between two lists in git's order (a merge walk). */
function compareLists(
  before: readonly ManifestFile[],
  after: readonly ManifestFile[],
): Map<string, ManifestFile | undefined> {
  const changed = new Map<string, ManifestFile | undefined>();
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const a = before[i];
    const b = after[j];
    const order = !a ? 1 : !b ? -1 : comparePaths(a.path, b.path);
    if (order < 0) changed.set(a!.path, undefined);
    else if (order > 0) changed.set(b!.path, b);
    else if (a!.oid !== b!.oid || JSON.stringify(a!.problem) !== JSON.stringify(b!.problem)) changed.set(b!.path, b);
    if (order <= 0) i++;
    if (order >= 0) j++;
  }
  return changed;
}

function lowerBound(files: readonly ManifestFile[], path: string): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (comparePaths(files[mid]!.path, path) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
