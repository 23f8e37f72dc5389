/**
 * HMAC signatures of webhook requests: the route's secret (from a SecretSource, at the revision its record was
 * applied from, cached for a few seconds) over the raw body, compared in constant time with the signature the
 * sender put in the route's header (after its prefix, as hex or base64).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { errorMessage } from "../errors/errors.js";
import type { SecretSource } from "../secrets/sources.js";
import type { SecretValue } from "../secrets/value.js";
import type { HttpRoute, HttpSignature } from "./route.js";

export type Verdict =
  | { ok: true }
  | { ok: false; why: "bad" }
  /** The secret could not be had (missing, unreadable): the gateway answers 503, it is not the sender's fault. */
  | { ok: false; why: "secret"; code: string; message: string };

const DIGEST_BYTES = { sha256: 32, sha1: 20 } as const;

/** The signature bytes of a header value, or undefined when it is not `<prefix><hex or base64 digest>`. */
export function signatureBytes(
  value: string | undefined,
  sig: Pick<HttpSignature, "hash" | "prefix">,
): Buffer | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!v.startsWith(sig.prefix)) return undefined;
  const text = v.slice(sig.prefix.length);
  const n = DIGEST_BYTES[sig.hash];
  if (text.length === 2 * n && /^[0-9a-fA-F]+$/.test(text)) return Buffer.from(text, "hex");
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    const b = Buffer.from(text, "base64");
    if (b.length === n && b.toString("base64") === text) return b;
  }
  return undefined;
}

/** Whether `value` is the HMAC of `body` under `secret`; constant time in the signature's content. */
export function signatureMatches(
  secret: Uint8Array,
  body: Uint8Array,
  value: string | undefined,
  sig: Pick<HttpSignature, "hash" | "prefix">,
): boolean {
  const got = signatureBytes(value, sig);
  const want = createHmac(sig.hash, secret).update(body).digest();
  return got !== undefined && got.length === want.length && timingSafeEqual(got, want);
}

interface Cached {
  at: number;
  value?: SecretValue;
  error?: { code: string; message: string };
}

export class SignatureVerifier {
  private readonly cache = new Map<string, Cached>();

  /**
   * `ttlMs`: how long a secret is used before it is read again (a rotated secret takes effect within it);
   * a failure to read one is remembered for `failureTtlMs`.
   */
  constructor(
    private readonly secrets: SecretSource,
    private readonly ttlMs = 10_000,
    private readonly failureTtlMs = 1_000,
  ) {}

  async verify(route: HttpRoute, headers: IncomingHttpHeaders, body: Uint8Array): Promise<Verdict> {
    const sig = route.signature;
    if (!sig) return { ok: true };
    const secret = await this.secret(route.tenant, sig.secretRef, route.revision);
    if (secret.error) return { ok: false, why: "secret", ...secret.error };
    const raw = headers[sig.header];
    const value = Array.isArray(raw) ? raw[0] : raw;
    return signatureMatches(secret.value!.reveal(), body, value, sig) ? { ok: true } : { ok: false, why: "bad" };
  }

  private async secret(tenant: string, name: string, revision: string): Promise<Cached> {
    const key = `${tenant}\n${name}\n${revision}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < (hit.error ? this.failureTtlMs : this.ttlMs)) return hit;
    let entry: Cached;
    try {
      entry = { at: now, value: await this.secrets.resolve(tenant, name, revision) };
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      entry = {
        at: now,
        error: { code: typeof code === "string" ? code : "VRS_SECRET_UNREADABLE", message: errorMessage(e) },
      };
    }
    this.cache.set(key, entry);
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return entry;
  }
}
