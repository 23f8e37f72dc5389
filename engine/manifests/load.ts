import type { ConnectorRegistry } from "../connectors/registry.js";
import { compareFindings, type FileFinding, type Finding } from "../errors/finding.js";
import { resourceKey, type Resource, type TenantResource } from "../model/resources.js";
import { DEFAULT_LIMITS, type InputLimits } from "./limits.js";
import { parseFile, type ParsedDocument, type ParsedFile } from "./parse-file.js";
import { checkSealedSecrets } from "./secret-refs.js";

/** A candidate manifest file of a revision: its bytes, or the reason it could not be read. */
export interface ManifestFile {
  path: string;
  /** Content id (git blob id); equal ids mean equal bytes, so the parse is shared. */
  oid?: string;
  bytes?: Uint8Array;
  problem?: FileFinding;
}

export interface DesiredState {
  /** Sorted by resourceKey: tenants first, then integrations by tenant and name. */
  resources: Resource[];
  findings: Finding[];
  files: number;
}

/** Parsed files by blob id. One cache serves both revisions of a plan, so unchanged files are parsed once. */
export class ParseCache {
  private readonly map = new Map<string, ParsedFile>();
  get(oid: string): ParsedFile | undefined {
    return this.map.get(oid);
  }
  set(oid: string, parsed: ParsedFile): void {
    this.map.set(oid, parsed);
  }
  get size(): number {
    return this.map.size;
  }
}

const MANIFEST = /^(tenants|integrations)\/(?:[^/.][^/]*\/)*[^/.][^/]*\.ya?ml$/;
/** Fixture tests (`<name>.test.yaml`, engine/pipeline/fixtures) are never manifests. */
const FIXTURE = /\.test\.ya?ml$/;

/** Whether a repository path is a manifest: a .yaml/.yml file under tenants/ or integrations/, not hidden and not in a hidden folder. */
export function isManifestPath(path: string): boolean {
  return MANIFEST.test(path) && !FIXTURE.test(path);
}

/**
 * Whether a submodule or a link at `path` (one that is not a manifest file) could hide manifests or swap some in
 * unseen: anywhere under tenants/ or integrations/ except hidden entries and fixture tests (loaded on their own).
 */
export function mayHideManifests(path: string): boolean {
  return /^(tenants|integrations)(?:\/(?:[^/.][^/]*\/)*[^/.][^/]*)?$/.test(path) && !FIXTURE.test(path);
}

/**
 * A submodule, or a link that is not a manifest file (one standing for a folder), in a manifest folder: a finding
 * that names its path. Git never lists a submodule's files, and a linked folder is not followed, so the manifests
 * behind either would silently be missing from the revision (and their live resources deleted).
 */
export function strayEntry(path: string, kind: "submodule" | "link"): ManifestFile {
  const at = { line: 1, column: 1, path: "" } as const;
  return kind === "submodule"
    ? {
        path,
        problem: {
          ...at,
          code: "VRS_FILE_SUBMODULE",
          message: `'${path}' is a git submodule; manifests in it are not read`,
        },
      }
    : {
        path,
        problem: {
          ...at,
          code: "VRS_FILE_SYMLINK_UNSUPPORTED",
          message: `'${path}' is a symbolic link that is not a manifest file; manifests behind it are not read`,
        },
      };
}

/**
 * Parses the files the cache does not hold yet, giving the event loop a turn every `sliceMs`; `loadDesired`
 * then takes every parse from the cache, with the same result. For long-running callers: a cold revision
 * of 10,000 files parses for seconds, long enough to miss lease renewals and probes if done in one go.
 */
export async function parseIntoCache(
  files: ManifestFile[],
  cache: ParseCache,
  options: LoadOptions & { sliceMs?: number } = {},
): Promise<void> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  if (files.length > limits.maxFiles) return;
  const sliceMs = options.sliceMs ?? 10;
  let sliceStart = performance.now();
  for (const f of files) {
    if (f.problem || !f.oid || cache.get(f.oid)) continue;
    cache.set(f.oid, parseFile(f.bytes ?? new Uint8Array(), limits, options.connectors));
    if (performance.now() - sliceStart >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
}

interface Located {
  file: string;
  doc: ParsedDocument;
  single: boolean;
}

export interface LoadOptions {
  limits?: InputLimits;
  /** The connectors manifests may use; by default every registered connector. A cache serves one registry. */
  connectors?: ConnectorRegistry;
}

export interface DesiredOptions extends LoadOptions {
  cache?: ParseCache;
  /**
   * The regular files under `secrets/` at the revision, when it has that folder: every `secretRef` must then be
   * sealed there (`secrets/<tenant>/<name>.age`, VRS_SECRET_MISSING otherwise). Undefined: no such folder, no check.
   */
  sealedSecrets?: ReadonlySet<string>;
}

/** Builds the desired state of a revision from its manifest files. Pure: no I/O. */
export function loadDesired(files: ManifestFile[], options: DesiredOptions = {}): DesiredState {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const findings: Finding[] = [];
  if (files.length > limits.maxFiles) {
    findings.push({
      file: ".",
      line: 1,
      column: 1,
      path: "",
      code: "VRS_REPO_TOO_MANY_FILES",
      message: `the revision has ${files.length} manifest files; the limit is ${limits.maxFiles}`,
    });
    return { resources: [], findings, files: files.length };
  }
  const docs: Located[] = [];
  for (const f of files) {
    if (f.problem) {
      findings.push({ file: f.path, ...f.problem });
      continue;
    }
    let parsed = f.oid ? options.cache?.get(f.oid) : undefined;
    if (!parsed) {
      parsed = parseFile(f.bytes ?? new Uint8Array(), limits, options.connectors);
      if (f.oid) options.cache?.set(f.oid, parsed);
    }
    for (const x of parsed.findings) findings.push({ file: f.path, ...x });
    const single = parsed.documentCount === 1;
    for (const doc of parsed.documents) {
      for (const x of doc.findings) findings.push({ file: f.path, ...x });
      findings.push(...checkPlacement(f.path, doc, single));
      docs.push({ file: f.path, doc, single });
    }
  }
  findings.push(...checkReferences(docs));
  if (options.sealedSecrets) {
    const refs = docs
      .filter((d) => d.doc.resource?.kind === "Integration" && d.doc.secretRefs.length > 0)
      .map((d) => ({ file: d.file, tenant: d.doc.tenant!, refs: d.doc.secretRefs }));
    findings.push(...checkSealedSecrets(refs, options.sealedSecrets));
  }
  // A name defined twice is a finding; the desired state keeps the first definition only.
  const byKey = new Map<string, Resource>();
  for (const d of docs) {
    const r = d.doc.resource;
    if (r && !byKey.has(resourceKey(r))) byKey.set(resourceKey(r), r);
  }
  const resources = [...byKey.values()].sort((a, b) => compareKeys(resourceKey(a), resourceKey(b)));
  return { resources, findings: findings.sort(compareFindings), files: files.length };
}

function compareKeys(a: string, b: string): number {
  const ta = a.startsWith("Tenant/") ? 0 : 1;
  const tb = b.startsWith("Tenant/") ? 0 : 1;
  return ta - tb || (a < b ? -1 : a > b ? 1 : 0);
}

function checkPlacement(path: string, doc: ParsedDocument, single: boolean): Finding[] {
  const parts = path.split("/");
  const base = parts[parts.length - 1]!.replace(/\.ya?ml$/, "");
  const out: Finding[] = [];
  const misplaced = (message: string) =>
    out.push({ file: path, ...doc.at.kind, path: "kind", code: "VRS_FILE_MISPLACED", message });
  if (parts[0] === "tenants") {
    if (parts.length !== 2) misplaced("tenant files belong directly in tenants/, as tenants/<name>.yaml");
    else if (doc.kind !== undefined && doc.kind !== "Tenant")
      misplaced(`a ${doc.kind} does not belong in tenants/; move it to integrations/<tenant>/`);
    else if (single && doc.name !== undefined && doc.name !== base) {
      out.push({
        file: path,
        ...doc.at.name,
        path: "metadata.name",
        code: "VRS_REF_PATH_MISMATCH",
        message: `metadata.name is '${doc.name}' but the file is named '${base}'; rename the file to tenants/${doc.name}.yaml or fix the name`,
      });
    }
  } else {
    if (parts.length !== 3) misplaced("integration files belong in integrations/<tenant>/<name>.yaml");
    else if (doc.kind !== undefined && doc.kind !== "Integration")
      misplaced(`a ${doc.kind} does not belong in integrations/; move it to tenants/`);
    else {
      if (doc.tenant !== undefined && doc.tenant !== parts[1]) {
        out.push({
          file: path,
          ...doc.at.tenant,
          path: "metadata.tenant",
          code: "VRS_REF_PATH_MISMATCH",
          message: `metadata.tenant is '${doc.tenant}' but the file is in integrations/${parts[1]}/; move the file or fix the tenant`,
        });
      }
      if (single && doc.name !== undefined && doc.name !== base) {
        out.push({
          file: path,
          ...doc.at.name,
          path: "metadata.name",
          code: "VRS_REF_PATH_MISMATCH",
          message: `metadata.name is '${doc.name}' but the file is named '${base}'; rename the file or fix the name`,
        });
      }
    }
  }
  return out;
}

function checkReferences(docs: Located[]): Finding[] {
  const out: Finding[] = [];
  const tenants = new Map<string, Located>();
  const integrations = new Map<string, Located>();
  const taken = new Map<string, Located>();
  for (const d of docs) {
    if (d.doc.kind !== "Tenant" || d.doc.name === undefined) continue;
    const first = tenants.get(d.doc.name);
    if (first) out.push(duplicate(d, `tenant '${d.doc.name}' is also defined in ${first.file}`));
    else tenants.set(d.doc.name, d);
  }
  const perTenant = new Map<string, Located[]>();
  for (const d of docs) {
    if (d.doc.kind !== "Integration" || d.doc.name === undefined || d.doc.tenant === undefined) continue;
    const key = `${d.doc.tenant}/${d.doc.name}`;
    const first = integrations.get(key);
    if (first) {
      out.push(
        duplicate(d, `integration '${d.doc.name}' of tenant '${d.doc.tenant}' is also defined in ${first.file}`),
      );
      continue;
    }
    integrations.set(key, d);
    if (!tenants.has(d.doc.tenant)) {
      out.push({
        file: d.file,
        ...d.doc.at.tenant,
        path: "metadata.tenant",
        code: "VRS_REF_TENANT_NOT_FOUND",
        message: `tenant '${d.doc.tenant}' does not exist; add tenants/${d.doc.tenant}.yaml or fix metadata.tenant`,
      });
    }
    const list = perTenant.get(d.doc.tenant) ?? [];
    list.push(d);
    perTenant.set(d.doc.tenant, list);
    // Values a connector holds exclusively within its tenant (an HTTP source's path): the first holder keeps it.
    for (const u of d.doc.unique) {
      const key = `${d.doc.tenant}\u0000${u.what}\u0000${u.value}`;
      const other = taken.get(key);
      if (other) {
        out.push({
          file: d.file,
          ...u.at,
          path: u.path,
          code: "VRS_REF_DUPLICATE_NAME",
          message: `${u.what} '${u.value}' is already used by ${other.file}; ${u.hint}`,
        });
      } else {
        taken.set(key, d);
      }
    }
  }
  for (const [name, list] of perTenant) {
    const t = tenants.get(name);
    const tenant = t?.doc.resource as TenantResource | undefined;
    if (!t || !tenant) continue;
    const limits = tenant.spec?.limits;
    const max = limits?.integrations ?? Infinity;
    if (list.length > max) {
      out.push({
        file: t.file,
        ...t.doc.at.limitIntegrations,
        path: "spec.limits.integrations",
        code: "VRS_LIMIT_INTEGRATIONS",
        message: `tenant '${name}' has ${list.length} integrations; its limit is ${max}`,
      });
    }
    const maxReplicas = limits?.replicas ?? -1;
    if (maxReplicas >= 0) {
      const total = list.reduce(
        (n, d) => n + (d.doc.resource?.kind === "Integration" ? (d.doc.resource.spec.replicas ?? 1) : 0),
        0,
      );
      if (total > maxReplicas) {
        out.push({
          file: t.file,
          ...t.doc.at.limitReplicas,
          path: "spec.limits.replicas",
          code: "VRS_LIMIT_REPLICAS",
          message: `tenant '${name}' runs ${total} replicas in total; its limit is ${maxReplicas}`,
        });
      }
    }
  }
  return out;
}

function duplicate(d: Located, message: string): Finding {
  return { file: d.file, ...d.doc.at.name, path: "metadata.name", code: "VRS_REF_DUPLICATE_NAME", message };
}
