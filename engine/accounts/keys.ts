/**
 * The key directory of a VRSky installation (operator mode), created once by `vrsky init --keys DIR`.
 *
 * Layout (directory mode 0700, every file 0600, never in git):
 *   operator.nk, sys-account.nk, platform-account.nk   nkey seeds (secret)
 *   master.key                                          32 random bytes, base64 (secret): tenant account seeds
 *   operator.jwt, sys-account.jwt, platform-account.jwt public JWTs
 *   sys.creds, platform.creds                           user credentials (secret) of the system and platform accounts
 *   nats-server.conf                                    operator-mode fragment to include in the server config
 *   keys.json                                           public keys only (format, created)
 *   resolver/                                           the server's full resolver store (default location)
 *   secrets.agekey                                      age identity (secret) that decrypts secrets/ in the repository
 *
 * Tenant account keys are not stored: each is derived, `HKDF-SHA256(ikm = master, salt = empty,
 * info = "vrsky/tenant-account/<tenant>/<generation>", 32 bytes)` used as the Ed25519 seed of an account nkey,
 * so any reconciler replica holding the directory computes the same account for a tenant, and raising the tenant's
 * spec.accountKeyGeneration gives it a new account key (rotation).
 *
 * SECRETS: seeds, the master secret and creds never appear in logs, status records, KV, JSON or CLI output.
 * `VrskyKeys` and `FastKeyPair` print and serialise as public keys only; only this module reads the secret files.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { hkdfSync, randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { inspect } from "node:util";
import { fmtCreds } from "@nats-io/jwt";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { makeDirectory } from "../util/make-dir.js";
import { newAgeKey, SECRETS_KEY_FILE } from "../secrets/age-key.js";
import { FastKeyPair } from "./fast-keys.js";
import { decodeJwt, signJwt } from "./jwt.js";

export const KEY_FILES = {
  operatorSeed: "operator.nk",
  systemAccountSeed: "sys-account.nk",
  platformAccountSeed: "platform-account.nk",
  master: "master.key",
  operatorJwt: "operator.jwt",
  systemAccountJwt: "sys-account.jwt",
  platformAccountJwt: "platform-account.jwt",
  sysCreds: "sys.creds",
  platformCreds: "platform.creds",
  serverConfig: "nats-server.conf",
  manifest: "keys.json",
  resolverDir: "resolver",
  secretsIdentity: SECRETS_KEY_FILE,
} as const;

const TENANT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A tenant name as manifests allow it (a DNS label): the only names tenant account keys are derived for. */
export function isTenantName(name: string): boolean {
  return TENANT_NAME.test(name);
}

/** Every limit explicit and unlimited (an empty `limits` would mean zero connections). JetStream on. */
export const UNLIMITED_JETSTREAM = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
  mem_max_stream_bytes: -1,
  disk_max_stream_bytes: -1,
  max_bytes_required: false,
  max_ack_pending: -1,
};
/** The system account: unlimited, and no JetStream (the system account must not have it). */
const SYSTEM_LIMITS = { ...UNLIMITED_JETSTREAM, mem_storage: 0, disk_storage: 0, streams: 0, consumer: 0 };

/** The keys of an installation, loaded from its directory. Serialises and prints as public keys only. */
export class VrskyKeys {
  readonly #master: Uint8Array;
  readonly #tenantKeys = new Map<string, FastKeyPair>();

  constructor(
    readonly dir: string,
    readonly operator: FastKeyPair,
    readonly systemAccount: FastKeyPair,
    readonly platformAccount: FastKeyPair,
    readonly jwts: { operator: string; systemAccount: string; platformAccount: string },
    master: Uint8Array,
  ) {
    if (master.length !== 32)
      throw new VrskyError("VRS_KEYS_INVALID", `${join(dir, KEY_FILES.master)} must hold 32 bytes`);
    this.#master = Uint8Array.from(master);
  }

  /** Paths of the non-secret and secret files callers need (creds for connections, the server config). */
  get files(): {
    sysCreds: string;
    platformCreds: string;
    serverConfig: string;
    operatorJwt: string;
    resolverDir: string;
  } {
    return {
      sysCreds: join(this.dir, KEY_FILES.sysCreds),
      platformCreds: join(this.dir, KEY_FILES.platformCreds),
      serverConfig: join(this.dir, KEY_FILES.serverConfig),
      operatorJwt: join(this.dir, KEY_FILES.operatorJwt),
      resolverDir: join(this.dir, KEY_FILES.resolverDir),
    };
  }

  /** @internal The deterministic account key of a tenant; use `tenantAccountKey`. */
  tenantKey(tenant: string, generation: number): FastKeyPair {
    if (!isTenantName(tenant))
      throw new VrskyError("VRS_NAME_INVALID", `invalid tenant name ${JSON.stringify(tenant)}`);
    if (!Number.isSafeInteger(generation) || generation < 0)
      throw new VrskyError(
        "VRS_KEY_GENERATION_INVALID",
        `invalid account key generation ${generation}: a whole number >= 0`,
      );
    const id = `${tenant}/${generation}`;
    let kp = this.#tenantKeys.get(id);
    if (!kp) {
      const seed = new Uint8Array(
        hkdfSync("sha256", this.#master, new Uint8Array(0), `vrsky/tenant-account/${id}`, 32),
      );
      kp = FastKeyPair.fromRawSeed("account", seed);
      seed.fill(0);
      this.#tenantKeys.set(id, kp);
    }
    return kp;
  }

  toJSON(): Record<string, string> {
    return {
      dir: this.dir,
      operator: this.operator.getPublicKey(),
      systemAccount: this.systemAccount.getPublicKey(),
      platformAccount: this.platformAccount.getPublicKey(),
    };
  }

  [inspect.custom](): string {
    return `VrskyKeys(${JSON.stringify(this.toJSON())})`;
  }
}

/**
 * The account key of a tenant at a key generation: HKDF-SHA256 of the master secret with info
 * `vrsky/tenant-account/<tenant>/<generation>`, as an nkey account seed. Deterministic; the seed stays inside
 * the returned key pair (never log `getSeed()`).
 */
export function tenantAccountKey(keys: VrskyKeys, tenant: string, generation = 0): FastKeyPair {
  return keys.tenantKey(tenant, generation);
}

export interface InitResult {
  dir: string;
  operatorPublicKey: string;
  systemAccountPublicKey: string;
  platformAccountPublicKey: string;
  /** Files written (names inside `dir`), secrets included by name only. */
  files: string[];
  /** The operator-mode configuration fragment to include in nats-server's config. */
  serverConfig: string;
  sysCreds: string;
  platformCreds: string;
}

/**
 * Creates a new key directory: operator, system account and user, platform account and user, master secret,
 * and the nats-server configuration fragment. Refuses to touch a directory that holds anything.
 */
export function initKeys(dirIn: string, opts: { operatorName?: string } = {}): InitResult {
  const dir = resolve(dirIn);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new VrskyError("VRS_KEYS_EXIST", `${dir} exists and is not a directory`);
    let present: string[];
    try {
      present = readdirSync(dir);
    } catch (e) {
      throw new VrskyError("VRS_WRITE_FAILED", `cannot create keys in ${dir}: ${errorMessage(e)}`, { cause: e });
    }
    if (present.length > 0) {
      throw new VrskyError(
        "VRS_KEYS_EXIST",
        `${dir} is not empty (holds ${present.slice(0, 5).join(", ")}${present.length > 5 ? ", ..." : ""}); refusing to overwrite keys`,
      );
    }
  }
  const written: string[] = [];
  try {
    makeDirectory(dir, 0o700);
    chmodSync(dir, 0o700);
    return writeKeyDir(dir, written, opts);
  } catch (e) {
    // leave no half-made directory behind (only what this call wrote), so that init can simply be run again
    for (const f of [...written, KEY_FILES.resolverDir]) {
      try {
        rmSync(join(dir, f), { recursive: true, force: true });
      } catch {
        // nothing there to remove (the directory itself could not be made)
      }
    }
    if (e instanceof VrskyError) throw e;
    throw new VrskyError("VRS_WRITE_FAILED", `cannot create keys in ${dir}: ${errorMessage(e)}`, { cause: e });
  }
}

function writeKeyDir(dir: string, written: string[], opts: { operatorName?: string }): InitResult {
  const operator = FastKeyPair.create("operator");
  const sys = FastKeyPair.create("account");
  const platform = FastKeyPair.create("account");
  const master = randomBytes(32);
  const operatorJwt = signJwt(
    "operator",
    { name: opts.operatorName ?? "vrsky", sub: operator.getPublicKey(), nats: { system_account: sys.getPublicKey() } },
    operator,
  );
  const accountJwt = (name: string, kp: FastKeyPair, limits: object) =>
    signJwt("account", { name, sub: kp.getPublicKey(), nats: { limits, disallow_bearer: true } }, operator);
  const sysJwt = accountJwt("SYS", sys, SYSTEM_LIMITS);
  const platformJwt = accountJwt("PLATFORM", platform, UNLIMITED_JETSTREAM);
  const keys = new VrskyKeys(
    dir,
    operator,
    sys,
    platform,
    { operator: operatorJwt, systemAccount: sysJwt, platformAccount: platformJwt },
    master,
  );

  const write = (name: string, text: string | Uint8Array) => {
    // 'wx': never overwrite, even if something appeared since the check above.
    const fd = openSync(join(dir, name), "wx", 0o600);
    try {
      writeSync(fd, typeof text === "string" ? Buffer.from(text) : text);
    } finally {
      closeSync(fd);
    }
    chmodSync(join(dir, name), 0o600);
    written.push(name);
  };
  write(KEY_FILES.operatorSeed, Buffer.concat([operator.getSeed(), Buffer.from("\n")]));
  write(KEY_FILES.systemAccountSeed, Buffer.concat([sys.getSeed(), Buffer.from("\n")]));
  write(KEY_FILES.platformAccountSeed, Buffer.concat([platform.getSeed(), Buffer.from("\n")]));
  write(KEY_FILES.master, master.toString("base64") + "\n");
  master.fill(0);
  write(KEY_FILES.operatorJwt, operatorJwt + "\n");
  write(KEY_FILES.systemAccountJwt, sysJwt + "\n");
  write(KEY_FILES.platformAccountJwt, platformJwt + "\n");
  write(KEY_FILES.sysCreds, serviceUserCreds("vrsky-sys", sys));
  write(KEY_FILES.platformCreds, serviceUserCreds("vrsky-platform", platform));
  write(KEY_FILES.serverConfig, serverConfig(keys));
  write(KEY_FILES.secretsIdentity, newAgeKey().fileText);
  write(
    KEY_FILES.manifest,
    JSON.stringify(
      {
        format: 1,
        operator: operator.getPublicKey(),
        systemAccount: sys.getPublicKey(),
        platformAccount: platform.getPublicKey(),
        createdAt: new Date().toISOString(),
      },
      null,
      2,
    ) + "\n",
  );
  mkdirSync(join(dir, KEY_FILES.resolverDir), { mode: 0o700 });
  return {
    dir,
    operatorPublicKey: operator.getPublicKey(),
    systemAccountPublicKey: sys.getPublicKey(),
    platformAccountPublicKey: platform.getPublicKey(),
    files: written,
    serverConfig: join(dir, KEY_FILES.serverConfig),
    sysCreds: join(dir, KEY_FILES.sysCreds),
    platformCreds: join(dir, KEY_FILES.platformCreds),
  };
}

/** Creds of a long-lived service user (the engine's own identity in the system or platform account). */
function serviceUserCreds(name: string, account: FastKeyPair): Uint8Array {
  const user = FastKeyPair.create("user");
  const jwt = signJwt(
    "user",
    { name, sub: user.getPublicKey(), nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1 } },
    account,
  );
  return fmtCreds(jwt, user);
}

export interface ServerConfigOptions {
  /** The full resolver's store; default `<keys dir>/resolver`. Each server of a cluster needs its own. */
  resolverDir?: string;
  /** Further account JWTs to preload (e.g. a dedicated instance's tenant account). */
  preload?: string[];
}

/** The operator-mode nats-server configuration fragment (public keys and JWTs only, no secrets). */
export function serverConfig(keys: VrskyKeys, o: ServerConfigOptions = {}): string {
  const preload = [keys.jwts.systemAccount, keys.jwts.platformAccount, ...(o.preload ?? [])];
  return [
    "# VRSky operator mode, generated by `vrsky init` (public keys and JWTs only; no secrets).",
    `operator: ${keys.jwts.operator}`,
    `system_account: ${keys.systemAccount.getPublicKey()}`,
    "resolver: {",
    "  type: full",
    `  dir: ${JSON.stringify(o.resolverDir ?? keys.files.resolverDir)}`,
    "  allow_delete: true",
    "}",
    "resolver_preload: {",
    ...preload.map((j) => `  ${decodeJwt(j, false).sub}: ${j}`),
    "}",
    "",
  ].join("\n");
}

/** Reads a key directory written by `initKeys`, checking that its parts belong together. */
export function loadKeys(dirIn: string): VrskyKeys {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new VrskyError("VRS_KEYS_MISSING", `no key directory at ${dir}`);
  }
  const read = (name: string): string => {
    const p = join(dir, name);
    if (!existsSync(p)) throw new VrskyError("VRS_KEYS_MISSING", `${p} is missing`);
    try {
      return readFileSync(p, "utf8").trim();
    } catch (e) {
      throw new VrskyError("VRS_KEYS_MISSING", `cannot read ${p}: ${errorMessage(e)}`, { cause: e });
    }
  };
  const seed = (name: string, role: "operator" | "account") => {
    let kp: FastKeyPair;
    try {
      kp = FastKeyPair.fromSeed(read(name));
    } catch (e) {
      if (e instanceof VrskyError) throw e;
      throw new VrskyError("VRS_KEYS_INVALID", `${join(dir, name)} does not hold an nkey seed`);
    }
    if (kp.role !== role)
      throw new VrskyError("VRS_KEYS_INVALID", `${join(dir, name)} holds a ${kp.role} seed, not an ${role} seed`);
    return kp;
  };
  const operator = seed(KEY_FILES.operatorSeed, "operator");
  const sys = seed(KEY_FILES.systemAccountSeed, "account");
  const platform = seed(KEY_FILES.platformAccountSeed, "account");
  const master = Buffer.from(read(KEY_FILES.master), "base64");
  const jwts = {
    operator: read(KEY_FILES.operatorJwt),
    systemAccount: read(KEY_FILES.systemAccountJwt),
    platformAccount: read(KEY_FILES.platformAccountJwt),
  };
  const check = (name: string, token: string, sub: string) => {
    let c;
    try {
      c = decodeJwt(token);
    } catch (e) {
      throw new VrskyError("VRS_KEYS_INVALID", `${join(dir, name)}: ${errorMessage(e)}`, { cause: e });
    }
    if (c.sub !== sub || c.iss !== operator.getPublicKey()) {
      throw new VrskyError(
        "VRS_KEYS_INVALID",
        `${join(dir, name)} does not belong to the keys in ${dir} (subject or issuer differs)`,
      );
    }
  };
  check(KEY_FILES.operatorJwt, jwts.operator, operator.getPublicKey());
  check(KEY_FILES.systemAccountJwt, jwts.systemAccount, sys.getPublicKey());
  check(KEY_FILES.platformAccountJwt, jwts.platformAccount, platform.getPublicKey());
  return new VrskyKeys(dir, operator, sys, platform, jwts, master);
}
