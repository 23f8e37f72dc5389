import type { ConnectorRegistry } from "../connectors/registry.js";
import type { FileFinding, Finding } from "../errors/finding.js";
import type { Resource } from "../model/resources.js";
import { DesiredModel } from "./desired-model.js";
import { DEFAULT_LIMITS, type InputLimits } from "./limits.js";
import { parseFile, type ParsedFile } from "./parse-file.js";

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
  delete(oid: string): void {
    this.map.delete(oid);
  }
  /** Drops every parse whose blob is not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const oid of this.map.keys()) if (!keep.has(oid)) this.map.delete(oid);
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
  return new DesiredModel(options).update(files, { sealedSecrets: options.sealedSecrets }).state;
}
