/**
 * Whose user a creds file or a user JWT is: the engine's own connections (reconciler, worker, gateway, the CLI's
 * platform commands) must be users of the platform account of the operator keys they hold. A tenant's creds given
 * with `--creds` next to `--keys` would otherwise put the control plane inside that tenant's account.
 *
 * A platform user is a user JWT issued by the platform account's key, or by one of its signing keys (then its
 * `issuer_account` names the platform account). Only public keys and JWTs are read here; a creds file's seed is
 * never looked at, and no message carries any part of the file.
 */
import { readFileSync } from "node:fs";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { decodeJwt, type Claims } from "./jwt.js";
import type { VrskyKeys } from "./keys.js";

/** The user JWT of a creds file's text (the line after `BEGIN NATS USER JWT`); undefined when there is none. */
export function credsJwt(text: string): string | undefined {
  const lines = text.split(/\r?\n/);
  const at = lines.findIndex((l) => l.includes("BEGIN NATS USER JWT"));
  if (at < 0) return undefined;
  const jwt = lines.slice(at + 1).find((l) => l.trim() !== "");
  return jwt === undefined || jwt.includes("END NATS USER JWT") ? undefined : jwt.trim();
}

export interface UserClaims {
  issuer_account?: string;
  tags?: string[];
  type: string;
}

/** The keys allowed to sign platform users: the platform account's own and the signing keys its JWT lists. */
export function platformIssuers(keys: VrskyKeys): Set<string> {
  const out = new Set([keys.platformAccount.getPublicKey()]);
  const sk = decodeJwt<{ signing_keys?: Array<string | { key?: string }> }>(keys.jwts.platformAccount, false).nats
    .signing_keys;
  for (const k of sk ?? []) {
    const pub = typeof k === "string" ? k : k?.key;
    if (typeof pub === "string") out.add(pub);
  }
  return out;
}

/** The account a user JWT's claims belong to: `issuer_account` when a signing key issued it, else its issuer. */
export function userAccount(c: Claims<UserClaims>): string {
  return c.nats.issuer_account ?? c.iss;
}

/** Why the claims are not those of a user of the platform account of `keys`; undefined when they are. */
export function notPlatformUser(c: Claims<UserClaims>, keys: VrskyKeys): string | undefined {
  if (c.nats?.type !== "user") return `it holds a ${String(c.nats?.type)} JWT, not a user`;
  const platform = keys.platformAccount.getPublicKey();
  if (userAccount(c) !== platform || !platformIssuers(keys).has(c.iss))
    return `it is a user of account ${userAccount(c)}, not of the platform account ${platform}`;
  return undefined;
}

/**
 * Checks, before any connection, that the creds file `path` given with `flag` is a user of the platform account of
 * `keys` (the `--keys` folder). Throws VRS_CREDS_NOT_PLATFORM (exit 2) naming the flag; never prints the file.
 */
export function checkPlatformCreds(path: string, keys: VrskyKeys, flag = "--creds"): void {
  const jwt = readCredsJwt(path, flag);
  let claims: Claims<UserClaims>;
  try {
    claims = decodeJwt<UserClaims>(jwt);
  } catch (e) {
    throw new VrskyError("VRS_CREDS_INVALID", `${flag} ${path}: its user JWT is damaged (${errorMessage(e)})`, {
      cause: e,
    });
  }
  const why = notPlatformUser(claims, keys);
  if (why)
    throw new VrskyError(
      "VRS_CREDS_NOT_PLATFORM",
      `${flag} ${path} does not belong to --keys ${keys.dir}: ${why}; refusing to run the engine in another account`,
    );
}

/** The creds file of a platform connection: `--creds`, checked against `--keys` when both are given, else the keys' platform.creds. */
export function platformCredsFile(creds: string | undefined, keys: VrskyKeys | undefined): string | undefined {
  if (creds !== undefined && keys) checkPlatformCreds(creds, keys);
  return creds ?? keys?.files.platformCreds;
}

/** The user JWT of the creds file `path` (given with `flag`); VRS_CREDS_INVALID when it cannot be read or is not creds. */
export function readCredsJwt(path: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new VrskyError("VRS_CREDS_INVALID", `cannot read ${flag} ${path}: ${errorMessage(e)}`, { cause: e });
  }
  const jwt = credsJwt(text);
  if (jwt === undefined)
    throw new VrskyError("VRS_CREDS_INVALID", `${flag} ${path} is not a NATS creds file (a user JWT and an nkey seed)`);
  return jwt;
}
