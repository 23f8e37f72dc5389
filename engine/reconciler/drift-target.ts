import { bucketOf, keyOf } from "../contract/state.js";
import type { ResourceChange } from "../manifests/desired-model.js";
import type { Resource } from "../model/resources.js";
import type { ObservedEntry } from "../state/observed.js";
import { fingerprint } from "./live-plan.js";

/** The desired state being applied or last applied, as canonical JSON by `bucket/key`: the reference for drift. */
export class DriftTarget {
  private target: Map<string, string> | undefined;

  /** The whole state, or (with `changed`, relative to the state set last) only the keys that changed. */
  set(resources: Resource[], changed?: Map<string, ResourceChange>): void {
    if (!changed || !this.target) {
      this.target = new Map(resources.map((r) => [`${bucketOf(r.kind)}/${keyOf(r)}`, fingerprint(r).canonical]));
      return;
    }
    for (const c of changed.values()) {
      const r = (c.after ?? c.before)!;
      const key = `${bucketOf(r.kind)}/${keyOf(r)}`;
      if (c.after) this.target.set(key, fingerprint(c.after).canonical);
      else this.target.delete(key);
    }
  }

  /** Whether an observed value differs from the target (false before any target is set). */
  differs(bucket: "tenants" | "integrations", key: string, entry: ObservedEntry | undefined): boolean {
    if (!this.target) return false;
    const want = this.target.get(`${bucket}/${key}`);
    return !(want === entry?.canonical || (want === undefined && entry === undefined));
  }
}
