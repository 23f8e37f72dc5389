/**
 * Measuring helpers of `npm run bench:accounts` (no benchmark logic of its own):
 *   - floors: 1,000 pre-signed account JWTs pushed with raw `$SYS.REQ.CLAIMS.UPDATE` requests, or with
 *     ResolverClient.pushMany, all in flight at once
 *   - signing: tenant account JWTs through the engine's node:crypto path, and the pure-JS @nats-io/jwt path
 *   - instrumentation of the reconciler's accounts phase without touching the engine: an AccountOps wrapper
 *     around NatsAccountOps, a ResolverClient subclass timing pushMany, a KV proxy timing the record puts
 *   - CPU time of the nats-server child (from /proc) and of this process
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { KV } from "@nats-io/kv";
import { encodeAccount } from "@nats-io/jwt";
import { createAccount, createOperator } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/transport-node";
import { tenantAccountJwt } from "../../engine/accounts/claims.js";
import type { VrskyKeys } from "../../engine/accounts/keys.js";
import { ResolverClient, type ResolverResult } from "../../engine/accounts/resolver.js";
import type { TenantResource } from "../../engine/model/resources.js";
import type { AccountOps } from "../../engine/reconciler/tenant-runtime.js";

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with Date.parse of the status times). */
export const epochMs = (): number => performance.timeOrigin + performance.now();

export function tenant(name: string): TenantResource {
  return { apiVersion: "vrsky.io/v1", kind: "Tenant", metadata: { name }, spec: {} } as TenantResource;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---------------------------------------------------------------------------------------------- signing
export interface Signed {
  names: string[];
  jwts: string[];
  /** Time to derive the 1,000 account keys (HKDF) and sign their JWTs, as the reconciler does. */
  signMs: number;
}

/** Signs the account JWTs of fresh tenants `<prefix>-0000`…: key derivation + JWT, like NatsAccountOps.sync. */
export function signFresh(keys: VrskyKeys, prefix: string, n: number): Signed {
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
  const tenants = names.map(tenant);
  const t0 = performance.now();
  const jwts = tenants.map((t) => tenantAccountJwt(keys, t));
  return { names, jwts, signMs: performance.now() - t0 };
}

/** ms per account JWT through @nats-io/jwt's encodeAccount with @nats-io/nkeys (pure-JS Ed25519), `n` samples. */
export async function pureJsSignMs(n: number): Promise<number> {
  const operator = createOperator();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const account = createAccount();
    const t0 = performance.now();
    await encodeAccount(
      `purejs-${i}`,
      account,
      { limits: { conn: -1, subs: -1, data: -1, payload: -1 } },
      { signer: operator },
    );
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

// ---------------------------------------------------------------------------------------------- floors
/**
 * The floor: one raw `$SYS.REQ.CLAIMS.UPDATE` request per JWT (payload pre-encoded), every request in flight
 * at once, awaited together; each reply must be a success. Returns the wall time in ms.
 */
export async function rawPush(nc: NatsConnection, jwts: string[]): Promise<number> {
  const te = new TextEncoder();
  const payloads = jwts.map((j) => te.encode(j));
  const t0 = performance.now();
  const replies = await Promise.all(payloads.map((p) => nc.request("$SYS.REQ.CLAIMS.UPDATE", p, { timeout: 60_000 })));
  const ms = performance.now() - t0;
  replies.forEach((m, i) => {
    const r = m.json<{ data?: { code?: number }; error?: { description?: string } }>();
    if (r.error || !r.data || (r.data.code ?? 200) >= 300)
      throw new Error(`raw CLAIMS.UPDATE ${i} failed: ${m.string().slice(0, 300)}`);
  });
  return ms;
}

/** The same through the engine's client (decode, issuer check, many-replies request per JWT). */
export async function clientPush(resolver: ResolverClient, jwts: string[]): Promise<number> {
  const t0 = performance.now();
  const results = await resolver.pushMany(jwts);
  const ms = performance.now() - t0;
  const bad = results.filter((r) => !r.ok);
  if (bad.length > 0) throw new Error(`${bad.length} pushMany result(s) not ok: ${bad[0]!.errors.join("; ")}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------- instrumentation
export interface Span {
  start: number;
  end: number;
}

/** A ResolverClient that records when each pushMany starts and ends (epoch ms) and how many JWTs it pushed. */
export class TimedResolverClient extends ResolverClient {
  readonly pushes: Array<Span & { count: number }> = [];
  readonly lookups: Array<Span & { count: number }> = [];
  /** Calls of `servers()` (the cluster size, cached): a cold one sends SERVER.PING and waits out the stall window. */
  readonly serverCounts: Array<Span & { cold: boolean }> = [];

  override async servers(refresh = false): Promise<number> {
    const start = epochMs();
    const cold = refresh || !this.isCountCached();
    try {
      return await super.servers(refresh);
    } finally {
      this.serverCounts.push({ start, end: epochMs(), cold });
    }
  }

  /** Whether the base class holds a fresh server count (it keeps it in a private field: read, never written). */
  private isCountCached(): boolean {
    const known = (this as unknown as { known?: { n: number; at: number } }).known;
    return known !== undefined && Date.now() - known.at < 30_000;
  }

  override async pushMany(jwts: string[]): Promise<ResolverResult[]> {
    const start = epochMs();
    try {
      return await super.pushMany(jwts);
    } finally {
      this.pushes.push({ start, end: epochMs(), count: jwts.length });
    }
  }

  override async lookupMany(accountPubs: string[]): Promise<Array<string | undefined>> {
    const start = epochMs();
    try {
      return await super.lookupMany(accountPubs);
    } finally {
      this.lookups.push({ start, end: epochMs(), count: accountPubs.length });
    }
  }
}

/** Wraps a KV so that every `put` is timed: first start, last end, count (everything else passes through). */
export function timedPuts(kv: KV, sink: { puts: number; first?: number; last?: number }): KV {
  return new Proxy(kv, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === "put" && typeof v === "function") {
        return async (...args: unknown[]) => {
          const start = epochMs();
          sink.first ??= start;
          try {
            return await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } finally {
            sink.puts++;
            sink.last = epochMs();
          }
        };
      }
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export interface SyncCall extends Span {
  tenants: number;
  force: boolean;
  error?: string;
}

/** The reconciler's AccountOps, delegated unchanged; records each `sync` call (the accounts phase of a run). */
export class TimedAccountOps implements AccountOps {
  readonly syncs: SyncCall[] = [];

  constructor(private readonly inner: AccountOps) {}

  publicKey(t: TenantResource): string {
    return this.inner.publicKey(t);
  }

  serverConfig(t: TenantResource): string {
    return this.inner.serverConfig(t);
  }

  remove(tenant: string): Promise<void> {
    return this.inner.remove(tenant);
  }

  async sync(tenants: TenantResource[], force: boolean): Promise<void> {
    const call: SyncCall = { start: epochMs(), end: 0, tenants: tenants.length, force };
    try {
      await this.inner.sync(tenants, force);
    } catch (e) {
      call.error = e instanceof Error ? e.message : String(e);
      throw e;
    } finally {
      call.end = epochMs();
      this.syncs.push(call);
    }
  }
}

// ---------------------------------------------------------------------------------------------- CPU
const TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The pid of the nats-server started in `serverDir` (LocalNatsServer names its ports file after it). */
export function serverPid(serverDir: string): number | undefined {
  const f = readdirSync(join(serverDir, "ports")).find((n) => n.endsWith(".ports"));
  const m = f ? /_(\d+)\.ports$/.exec(f) : null;
  return m ? Number(m[1]) : undefined;
}

/** CPU ms (user + system) a process has used so far, from /proc (undefined where there is no /proc). */
export function procCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
  } catch {
    return undefined;
  }
}

/** CPU used by the server and by this process over a stretch of work. */
export class CpuMeter {
  private s0?: number;
  private p0 = process.cpuUsage();

  constructor(private readonly pid: number | undefined) {
    this.reset();
  }

  reset(): void {
    this.s0 = procCpuMs(this.pid);
    this.p0 = process.cpuUsage();
  }

  read(): { serverMs?: number; benchMs: number } {
    const s1 = procCpuMs(this.pid);
    const p = process.cpuUsage(this.p0);
    return {
      serverMs: s1 !== undefined && this.s0 !== undefined ? s1 - this.s0 : undefined,
      benchMs: (p.user + p.system) / 1000,
    };
  }
}
