/**
 * Fixture for the isolation probe tables (test/integration/isolation*.test.ts): tenants with a stream, a
 * scratch stream, a KV bucket of a common name, one of a unique name and a request/reply service each, and a
 * log of probe executions with expected and observed outcomes.
 */
import { expect } from "chai";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { tenantAccountJwt, tenantAccountPublicKey } from "../../engine/accounts/claims.js";
import { OperatorHarness, tenant } from "./operator.js";

export const TENANTS = ["alpha", "bravo", "charlie", "delta", "echo"] as const;
export const LIMITS = {
  connections: 4,
  payloadBytes: 4096,
  jetstream: { storageBytes: 1_000_000, memoryBytes: 100_000, streams: 5, consumers: 20 },
};

export interface TenantFixture {
  name: string;
  account: string;
  jwt: string;
  nc: NatsConnection;
  jsm: JetStreamManager;
  kvm: Kvm;
  /** Bucket `secrets` (every tenant has one of that name) and `only_<name>`. */
  secrets: KV;
  only: KV;
  secret: string;
}

export async function setupTenants(
  h: OperatorHarness,
  names: readonly string[] = TENANTS,
): Promise<Map<string, TenantFixture>> {
  const out = new Map<string, TenantFixture>();
  const jwts = names.map((n) => tenantAccountJwt(h.keys, tenant(n, LIMITS)));
  for (const r of await h.resolver.pushMany(jwts)) expect(r.ok, r.errors.join()).to.equal(true);
  for (const [i, name] of names.entries()) {
    const nc = await h.connectTenant(name);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: `ORDERS_${name}`, subjects: ["orders.>"], max_bytes: 100_000 });
    await jsm.streams.add({ name: `SCRATCH_${name}`, subjects: ["scratch.>"], max_bytes: 10_000 });
    const kvm = new Kvm(nc);
    const secret = `${name}-secret-${Math.random().toString(36).slice(2)}`;
    const secrets = await kvm.create("secrets", { max_bytes: 100_000 });
    const only = await kvm.create(`only_${name}`, { max_bytes: 100_000 });
    await secrets.put("token", secret);
    await only.put("token", secret);
    await nc.request("orders.first", `first order of ${name}`);
    // a service of a common name and one of the tenant's own name, both answering with the tenant's name
    nc.subscribe("svc.echo", { callback: (_e, m) => void m.respond(name) });
    nc.subscribe(`svc.${name}.echo`, { callback: (_e, m) => void m.respond(name) });
    await nc.flush();
    out.set(name, {
      name,
      account: tenantAccountPublicKey(h.keys, tenant(name)),
      jwt: jwts[i]!,
      nc,
      jsm,
      kvm,
      secrets,
      only,
      secret,
    });
  }
  return out;
}

export type Outcome = "allowed" | "blocked";

export interface ProbeRecord {
  probe: string;
  actor: string;
  target: string;
  case: string;
  expected: Outcome;
  observed: Outcome;
  detail: string;
}

/** Every probe execution, with what was expected and what happened. */
export class ProbeLog {
  readonly records: ProbeRecord[] = [];
  add(r: ProbeRecord): void {
    this.records.push(r);
  }
  /** Fails with every mismatch of one probe listed, so a failure says which pairs leaked. */
  check(probe: string): void {
    const mine = this.records.filter((r) => r.probe === probe);
    expect(mine.length, `${probe} ran`).to.be.greaterThan(0);
    const bad = mine
      .filter((r) => r.expected !== r.observed)
      .map((r) => `${r.actor}→${r.target} [${r.case}] expected ${r.expected}, was ${r.observed}: ${r.detail}`);
    expect(bad, `${probe}: mismatches`).to.deep.equal([]);
    expect(
      mine.some((r) => r.expected === "allowed"),
      `${probe} has a positive control`,
    ).to.equal(true);
    expect(
      mine.some((r) => r.expected === "blocked"),
      `${probe} has a negative case`,
    ).to.equal(true);
  }
  /** The probe table; with VRSKY_PROBE_LOG=1 every execution with its detail (what the server answered). */
  summary(): string {
    if (process.env.VRSKY_PROBE_LOG) for (const r of this.records) console.log(JSON.stringify(r));
    const by = new Map<string, { allowed: number; blocked: number }>();
    for (const r of this.records) {
      const s = by.get(r.probe) ?? { allowed: 0, blocked: 0 };
      s[r.observed]++;
      by.set(r.probe, s);
    }
    return [...by]
      .map(
        ([p, s]) =>
          `      ${p.padEnd(48)} ${String(s.allowed).padStart(4)} allowed ${String(s.blocked).padStart(4)} blocked`,
      )
      .join("\n");
  }
}

/** Runs an attempt: "allowed" when it resolves to true, "blocked" when it resolves to false or throws. */
export async function attempt(
  fn: () => Promise<boolean | { ok: boolean; detail: string }>,
): Promise<{ observed: Outcome; detail: string }> {
  try {
    const r = await fn();
    const ok = typeof r === "boolean" ? r : r.ok;
    return { observed: ok ? "allowed" : "blocked", detail: typeof r === "boolean" ? String(r) : r.detail };
  } catch (e) {
    return { observed: "blocked", detail: e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e) };
  }
}

/**
 * What `actor`, subscribed to `>`, receives when `target` publishes on `subject`: the target publishes and
 * flushes (the server has routed it), then the actor publishes a marker in its own account. Everything the
 * actor's `>` subscription got before the marker is what leaked; the marker's arrival ends the wait.
 */
export async function receivedBeforeMarker(
  actor: NatsConnection,
  target: NatsConnection,
  subject: string,
  marker: string,
): Promise<string[]> {
  const seen: string[] = [];
  const sub = actor.subscribe(">");
  await actor.flush();
  target.publish(subject, "probe");
  await target.flush();
  actor.publish(marker);
  for await (const m of sub) {
    if (m.subject === marker) break;
    seen.push(m.subject);
  }
  sub.unsubscribe();
  return seen;
}
