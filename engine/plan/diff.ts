import { resourceKey, type Kind, type Resource } from "../model/resources.js";
import { formatPath, type PathSegment } from "../manifests/json-path.js";
import { canonicalJson } from "./canonical.js";
import type { Change, FieldChange, Plan, Revision } from "./model.js";
import { PLAN_FORMAT_VERSION } from "./model.js";

/** A resource as the diff sees it: its value, and optionally its precomputed canonical JSON (e.g. from KV). */
export interface Comparable {
  resource: Resource;
  canonical?: string;
}

export interface DiffOptions {
  /** Names of the two sides in reasons: `base`/`head` for a PR, `live state`/`git` for the reconciler. */
  from?: string;
  to?: string;
}

/**
 * Compares two desired states by value. Renaming or reformatting a file is no change; the order of the
 * result is deterministic: creates and updates with tenants before their integrations, then deletes with
 * integrations before their tenants.
 */
export function diffStates(
  before: Iterable<Resource | Comparable>,
  after: Iterable<Resource | Comparable>,
  options: DiffOptions = {},
): { changes: Change[]; unchanged: number } {
  const from = options.from ?? "base";
  const to = options.to ?? "head";
  const a = index(before);
  const b = index(after);
  const changes: Change[] = [];
  let unchanged = 0;
  for (const [key, next] of b) {
    const prev = a.get(key);
    if (!prev) {
      changes.push(change("create", next.resource, `not in ${from}`, []));
      continue;
    }
    if (canonicalOf(prev) === canonicalOf(next)) {
      unchanged++;
      continue;
    }
    const values = fieldChanges(prev.resource, next.resource);
    changes.push(change("update", next.resource, updateReason(prev.resource, next.resource, values), values));
  }
  for (const [key, prev] of a) {
    if (!b.has(key)) changes.push(change("delete", prev.resource, `not in ${to}`, []));
  }
  return { changes: changes.sort(compareChanges), unchanged };
}

/** A whole plan between two revisions. */
export function buildPlan(base: Revision | null, head: Revision, before: Resource[], after: Resource[]): Plan {
  const { changes, unchanged } = diffStates(before, after);
  const count = (a: string) => changes.filter((c) => c.action === a).length;
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    base,
    head,
    summary: { create: count("create"), update: count("update"), delete: count("delete"), unchanged },
    changes,
  };
}

function index(items: Iterable<Resource | Comparable>): Map<string, Comparable> {
  const m = new Map<string, Comparable>();
  for (const item of items) {
    const c = "resource" in item ? item : { resource: item };
    m.set(resourceKey(c.resource), c);
  }
  return m;
}

function canonicalOf(c: Comparable): string {
  c.canonical ??= canonicalJson(c.resource);
  return c.canonical;
}

function change(action: Change["action"], r: Resource, reason: string, values: FieldChange[]): Change {
  const c: Change = { action, kind: r.kind, name: r.metadata.name, reason, fields: values.map((v) => v.path), values };
  if (r.kind === "Integration") c.tenant = r.metadata.tenant;
  return c;
}

function updateReason(a: Resource, b: Resource, values: FieldChange[]): string {
  const sa = a.spec?.suspend ?? false;
  const sb = b.spec?.suspend ?? false;
  if (!sa && sb) return values.length === 1 ? "suspended" : "suspended and changed";
  if (sa && !sb) return values.length === 1 ? "resumed" : "resumed and changed";
  const n = values.length;
  return `${n} field${n === 1 ? "" : "s"} changed`;
}

/** Leaf-level differences; arrays compare by position (order matters in a pipeline). */
export function fieldChanges(a: unknown, b: unknown): FieldChange[] {
  const out: FieldChange[] = [];
  walk(a, b, [], out);
  return out;
}

function walk(a: unknown, b: unknown, path: PathSegment[], out: FieldChange[]): void {
  if (a === b) return;
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      if (!(k in a) || a[k] === undefined) out.push({ path: formatPath([...path, k]), after: b[k] });
      else if (!(k in b) || b[k] === undefined) out.push({ path: formatPath([...path, k]), before: a[k] });
      else walk(a[k], b[k], [...path, k], out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (i >= a.length) out.push({ path: formatPath([...path, i]), after: b[i] });
      else if (i >= b.length) out.push({ path: formatPath([...path, i]), before: a[i] });
      else walk(a[i], b[i], [...path, i], out);
    }
    return;
  }
  if (canonicalJson(a) !== canonicalJson(b)) out.push({ path: formatPath(path), before: a, after: b });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const KIND_ORDER: Record<Kind, number> = { Tenant: 0, Integration: 1 };

function compareChanges(x: Change, y: Change): number {
  const dx = x.action === "delete" ? 1 : 0;
  const dy = y.action === "delete" ? 1 : 0;
  if (dx !== dy) return dx - dy;
  const kx = dx ? -KIND_ORDER[x.kind] : KIND_ORDER[x.kind];
  const ky = dy ? -KIND_ORDER[y.kind] : KIND_ORDER[y.kind];
  if (kx !== ky) return kx - ky;
  const ax = `${x.tenant ?? ""}/${x.name}`;
  const ay = `${y.tenant ?? ""}/${y.name}`;
  return ax < ay ? -1 : ax > ay ? 1 : 0;
}
