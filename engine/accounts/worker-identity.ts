/**
 * Per-worker platform identity. Each worker is a user of the platform account of its own, issued by the operator
 * keys (`vrsky creds --worker ID`, or made in process by `vrsky worker --keys`) and tagged `vrsky-worker:<ID>`.
 * The worker signs each credentials request with that user's key and sends the user's JWT along; the issuer
 * grants tenant users to worker ID only for a request signed by a platform user tagged with ID. Any other
 * platform user (the reconciler's, the gateway's, another worker's) is refused in that worker's name.
 *
 * The signature covers the request's fields, so a copied request only ever yields a JWT for the user key the
 * worker chose (whose seed never left it).
 */
import { fmtCreds } from "@nats-io/jwt";
import { readFileSync } from "node:fs";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { FastKeyPair } from "./fast-keys.js";
import { decodeJwt, signJwt, type Claims } from "./jwt.js";
import type { VrskyKeys } from "./keys.js";
import { credsJwt, notPlatformUser, type UserClaims } from "./platform-user.js";

export const WORKER_TAG = "vrsky-worker:";

/** What a worker proves its identity with: its platform user's JWT and a signer holding that user's key. */
export interface WorkerIdentity {
  /** The worker id the identity is issued for. */
  readonly worker: string;
  readonly jwt: string;
  sign(data: Uint8Array): Uint8Array;
}

/** The fields of a credentials request the worker signs (one line each, in this order). */
export function signedText(r: { worker: string; session: string; tenant: string; userPublicKey: string }): Uint8Array {
  return Buffer.from(["vrsky-worker-creds/v1", r.worker, r.session, r.tenant, r.userPublicKey].join("\n"));
}

/** A worker's platform user, signed by the platform account key; `creds` holds its seed (SECRET, non-enumerable). */
export function workerUser(
  keys: VrskyKeys,
  worker: string,
  /** Lifetime; none for an identity made in process by a worker that holds the keys itself. */
  ttlSeconds?: number,
): { identity: WorkerIdentity; creds: string; userPublicKey: string; expiresAt: string } {
  const user = FastKeyPair.create("user");
  const iat = Math.floor(Date.now() / 1000);
  const exp = ttlSeconds === undefined ? undefined : iat + Math.max(1, Math.ceil(ttlSeconds));
  const jwt = signJwt(
    "user",
    {
      name: `vrsky-worker-${worker}`,
      sub: user.getPublicKey(),
      exp,
      nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, tags: [`${WORKER_TAG}${worker}`] },
    },
    keys.platformAccount,
    iat,
  );
  const creds = new TextDecoder().decode(fmtCreds(jwt, user));
  const out = {
    identity: { worker, jwt, sign: (d: Uint8Array) => user.sign(d) },
    userPublicKey: user.getPublicKey(),
    expiresAt: exp === undefined ? "never" : new Date(exp * 1000).toISOString(),
  };
  Object.defineProperty(out, "creds", { value: creds, enumerable: false });
  return out as typeof out & { creds: string };
}

/** The worker id a user JWT's claims are tagged with, if any. */
export function taggedWorker(c: Claims<UserClaims>): string | undefined {
  const tag = (c.nats?.tags ?? []).find((t) => typeof t === "string" && t.startsWith(WORKER_TAG));
  return tag?.slice(WORKER_TAG.length);
}

/** The worker identity in a creds file (from `vrsky creds --worker`); undefined for creds of another user. */
export function identityInCreds(path: string): WorkerIdentity | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new VrskyError("VRS_CREDS_INVALID", `cannot read ${path}: ${errorMessage(e)}`, { cause: e });
  }
  const jwt = credsJwt(text);
  const seed = /\bSU[A-Z2-7]{56}\b/.exec(text)?.[0];
  if (!jwt || !seed) throw new VrskyError("VRS_CREDS_INVALID", `${path} is not a NATS creds file`);
  let worker: string | undefined;
  try {
    worker = taggedWorker(decodeJwt<UserClaims>(jwt, false));
  } catch (e) {
    throw new VrskyError("VRS_CREDS_INVALID", `${path}: its user JWT is damaged (${errorMessage(e)})`, { cause: e });
  }
  if (worker === undefined) return undefined;
  const user = FastKeyPair.fromSeed(seed);
  return { worker, jwt, sign: (d) => user.sign(d) };
}

/**
 * Why a credentials request does not prove that it comes from worker `worker`'s platform user; undefined when it
 * does. `identity` is the JWT the request carries, `sig` its base64url signature over `signedText(req)`.
 */
export function workerIdentityRefusal(
  req: { worker: string; session: string; tenant: string; userPublicKey: string; identity?: unknown; sig?: unknown },
  keys: VrskyKeys,
  nowMs = Date.now(),
): string | undefined {
  if (typeof req.identity !== "string" || typeof req.sig !== "string")
    return `the request carries no worker identity: worker ${req.worker} needs its own platform user (vrsky creds --worker ${req.worker})`;
  let c: Claims<UserClaims>;
  try {
    c = decodeJwt<UserClaims>(req.identity);
  } catch {
    return "the request's worker identity is not a valid JWT";
  }
  const notPlatform = notPlatformUser(c, keys);
  if (notPlatform) return `the request's identity is not a platform user: ${notPlatform}`;
  if (c.exp !== undefined && c.exp * 1000 <= nowMs) return "the request's worker identity has expired";
  if (taggedWorker(c) !== req.worker) return `the request's identity is not that of worker ${req.worker}`;
  let ok = false;
  try {
    ok = FastKeyPair.fromPublic(c.sub).verify(signedText(req), Buffer.from(req.sig, "base64url"));
  } catch {
    ok = false;
  }
  return ok ? undefined : "the request's signature does not verify against its worker identity";
}
