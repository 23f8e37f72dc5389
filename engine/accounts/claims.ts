/**
 * JWTs for tenant accounts and their users.
 *
 * - `tenantAccountJwt`: the tenant's account, signed by the operator, with EVERY limit explicit (an empty
 *   `limits` means zero connections on nats-server). Equal inputs and `iat` give the same JWT.
 * - `userCreds`: short-lived user credentials in the tenant's account, signed by the tenant's account key.
 * - `deleteAccountsJwt`: the operator-signed request for `$SYS.REQ.CLAIMS.DELETE`.
 *
 * Creds text contains the user's seed: write it only to a file of mode 0600 or hand it to a connection; the
 * `creds` property is non-enumerable so that JSON.stringify of a result never includes it.
 */
import { fmtCreds } from "@nats-io/jwt";
import type { TenantResource } from "../model/resources.js";
import { parseSize } from "../manifests/durations.js";
import { VrskyError } from "../errors/errors.js";
import { FastKeyPair, isPublicKey } from "./fast-keys.js";
import { signJwt } from "./jwt.js";
import { tenantAccountKey, type VrskyKeys } from "./keys.js";

/** The tenant limits an account carries, with the schema's defaults filled in and sizes in bytes. */
export interface TenantAccountLimits {
  connections: number;
  subscriptions: number;
  payloadBytes: number;
  memoryBytes: number;
  storageBytes: number;
  streams: number;
  /** On nats-server 2.9 this counts per stream, not per account. */
  consumers: number;
}

/** Defaults of schemas/tenant.schema.json (the desired state normally has them filled in already). */
export const TENANT_LIMIT_DEFAULTS: TenantAccountLimits = {
  connections: 200,
  subscriptions: 10_000,
  payloadBytes: 1_048_576,
  memoryBytes: 67_108_864,
  storageBytes: 1_073_741_824,
  streams: 200,
  consumers: 500,
};

function size(v: number | string | undefined, dflt: number, field: string): number {
  if (v === undefined) return dflt;
  const n = parseSize(v);
  if (n === undefined)
    throw new VrskyError("VRS_SIZE_INVALID", `tenant limit ${field}: ${JSON.stringify(v)} is not a size`);
  return n;
}

export function tenantLimits(t: TenantResource): TenantAccountLimits {
  const l = t.spec?.limits ?? {};
  const js = l.jetstream ?? {};
  const d = TENANT_LIMIT_DEFAULTS;
  return {
    connections: l.connections ?? d.connections,
    subscriptions: l.subscriptions ?? d.subscriptions,
    payloadBytes: size(l.payloadBytes, d.payloadBytes, "payloadBytes"),
    memoryBytes: size(js.memoryBytes, d.memoryBytes, "jetstream.memoryBytes"),
    storageBytes: size(js.storageBytes, d.storageBytes, "jetstream.storageBytes"),
    streams: js.streams ?? d.streams,
    consumers: js.consumers ?? d.consumers,
  };
}

export function tenantGeneration(t: TenantResource): number {
  return t.spec?.accountKeyGeneration ?? 0;
}

/** The account public key of a tenant at its current spec.accountKeyGeneration. */
export function tenantAccountPublicKey(keys: VrskyKeys, t: TenantResource): string {
  return tenantAccountKey(keys, t.metadata.name, tenantGeneration(t)).getPublicKey();
}

export interface AccountJwtOptions {
  /** User public key (or "*" for all users) → unix seconds: users issued at or before it are refused and cut off. */
  revocations?: Record<string, number>;
  /** Issue time in unix seconds; give it to get the same JWT for the same inputs. Default: now. */
  iat?: number;
}

/** The tenant's account JWT, signed by the operator, every limit explicit. */
export function tenantAccountJwt(keys: VrskyKeys, tenant: TenantResource, opts: AccountJwtOptions = {}): string {
  const l = tenantLimits(tenant);
  const account = tenantAccountKey(keys, tenant.metadata.name, tenantGeneration(tenant));
  const nats: Record<string, unknown> = {
    limits: {
      subs: l.subscriptions,
      data: -1,
      payload: l.payloadBytes,
      imports: 0,
      exports: 0,
      wildcards: true,
      conn: l.connections,
      leaf: 0,
      mem_storage: l.memoryBytes,
      disk_storage: l.storageBytes,
      streams: l.streams,
      consumer: l.consumers,
      mem_max_stream_bytes: -1,
      disk_max_stream_bytes: -1,
      max_bytes_required: false,
      max_ack_pending: -1,
    },
    disallow_bearer: true,
  };
  const rev = opts.revocations ?? {};
  const keysSorted = Object.keys(rev).sort();
  if (keysSorted.length > 0) {
    const out: Record<string, number> = {};
    for (const k of keysSorted) {
      if (k !== "*" && !isPublicKey(k, "user"))
        throw new VrskyError("VRS_PUBLIC_KEY_INVALID", `revocation key ${k} is not a user public key`);
      out[k] = rev[k]!;
    }
    nats.revocations = out;
  }
  return signJwt("account", { name: tenant.metadata.name, sub: account.getPublicKey(), nats }, keys.operator, opts.iat);
}

export interface UserCredsOptions {
  /** The user's name (shows in server monitoring), e.g. `worker-3`. */
  name: string;
  /** Lifetime; default 3600 (1 h). */
  ttlSeconds?: number;
  /** Subjects the user may publish to, within the tenant's account; default: all of them. */
  allowPub?: string[];
  /** Subjects the user may subscribe to, within the tenant's account; default: all of them. Include `_INBOX.>` for requests. */
  allowSub?: string[];
  /** Clock, in ms (tests). */
  now?: number;
}

export interface UserCreds {
  /** The creds file text (JWT and user seed). SECRET; non-enumerable so it never reaches JSON by accident. */
  readonly creds: string;
  readonly userPublicKey: string;
  readonly accountPublicKey: string;
  /** ISO time when the user JWT expires. */
  readonly expiresAt: string;
}

/**
 * The longest lifetime of a tenant user. A revocation older than this can no longer match a live JWT (every JWT
 * of the user issued before it has expired), so the reconciler prunes it.
 */
export const MAX_USER_TTL_SECONDS = 30 * 24 * 3600;

/** Never allowed to tenant users, whatever the allow lists say. */
export const USER_DENY = ["$SYS.>"];

/** Short-lived user credentials in the tenant's account (at key generation `generation`), with a new user key. */
export function userCreds(keys: VrskyKeys, tenant: string, generation: number, o: UserCredsOptions): UserCreds {
  const user = FastKeyPair.create("user");
  const issued = userJwt(keys, tenant, generation, user.getPublicKey(), o);
  const creds = new TextDecoder().decode(fmtCreds(issued.jwt, user));
  user.clear();
  const out = {
    userPublicKey: issued.userPublicKey,
    accountPublicKey: issued.accountPublicKey,
    expiresAt: issued.expiresAt,
  };
  Object.defineProperty(out, "creds", { value: creds, enumerable: false });
  return out as UserCreds;
}

export interface UserJwt {
  /** The user JWT (public: it holds no secret; the user's seed stays with whoever made the key). */
  jwt: string;
  userPublicKey: string;
  accountPublicKey: string;
  expiresAt: string;
}

/** A short-lived user JWT in the tenant's account for a user key made elsewhere (a worker keeps its own seed). */
export function userJwt(
  keys: VrskyKeys,
  tenant: string,
  generation: number,
  userPublicKey: string,
  o: UserCredsOptions,
): UserJwt {
  const ttl = o.ttlSeconds ?? 3600;
  if (!Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_USER_TTL_SECONDS)
    throw new VrskyError(
      "VRS_CREDS_TTL_INVALID",
      `credential lifetime must be from 1 s to ${MAX_USER_TTL_SECONDS} s (30d), not ${ttl} s`,
    );
  if (!isPublicKey(userPublicKey, "user"))
    throw new VrskyError("VRS_PUBLIC_KEY_INVALID", `${userPublicKey} is not a user public key`);
  const account = tenantAccountKey(keys, tenant, generation);
  const iat = Math.floor((o.now ?? Date.now()) / 1000);
  const exp = iat + Math.ceil(ttl);
  const perm = (allow?: string[]) => ({ ...(allow ? { allow } : {}), deny: USER_DENY });
  const jwt = signJwt(
    "user",
    {
      name: o.name,
      sub: userPublicKey,
      exp,
      nats: { pub: perm(o.allowPub), sub: perm(o.allowSub), subs: -1, data: -1, payload: -1, bearer_token: false },
    },
    account,
    iat,
  );
  return {
    jwt,
    userPublicKey,
    accountPublicKey: account.getPublicKey(),
    expiresAt: new Date(exp * 1000).toISOString(),
  };
}

/** The operator-signed request body for `$SYS.REQ.CLAIMS.DELETE` listing the accounts to delete. */
export function deleteAccountsJwt(keys: VrskyKeys, accountPubs: string[], iat?: number): string {
  for (const p of accountPubs)
    if (!isPublicKey(p, "account")) throw new VrskyError("VRS_PUBLIC_KEY_INVALID", `${p} is not an account public key`);
  if (
    accountPubs.includes(keys.systemAccount.getPublicKey()) ||
    accountPubs.includes(keys.platformAccount.getPublicKey())
  ) {
    throw new VrskyError("VRS_ACCOUNT_PROTECTED", "refusing to delete the system or platform account");
  }
  const op = keys.operator.getPublicKey();
  return signJwt(
    "generic",
    { name: "vrsky: delete accounts", sub: op, nats: { accounts: [...accountPubs] } },
    keys.operator,
    iat,
  );
}
