/**
 * Browser sessions of the status page: `POST /login` with a valid key makes a session, and its id — never the key
 * — goes into an HttpOnly, SameSite=Strict cookie (Secure over TLS). Sessions live in this process's memory: a
 * restart signs everyone out. The map is keyed by the id's SHA-256, and holds at most `max` sessions (the oldest
 * goes first). A session's principal is checked against the current tenant keys on every request, so a commit that
 * removes a tenant key also ends the sessions opened with it.
 */
import { randomBytes } from "node:crypto";
import { sha256, type Principal } from "./auth.js";

export const SESSION_COOKIE = "vrsky_session";

export interface SessionOptions {
  ttlMs: number;
  max: number;
}

export class Sessions {
  private readonly byDigest = new Map<string, { principal: Principal; expiresAt: number }>();

  constructor(private readonly o: SessionOptions) {}

  /** A new session for `principal`; returns its id (the cookie's value). */
  open(principal: Principal, now = Date.now()): string {
    const id = randomBytes(32).toString("base64url");
    if (this.byDigest.size >= this.o.max) this.byDigest.delete(this.byDigest.keys().next().value!);
    this.byDigest.set(sha256(id).toString("hex"), { principal, expiresAt: now + this.o.ttlMs });
    return id;
  }

  /** The principal of a live session; undefined for an unknown or expired id (an expired one is forgotten). */
  principal(id: string, now = Date.now()): Principal | undefined {
    const digest = sha256(id).toString("hex");
    const s = this.byDigest.get(digest);
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.byDigest.delete(digest);
      return undefined;
    }
    return s.principal;
  }

  close(id: string): void {
    this.byDigest.delete(sha256(id).toString("hex"));
  }

  get size(): number {
    return this.byDigest.size;
  }
}

/** The session id in a Cookie header; undefined without one (or with one that is not an id of ours). */
export function sessionId(cookieHeader: string | undefined): string | undefined {
  for (const pair of (cookieHeader ?? "").split(";")) {
    const at = pair.indexOf("=");
    if (at < 0 || pair.slice(0, at).trim() !== SESSION_COOKIE) continue;
    const v = pair.slice(at + 1).trim();
    if (/^[A-Za-z0-9_-]{43}$/.test(v)) return v;
  }
  return undefined;
}

/** The Set-Cookie value of a session (`id`), or of its removal (`null`). `secure` over TLS. */
export function sessionCookie(id: string | null, o: { secure: boolean; maxAgeS: number }): string {
  const attrs = ["Path=/", "HttpOnly", "SameSite=Strict", ...(o.secure ? ["Secure"] : [])];
  return id === null
    ? [`${SESSION_COOKIE}=`, "Max-Age=0", ...attrs].join("; ")
    : [`${SESSION_COOKIE}=${id}`, `Max-Age=${o.maxAgeS}`, ...attrs].join("; ");
}
