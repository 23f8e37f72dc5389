/**
 * NATS JWT (v2, alg `ed25519-nkey`) encoding with a caller-chosen issue time.
 *
 * @nats-io/jwt's `encode` stamps `iat` with the clock and derives `jti` from it, so two equal inputs never give
 * equal JWTs. The reconciler compares what it would push with what the resolver holds, so it needs the same
 * JWT for the same inputs: here `iat` is a parameter and `jti` a hash of the claims (as the Go library does:
 * base32 of SHA-512/256 over the claims without `jti`). The format is that of @nats-io/jwt and nats-server;
 * tests decode these JWTs with @nats-io/jwt's `decode`, which verifies the signature.
 */
import { createHash } from "node:crypto";
import type { KeyPair } from "@nats-io/nkeys";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { base32Encode, FastKeyPair } from "./fast-keys.js";

export interface Claims<T = Record<string, unknown>> {
  jti: string;
  iat: number;
  iss: string;
  name: string;
  sub: string;
  exp?: number;
  nats: T & { type: string; version: 2 };
}

const HEADER = Buffer.from(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })).toString("base64url");

/** Signs claims of `type` (account, user, operator, generic) for `sub`; `iat` in seconds (default: now). */
export function signJwt(
  type: string,
  c: { name: string; sub: string; nats: Record<string, unknown>; exp?: number },
  signer: KeyPair,
  iat: number = Math.floor(Date.now() / 1000),
): string {
  const body: Record<string, unknown> = { iat, iss: signer.getPublicKey(), name: c.name, sub: c.sub };
  if (c.exp !== undefined) body.exp = c.exp;
  body.nats = { ...c.nats, type, version: 2 };
  const jti = base32Encode(createHash("sha512-256").update(JSON.stringify(body)).digest());
  const claims = { jti, ...body };
  const payload = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const sig = Buffer.from(signer.sign(Buffer.from(payload))).toString("base64url");
  return `${payload}.${sig}`;
}

/**
 * The claims of a JWT. With `verify`, checks the signature against the issuer (fast, node:crypto). Throws
 * VRS_JWT_INVALID for anything that is not a JWT or does not verify: JWTs come from files and servers.
 */
export function decodeJwt<T = Record<string, unknown>>(token: string, verify = true): Claims<T> {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new VrskyError("VRS_JWT_INVALID", `not a JWT: ${parts.length} parts`);
  let claims: Claims<T>;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Claims<T>;
  } catch (e) {
    throw new VrskyError("VRS_JWT_INVALID", `not a JWT: its claims are not JSON (${errorMessage(e)})`, { cause: e });
  }
  if (verify) {
    let ok: boolean;
    try {
      ok = FastKeyPair.fromPublic(claims.iss).verify(
        Buffer.from(`${parts[0]}.${parts[1]}`),
        Buffer.from(parts[2]!, "base64url"),
      );
    } catch (e) {
      throw new VrskyError("VRS_JWT_INVALID", `JWT issuer ${String(claims.iss)} is not a public key`, { cause: e });
    }
    if (!ok) throw new VrskyError("VRS_JWT_INVALID", `JWT signature does not verify against its issuer ${claims.iss}`);
  }
  return claims;
}
