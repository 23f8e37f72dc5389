import { expect } from "chai";
import { join } from "node:path";
import { Kvm, type KV } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { userCreds } from "../../engine/accounts/claims.js";
import { initKeys, loadKeys } from "../../engine/accounts/keys.js";
import { OperatorHarness } from "../helpers/operator.js";
import {
  attempt,
  LIMITS,
  ProbeLog,
  setupTenants,
  TENANTS,
  type Outcome,
  type TenantFixture,
} from "../helpers/isolation.js";

/**
 * Isolation of each tenant from the platform account, the system account and its own limits, as a probe table.
 * Each probe runs for all 5 tenants (must be blocked) and for a control that must be allowed: the platform or
 * system user doing the same thing, or the tenant staying within its limit.
 */
type Actor = { kind: "tenant"; t: TenantFixture } | { kind: "platform" } | { kind: "system" };
type Exec = { actor: Actor; case: string; expected: Outcome };
type TenantProbe = {
  name: string;
  parallel?: boolean;
  execs: () => Exec[];
  run: (actor: Actor, c: string) => Promise<boolean | { ok: boolean; detail: string }>;
};

const h = new OperatorHarness();
let fx: Map<string, TenantFixture>;
let platform: NatsConnection;
let platformKv: KV;
const PLATFORM_SECRET = `platform-secret-${Math.random().toString(36).slice(2)}`;

const tenants = (cases: string[]): Exec[] =>
  TENANTS.flatMap((n) =>
    cases.map((c) => ({ actor: { kind: "tenant" as const, t: fx.get(n)! }, case: c, expected: "blocked" as const })),
  );
const control = (kind: "platform" | "system", cases: string[]): Exec[] =>
  cases.map((c) => ({ actor: { kind }, case: c, expected: "allowed" as const }));
const limitCases = (within: string, over: string): Exec[] =>
  TENANTS.flatMap((n) => [
    { actor: { kind: "tenant" as const, t: fx.get(n)! }, case: within, expected: "allowed" as const },
    { actor: { kind: "tenant" as const, t: fx.get(n)! }, case: over, expected: "blocked" as const },
  ]);
const conn = (a: Actor): NatsConnection =>
  a.kind === "tenant" ? a.t.nc : a.kind === "platform" ? platform : h.resolver.nc;
const tenantOf = (a: Actor): TenantFixture => {
  if (a.kind !== "tenant") throw new Error("a tenant probe");
  return a.t;
};

const SYS_SUBJECTS = [
  "$SYS.REQ.SERVER.PING",
  "$SYS.REQ.SERVER.PING.VARZ",
  "$SYS.REQ.SERVER.PING.CONNZ",
  "$SYS.REQ.ACCOUNT.<other>.CLAIMS.LOOKUP",
  "$SYS.REQ.CLAIMS.LIST",
  "$SYS.REQ.CLAIMS.UPDATE",
  "$SYS.REQ.CLAIMS.DELETE",
];

const PROBES: TenantProbe[] = [
  {
    name: "limits: connections beyond the account's limit",
    execs: () => limitCases(`up to ${LIMITS.connections}`, `connection ${LIMITS.connections + 1}`),
    run: async (a, c) => {
      const t = tenantOf(a);
      const extra: NatsConnection[] = [];
      try {
        for (let i = 1; i < LIMITS.connections; i++) extra.push(await h.connectTenant(t.name));
        if (c.startsWith("up to")) return true;
        extra.push(await h.connectTenant(t.name));
        return true;
      } finally {
        await Promise.all(extra.map((x) => x.close()));
      }
    },
  },
  {
    name: "platform: read the platform's KV",
    execs: () => [...tenants(["get"]), ...control("platform", ["get"])],
    run: async (a) => (await (await new Kvm(conn(a)).open("platform_state")).get("k"))?.string() === PLATFORM_SECRET,
  },
  {
    name: "platform: write the platform's KV (checked in platform)",
    execs: () => [...tenants(["put"]), ...control("platform", ["put"])],
    run: async (a) => {
      const mark = `graffiti-${Math.random()}`;
      await (await new Kvm(conn(a)).open("platform_state")).put("graffiti", mark).catch(() => undefined);
      return (await platformKv.get("graffiti"))?.string() === mark;
    },
  },
  {
    name: "platform: stream info of the platform's bucket",
    execs: () => [...tenants(["info"]), ...control("platform", ["info"])],
    run: async (a) => (await (await jetstreamManager(conn(a))).streams.info("KV_platform_state")).state.messages > 0,
  },
  {
    name: "$SYS: a request gets an answer from the system",
    execs: () => [...tenants(SYS_SUBJECTS), ...control("system", SYS_SUBJECTS)],
    run: async (a, c) => {
      const other = fx.get(a.kind === "tenant" && a.t.name === "alpha" ? "bravo" : "alpha")!;
      const subject = c.replace("<other>", other.account);
      const payload = c.endsWith("UPDATE")
        ? a.kind === "tenant"
          ? a.t.jwt
          : other.jwt
        : c.endsWith("DELETE")
          ? "not a jwt"
          : "";
      const m = await conn(a).request(subject, payload, { timeout: 2000 });
      return { ok: m.data.length > 0, detail: m.string().slice(0, 80) };
    },
  },
  {
    name: "$SYS: a subscription sees account connect events",
    execs: () => [...tenants(["$SYS.ACCOUNT.*.CONNECT"]), ...control("system", ["$SYS.ACCOUNT.*.CONNECT"])],
    run: async (a, c) => {
      const sub = conn(a).subscribe(c, { max: 1 });
      await conn(a).flush();
      const trigger = await h.connectTenant(a.kind === "tenant" ? a.t.name : "alpha");
      let timer: NodeJS.Timeout | undefined;
      try {
        const got = (async () => {
          for await (const m of sub) return m.subject;
          return "";
        })();
        const deadline = new Promise<string>((r) => (timer = setTimeout(() => r(""), 3000)));
        const subject = await Promise.race([got, deadline]);
        return { ok: subject.startsWith("$SYS.ACCOUNT."), detail: subject || "nothing within 3 s" };
      } finally {
        clearTimeout(timer);
        sub.unsubscribe();
        await trigger.close();
      }
    },
  },
  {
    name: "limits: streams beyond the account's limit",
    execs: () => limitCases("5th stream", "6th stream"),
    run: async (a, c) => {
      const t = tenantOf(a);
      try {
        await t.jsm.streams.add({ name: "EXTRA5", subjects: ["extra5"], max_bytes: 1000 });
        if (c === "5th stream") return true;
        await t.jsm.streams.add({ name: "EXTRA6", subjects: ["extra6"], max_bytes: 1000 });
        return true;
      } finally {
        await t.jsm.streams.delete("EXTRA5").catch(() => undefined);
        await t.jsm.streams.delete("EXTRA6").catch(() => undefined);
      }
    },
  },
  {
    name: "limits: file storage beyond the account's quota",
    execs: () => limitCases("500 kB stream", "2 MB stream"),
    run: async (a, c) => {
      const t = tenantOf(a);
      await t.jsm.streams.add({
        name: "BIG",
        subjects: ["big"],
        max_bytes: c === "500 kB stream" ? 500_000 : 2_000_000,
      });
      await t.jsm.streams.delete("BIG");
      return true;
    },
  },
  {
    name: "limits: memory storage beyond the account's quota",
    execs: () => limitCases("50 kB memory stream", "200 kB memory stream"),
    run: async (a, c) => {
      const t = tenantOf(a);
      await t.jsm.streams.add({
        name: "MEM",
        subjects: ["mem"],
        storage: "memory" as never,
        max_bytes: c.startsWith("50") ? 50_000 : 200_000,
      });
      await t.jsm.streams.delete("MEM");
      return true;
    },
  },
  {
    name: "limits: payload beyond the account's limit",
    execs: () => limitCases(`${LIMITS.payloadBytes} bytes`, `${LIMITS.payloadBytes + 1} bytes`),
    run: async (a, c) => {
      const t = tenantOf(a);
      t.nc.publish("payload.probe", new Uint8Array(parseInt(c, 10)));
      await t.nc.flush();
      return true;
    },
  },
  {
    name: "auth: creds that are not the tenant's current ones",
    // an unknown account costs the server its resolver fetch timeout (~2 s) before it refuses: run them together
    parallel: true,
    execs: () =>
      limitCases("fresh creds", "").flatMap((e) =>
        e.case === ""
          ? ["expired creds", "account never pushed", "another installation's keys"].map((c) => ({ ...e, case: c }))
          : [e],
      ),
    run: async (a, c) => {
      const t = tenantOf(a);
      const creds =
        c === "fresh creds"
          ? h.creds(t.name)
          : c === "expired creds"
            ? userCreds(h.keys, t.name, 0, { name: "old", ttlSeconds: 3600, now: Date.now() - 2 * 3_600_000 }).creds
            : c === "account never pushed"
              ? h.creds(t.name, 7)
              : userCreds(otherKeys(), t.name, 0, { name: "foreign" }).creds;
      const nc = await h.connectCreds(creds);
      await nc.close();
      return true;
    },
  },
];

let other: ReturnType<typeof loadKeys> | undefined;
function otherKeys(): ReturnType<typeof loadKeys> {
  if (!other) {
    initKeys(join(h.base, "other-installation"));
    other = loadKeys(join(h.base, "other-installation"));
  }
  return other;
}

describe("isolation: each tenant against the platform account, the system account and its own limits", function () {
  this.timeout(60_000);
  const log = new ProbeLog();
  before(async () => {
    await h.start();
    fx = await setupTenants(h);
    platform = await h.connectPlatform();
    platformKv = await new Kvm(platform).create("platform_state");
    await platformKv.put("k", PLATFORM_SECRET);
  });
  after(async () => {
    console.log(log.summary());
    await h.cleanup();
  });

  for (const p of PROBES) {
    it(p.name, async () => {
      const one = async (e: Exec) => {
        const r = await attempt(() => p.run(e.actor, e.case));
        const actor = e.actor.kind === "tenant" ? e.actor.t.name : e.actor.kind;
        log.add({ probe: p.name, actor, target: p.name.split(":")[0]!, case: e.case, expected: e.expected, ...r });
      };
      if (p.parallel) await Promise.all(p.execs().map(one));
      else for (const e of p.execs()) await one(e);
      log.check(p.name);
    });
  }

  it("ran every probe; the platform's data is untouched and every tenant's fixture connection is still open", async () => {
    console.log(
      `      ${log.records.length} probe executions (${log.records.filter((r) => r.expected === "blocked").length} must-fail)`,
    );
    expect(log.records.length).to.be.at.least(100);
    expect((await platformKv.get("k"))?.string()).to.equal(PLATFORM_SECRET);
    for (const f of fx.values()) expect(f.nc.isClosed(), f.name).to.equal(false);
  });
});
