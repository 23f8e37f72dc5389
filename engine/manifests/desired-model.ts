import { compareFindings, type Finding } from "../errors/finding.js";
import { resourceKey, type Resource } from "../model/resources.js";
import { checkPlacement, checkReferences, compareKeys, type Located } from "./cross-file.js";
import { DEFAULT_LIMITS } from "./limits.js";
import type { DesiredState, LoadOptions, ManifestFile, ParseCache } from "./load.js";
import { parseFile } from "./parse-file.js";
import { checkSealedSecrets } from "./secret-refs.js";

/** What one resource key was before an update and is after it (absent: not in that state). */
export interface ResourceChange {
  before?: Resource;
  after?: Resource;
}

export interface DesiredUpdate {
  state: DesiredState;
  /**
   * The resource keys (`resourceKey`) whose resource may differ from the previous update's state: a key not here
   * has the same resource object as before. Undefined after a full build.
   */
  changed?: Map<string, ResourceChange>;
}

/** What one file contributes on its own: its parse, document and placement findings, and its documents. */
interface FileEntry {
  path: string;
  findings: Finding[];
  docs: Located[];
  /** VRS_SECRET_MISSING of the file's integrations under the current sealed secrets. */
  secretFindings: Finding[];
}

/** The documents of one tenant (its tenant document and its integrations), in file order, and their checks. */
interface Group {
  docs: Located[];
  findings: Finding[];
  /** The first definition of each key. */
  resources: Map<string, Resource>;
}

/**
 * The desired state of a revision, kept up to date file by file: `update` with the files that changed since the
 * previous update re-checks only those files and the tenants their documents belong to, and gives the same state
 * as a build from all files (`loadDesired`). Pure: no I/O.
 */
export class DesiredModel {
  private readonly entries = new Map<string, FileEntry>();
  private readonly groups = new Map<string, Group>();
  /** Files and groups with findings: the state's findings are theirs. */
  private readonly flaggedFiles = new Set<FileEntry>();
  private readonly flaggedGroups = new Set<Group>();
  /** Files with sealed-secret references, re-checked when the sealed secrets change. */
  private readonly withRefs = new Set<FileEntry>();
  private keys: string[] = [];
  private sorted: Resource[] = [];
  private sealed: ReadonlySet<string> | undefined;
  private files = 0;
  private built = false;
  private tooMany: Finding | undefined;

  constructor(private readonly options: LoadOptions & { cache?: ParseCache } = {}) {}

  /**
   * The state of `files`. With `changed` (the paths changed since the previous update, with their new file or
   * undefined when removed), only those are read again; without, everything is built anew.
   */
  update(
    files: readonly ManifestFile[],
    o: { changed?: ReadonlyMap<string, ManifestFile | undefined>; sealedSecrets?: ReadonlySet<string> } = {},
  ): DesiredUpdate {
    const limits = this.options.limits ?? DEFAULT_LIMITS;
    if (!o.changed || !this.built || this.tooMany || files.length > limits.maxFiles) {
      return { state: this.build(files, o.sealedSecrets) };
    }
    try {
      return this.apply(files, o.changed, o.sealedSecrets);
    } catch (e) {
      // Half applied: the next update builds anew.
      this.built = false;
      throw e;
    }
  }

  private apply(
    files: readonly ManifestFile[],
    changes: ReadonlyMap<string, ManifestFile | undefined>,
    sealed: ReadonlySet<string> | undefined,
  ): DesiredUpdate {
    const affected = new Set<string>();
    for (const [path, f] of changes) {
      const old = this.entries.get(path);
      if (old) this.drop(old, affected);
      if (f) this.add(this.entry(f, sealed), affected, true);
    }
    if (sealed !== this.sealed) {
      this.sealed = sealed;
      for (const e of this.withRefs) this.checkSecrets(e, this.sealed);
    }
    const changed = new Map<string, ResourceChange>();
    for (const name of affected) {
      const g = this.groups.get(name)!;
      const before = g.resources;
      this.check(g);
      if (g.docs.length === 0) this.groups.delete(name);
      for (const [key, r] of before) if (!g.resources.has(key)) changed.set(key, { before: r });
      for (const [key, r] of g.resources) {
        const old = before.get(key);
        if (old !== r) changed.set(key, { before: old, after: r });
      }
    }
    for (const [key, c] of changed) this.place(key, c.after);
    this.files = files.length;
    return { state: this.state(), changed };
  }

  private build(files: readonly ManifestFile[], sealed: ReadonlySet<string> | undefined): DesiredState {
    const limits = this.options.limits ?? DEFAULT_LIMITS;
    this.entries.clear();
    this.groups.clear();
    this.flaggedFiles.clear();
    this.flaggedGroups.clear();
    this.withRefs.clear();
    this.built = true;
    this.files = files.length;
    this.sealed = sealed;
    this.tooMany = undefined;
    this.keys = [];
    this.sorted = [];
    if (files.length > limits.maxFiles) {
      this.tooMany = {
        file: ".",
        line: 1,
        column: 1,
        path: "",
        code: "VRS_REPO_TOO_MANY_FILES",
        message: `the revision has ${files.length} manifest files; the limit is ${limits.maxFiles}`,
      };
      return this.state();
    }
    const affected = new Set<string>();
    for (const f of files) this.add(this.entry(f, sealed), affected, false);
    const all: Array<[string, Resource]> = [];
    for (const g of this.groups.values()) {
      this.check(g);
      for (const x of g.resources) all.push(x);
    }
    all.sort((a, b) => compareKeys(a[0], b[0]));
    this.keys = all.map((x) => x[0]);
    this.sorted = all.map((x) => x[1]);
    return this.state();
  }

  private state(): DesiredState {
    if (this.tooMany) return { resources: [], findings: [this.tooMany], files: this.files };
    const findings: Finding[] = [];
    for (const e of this.flaggedFiles) findings.push(...e.findings, ...e.secretFindings);
    for (const g of this.flaggedGroups) findings.push(...g.findings);
    findings.sort((a, b) => compareFindings(a, b) || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
    return { resources: this.sorted.slice(), findings, files: this.files };
  }

  /** The file's own findings and documents (parsed, or taken from the cache). */
  private entry(f: ManifestFile, sealed: ReadonlySet<string> | undefined): FileEntry {
    const e: FileEntry = { path: f.path, findings: [], docs: [], secretFindings: [] };
    if (f.problem) {
      e.findings.push({ file: f.path, ...f.problem });
      return e;
    }
    const cache = this.options.cache;
    let parsed = f.oid ? cache?.get(f.oid) : undefined;
    if (!parsed) {
      const limits = this.options.limits ?? DEFAULT_LIMITS;
      parsed = parseFile(f.bytes ?? new Uint8Array(), limits, this.options.connectors);
      if (f.oid) cache?.set(f.oid, parsed);
    }
    for (const x of parsed.findings) e.findings.push({ file: f.path, ...x });
    const single = parsed.documentCount === 1;
    for (const doc of parsed.documents) {
      for (const x of doc.findings) e.findings.push({ file: f.path, ...x });
      e.findings.push(...checkPlacement(f.path, doc, single));
      e.docs.push({ file: f.path, doc, single });
    }
    this.checkSecrets(e, sealed);
    return e;
  }

  private checkSecrets(e: FileEntry, sealed: ReadonlySet<string> | undefined): void {
    const refs = e.docs
      .filter((d) => d.doc.resource?.kind === "Integration" && d.doc.secretRefs.length > 0)
      .map((d) => ({ file: d.file, tenant: d.doc.tenant!, refs: d.doc.secretRefs }));
    if (refs.length > 0) this.withRefs.add(e);
    e.secretFindings = checkSealedSecrets(refs, sealed);
    this.flag(e);
  }

  private flag(e: FileEntry): void {
    if (e.findings.length > 0 || e.secretFindings.length > 0) this.flaggedFiles.add(e);
    else this.flaggedFiles.delete(e);
  }

  private add(e: FileEntry, affected: Set<string>, ordered: boolean): void {
    this.entries.set(e.path, e);
    this.flag(e);
    for (const d of e.docs) {
      const name = groupOf(d);
      if (name === undefined) continue;
      affected.add(name);
      let g = this.groups.get(name);
      if (!g) this.groups.set(name, (g = { docs: [], findings: [], resources: new Map() }));
      if (!ordered) g.docs.push(d);
      else g.docs.splice(upperBound(g.docs, d.file), 0, d);
    }
  }

  private drop(e: FileEntry, affected: Set<string>): void {
    this.entries.delete(e.path);
    this.flaggedFiles.delete(e);
    this.withRefs.delete(e);
    for (const d of e.docs) {
      const name = groupOf(d);
      if (name === undefined) continue;
      affected.add(name);
      const g = this.groups.get(name)!;
      g.docs = g.docs.filter((x) => x !== d);
    }
  }

  private check(g: Group): void {
    g.findings = checkReferences(g.docs);
    if (g.findings.length > 0) this.flaggedGroups.add(g);
    else this.flaggedGroups.delete(g);
    g.resources = new Map();
    for (const d of g.docs) {
      const r = d.doc.resource;
      if (r && !g.resources.has(resourceKey(r))) g.resources.set(resourceKey(r), r);
    }
  }

  /** Puts a resource at its place in the sorted state, replaces it, or (undefined) takes it out. */
  private place(key: string, r: Resource | undefined): void {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(this.keys[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    const found = this.keys[lo] === key;
    if (r === undefined) {
      if (found) {
        this.keys.splice(lo, 1);
        this.sorted.splice(lo, 1);
      }
    } else if (found) this.sorted[lo] = r;
    else {
      this.keys.splice(lo, 0, key);
      this.sorted.splice(lo, 0, r);
    }
  }
}

/** The tenant whose rules a document takes part in: a tenant's own name, an integration's tenant. */
function groupOf(d: Located): string | undefined {
  return d.doc.kind === "Tenant" ? d.doc.name : d.doc.kind === "Integration" ? d.doc.tenant : undefined;
}

/** The index after the last document of a file that sorts at or before `file` (git's order: by bytes). */
function upperBound(docs: readonly Located[], file: string): number {
  let lo = 0;
  let hi = docs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (comparePaths(docs[mid]!.file, file) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Compares paths as git orders them (by their UTF-8 bytes, which is the order of code points). */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
