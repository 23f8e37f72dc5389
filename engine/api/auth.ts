/**
 * Who is asking: `Authorization: Bearer <key>`. The admin key (from a file or the environment) sees everything; a
 * tenant key sees its own tenant only. Only the SHA-256 of a tenant key is known (the tenant manifest's
 * `spec.apiKeys`, read from the applied tenant records), so every key presented is hashed and compared as digests
 * with `timingSafeEqual`. The tenant digest is found by a map lookup on the presented key's digest: its timing
 * can tell an attacker about a digest of their own key, never about a stored key (a SHA-256 preimage). The
 * admin comparison runs on every request, so a request's cost does not say whether it was the admin key.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export type Principal =
  | { kind: "admin" }
  /** `digest`: the hex SHA-256 of the key, to check later that the tenant still lists it. */
  | { kind: "tenant"; tenant: string; keyName: string; digest: string };

/** A tenant key as committed: its tenant, its name and the hex SHA-256 of the key. */
export interface TenantKey {
  tenant: string;
  name: string;
  sha256: string;
}

/** Tenant key digests (hex) → tenant and key name. Keys listed by two tenants belong to neither (ambiguous). */
export type TenantKeyIndex = ReadonlyMap<string, { tenant: string; name: string; digest: Buffer }>;

export function indexTenantKeys(keys: readonly TenantKey[]): TenantKeyIndex {
  const out = new Map<string, { tenant: string; name: string; digest: Buffer }>();
  const shared = new Set<string>();
  for (const k of keys) {
    const hex = k.sha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) continue;
    const had = out.get(hex);
    if (had && had.tenant !== k.tenant) shared.add(hex);
    else out.set(hex, { tenant: k.tenant, name: k.name, digest: Buffer.from(hex, "hex") });
  }
  for (const hex of shared) out.delete(hex);
  return out;
}

export function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** The key of an `Authorization: Bearer <key>` header; undefined when there is none or it is not one. */
export function bearerKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer +([\x21-\x7e]{1,512})$/i.exec(header.trim());
  return m?.[1];
}

export class KeyRing {
  private readonly admin: Buffer;

  constructor(adminKey: string) {
    this.admin = sha256(adminKey);
  }

  /** Who holds `key`; undefined for an unknown key. `tenants` is needed only for a key that is not the admin's. */
  identify(key: string, tenants: () => TenantKeyIndex | undefined): Principal | undefined {
    const digest = sha256(key);
    if (timingSafeEqual(digest, this.admin)) return { kind: "admin" };
    const hex = digest.toString("hex");
    const hit = tenants()?.get(hex);
    if (!hit || !timingSafeEqual(hit.digest, digest)) return undefined;
    return { kind: "tenant", tenant: hit.tenant, keyName: hit.name, digest: hex };
  }

  /** What the rate limit counts a principal's requests under (never the key itself). */
  static rateKey(p: Principal): string {
    return p.kind === "admin" ? "admin" : `tenant:${p.tenant}:${p.keyName}`;
  }
}

/** Whether the principal's key still opens the API (a tenant key stops once a commit removed it). */
export function stillValid(p: Principal, tenants: TenantKeyIndex): boolean {
  return p.kind === "admin" || tenants.get(p.digest)?.tenant === p.tenant;
}

/** Whether `p` may see what belongs to `tenant`. */
export function sees(p: Principal, tenant: string): boolean {
  return p.kind === "admin" || p.tenant === tenant;
}
