import { createHash } from "node:crypto";

/** JSON with keys sorted at every level: equal values give equal text, whatever the YAML looked like. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

/** `sha256:<hex>` of the canonical JSON: the content hash recorded with every applied value. */
export function contentHash(value: unknown): string {
  return hashOfCanonical(canonicalJson(value));
}

/** contentHash for a value whose canonical JSON is already at hand (saves serialising it twice). */
export function hashOfCanonical(canonical: string): string {
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}
