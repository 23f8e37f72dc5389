import type { Resource } from "../model/resources.js";
import { canonicalJson, hashOfCanonical } from "../plan/canonical.js";
import { diffStates, type Comparable } from "../plan/diff.js";
import type { Change } from "../plan/model.js";
import { bucketOf, keyOf } from "../contract/state.js";
import type { ObservedEntry } from "../state/observed.js";

/** One KV write of a run. `seq` is the compare-and-set token from the observed state (absent for creates). */
export interface Write {
  action: "create" | "update" | "delete";
  bucket: "tenants" | "integrations";
  key: string;
  seq?: number;
  resource?: Resource;
  hash?: string;
  change?: Change;
}

const memo = new WeakMap<Resource, { canonical: string; hash: string }>();

/** Canonical JSON and hash of a desired resource, computed once per parsed object (the parse cache keeps them). */
export function fingerprint(r: Resource): { canonical: string; hash: string } {
  let f = memo.get(r);
  if (!f) {
    const canonical = canonicalJson(r);
    f = { canonical, hash: hashOfCanonical(canonical) };
    memo.set(r, f);
  }
  return f;
}

export interface Observed {
  tenants: Map<string, ObservedEntry>;
  integrations: Map<string, ObservedEntry>;
}

/**
 * The writes that make KV hold `desired`, in the order to apply them: tenant creates/updates, integration
 * creates/updates, integration deletes, tenant deletes. Uses the same diff as `vrsky plan`.
 */
export function planWrites(
  desired: Resource[],
  observed: Observed,
): { writes: Write[]; unchanged: number; changes: Change[] } {
  const live: Comparable[] = [];
  const foreign: Array<{ bucket: "tenants" | "integrations"; key: string; seq: number }> = [];
  for (const bucket of ["tenants", "integrations"] as const) {
    for (const [key, e] of observed[bucket]) {
      const r = e.record.resource;
      if (
        r &&
        typeof r === "object" &&
        (r.kind === "Tenant" || r.kind === "Integration") &&
        keyOf(r) === key &&
        bucketOf(r.kind) === bucket
      ) {
        live.push({ resource: r, canonical: e.canonical });
      } else {
        foreign.push({ bucket, key, seq: e.seq });
      }
    }
  }
  const target: Comparable[] = desired.map((r) => ({ resource: r, canonical: fingerprint(r).canonical }));
  const { changes, unchanged } = diffStates(live, target, { from: "live state", to: "git" });
  const byKey = new Map(desired.map((r) => [`${bucketOf(r.kind)}/${keyOf(r)}`, r]));
  const writes: Write[] = [];
  const foreignKeys = new Set(foreign.map((f) => `${f.bucket}/${f.key}`));
  for (const c of changes) {
    const bucket = bucketOf(c.kind);
    const key = keyOf({ kind: c.kind, metadata: { name: c.name, tenant: c.tenant } });
    const seq = observed[bucket].get(key)?.seq;
    if (c.action === "delete") {
      writes.push({ action: "delete", bucket, key, seq, change: c });
    } else {
      const resource = byKey.get(`${bucket}/${key}`)!;
      // A desired key whose live value is unreadable is an update over that value, not a create.
      const action = foreignKeys.has(`${bucket}/${key}`) ? "update" : c.action;
      writes.push({ action, bucket, key, seq, resource, hash: fingerprint(resource).hash, change: c });
    }
  }
  for (const f of foreign) {
    if (!byKey.has(`${f.bucket}/${f.key}`)) writes.push({ action: "delete", bucket: f.bucket, key: f.key, seq: f.seq });
  }
  return { writes: orderWrites(writes), unchanged, changes };
}

function orderWrites(writes: Write[]): Write[] {
  const rank = (w: Write) =>
    w.action === "delete" ? (w.bucket === "integrations" ? 2 : 3) : w.bucket === "tenants" ? 0 : 1;
  return writes
    .map((w, i) => ({ w, i }))
    .sort((a, b) => rank(a.w) - rank(b.w) || a.i - b.i)
    .map((x) => x.w);
}

/** The phases of a plan, each applied fully (pipelined) before the next starts. */
export function phases(writes: Write[]): Write[][] {
  const out: Write[][] = [[], [], [], []];
  for (const w of writes) {
    const i = w.action === "delete" ? (w.bucket === "integrations" ? 2 : 3) : w.bucket === "tenants" ? 0 : 1;
    out[i]!.push(w);
  }
  return out.filter((p) => p.length > 0);
}
