import { expect } from "chai";
import { jetstream } from "@nats-io/jetstream";
import { fmtCreds } from "@nats-io/jwt";
import { FastKeyPair } from "../../engine/accounts/fast-keys.js";
import { signJwt } from "../../engine/accounts/jwt.js";
import { tenantAccountKey } from "../../engine/accounts/keys.js";
import { OperatorHarness } from "../helpers/operator.js";
import {
  attempt,
  ProbeLog,
  receivedBeforeMarker,
  setupTenants,
  TENANTS,
  type TenantFixture,
} from "../helpers/isolation.js";

/**
 * Tenant isolation as a table of probes. Every probe runs for every ordered pair (actor, target) of 5 tenants:
 * on the diagonal (actor = target) the same code is a positive control and must succeed; off the diagonal it
 * must not. So a probe that fails for a reason of its own (a typo, a broken client) fails the diagonal.
 */
type PairProbe = {
  name: string;
  cases: string[];
  run: (actor: TenantFixture, target: TenantFixture, c: string) => Promise<boolean | { ok: boolean; detail: string }>;
};

let markers = 0;
const CORE_SUBJECTS = [
  "orders.new",
  "svc.echo",
  "$KV.secrets.probe",
  "_INBOX.probe",
  "a.b.c",
  "alpha.x",
  "$JS.API.INFO",
];

const PROBES: PairProbe[] = [
  {
    name: "core: actor subscribed to '>' receives target's publish",
    cases: CORE_SUBJECTS,
    run: async (a, t, subject) => {
      const seen = await receivedBeforeMarker(a.nc, t.nc, subject, `marker.${markers++}`);
      return { ok: seen.includes(subject), detail: `before the marker: [${seen.join(", ")}]` };
    },
  },
  {
    name: "request: actor reaches target's services",
    cases: ["svc.<target>.echo", "svc.echo"],
    run: async (a, t, c) => {
      const m = await a.nc.request(c === "svc.echo" ? "svc.echo" : `svc.${t.name}.echo`, "", { timeout: 2000 });
      return { ok: m.string() === t.name, detail: `answered by ${m.string()}` };
    },
  },
  {
    name: "jetstream: stream info of target's stream",
    cases: ["info"],
    run: async (a, t) => (await a.jsm.streams.info(`ORDERS_${t.name}`)).state.messages > 0,
  },
  {
    name: "jetstream: list shows target's stream",
    cases: ["names"],
    run: async (a, t) => {
      const names: string[] = [];
      for await (const n of a.jsm.streams.names()) names.push(n);
      return { ok: names.includes(`ORDERS_${t.name}`), detail: names.join(",") };
    },
  },
  {
    name: "jetstream: read target's stored message",
    cases: ["get seq 1"],
    run: async (a, t) =>
      (await a.jsm.streams.getMessage(`ORDERS_${t.name}`, { seq: 1 }))?.string() === `first order of ${t.name}`,
  },
  {
    name: "jetstream: consume target's stream",
    cases: ["ephemeral consumer"],
    run: async (a, t) => {
      const ci = await a.jsm.consumers.add(`ORDERS_${t.name}`, {
        ack_policy: "none" as never,
        inactive_threshold: 5_000_000_000,
      });
      await a.jsm.consumers.delete(`ORDERS_${t.name}`, ci.name);
      return true;
    },
  },
  {
    name: "jetstream: delete target's stream (checked in target)",
    cases: ["delete"],
    run: async (a, t) => {
      await a.jsm.streams.delete(`SCRATCH_${t.name}`).catch(() => false);
      const gone = await t.jsm.streams.info(`SCRATCH_${t.name}`).then(
        () => false,
        () => true,
      );
      if (gone) await t.jsm.streams.add({ name: `SCRATCH_${t.name}`, subjects: ["scratch.>"], max_bytes: 10_000 });
      return gone;
    },
  },
  {
    name: "jetstream: publish lands in target's stream",
    cases: ["orders.probe"],
    run: async (a, t) => {
      const ack = await jetstream(a.nc).publish("orders.probe", "x");
      return { ok: ack.stream === `ORDERS_${t.name}`, detail: `stored in ${ack.stream}` };
    },
  },
  {
    name: "kv: read target's bucket",
    cases: ["get"],
    run: async (a, t) => (await (await a.kvm.open(`only_${t.name}`)).get("token"))?.string() === t.secret,
  },
  {
    name: "kv: bucket of the same name yields target's data",
    cases: ["secrets.get"],
    run: async (a, t) => (await a.secrets.get("token"))?.string() === t.secret,
  },
  {
    name: "kv: write into target's bucket (checked in target)",
    cases: ["put"],
    run: async (a, t) => {
      const mark = `written-by-${a.name}-${markers++}`;
      await (await a.kvm.open(`only_${t.name}`)).put("graffiti", mark).catch(() => undefined);
      return (await t.only.get("graffiti"))?.string() === mark;
    },
  },
  {
    name: "kv: watch target's bucket",
    cases: ["watch"],
    run: async (a, t) => {
      const w = await (await a.kvm.open(`only_${t.name}`)).watch({ key: "token" });
      try {
        for await (const e of w) return e.string() === t.secret;
        return false;
      } finally {
        w.stop();
      }
    },
  },
  {
    name: "auth: user signed by actor's key enters target's account",
    cases: ["issuer_account"],
    run: async (a, t) => {
      const user = FastKeyPair.create("user");
      const nats: Record<string, unknown> = { pub: {}, sub: {}, subs: -1, data: -1, payload: -1 };
      if (a !== t) nats.issuer_account = t.account; // claim the target's account while signing with the actor's key
      const jwt = signJwt(
        "user",
        { name: "forged", sub: user.getPublicKey(), exp: Math.floor(Date.now() / 1000) + 600, nats },
        tenantAccountKey(h.keys, a.name, 0),
      );
      const nc = await h.connectCreds(new TextDecoder().decode(fmtCreds(jwt, user)));
      const r = await nc.request(`svc.${t.name}.echo`, "", { timeout: 2000 });
      await nc.close();
      return r.string() === t.name;
    },
  },
];

const h = new OperatorHarness();

describe("isolation: tenant × tenant probe table (5 tenants, every ordered pair, diagonal = positive control)", function () {
  this.timeout(60_000);
  const log = new ProbeLog();
  let fx: Map<string, TenantFixture>;
  before(async () => {
    await h.start();
    fx = await setupTenants(h);
  });
  after(async () => {
    console.log(log.summary());
    await h.cleanup();
  });

  for (const p of PROBES) {
    it(p.name, async () => {
      for (const actor of TENANTS) {
        for (const target of TENANTS) {
          for (const c of p.cases) {
            const expected = actor === target ? "allowed" : "blocked";
            const r = await attempt(() => p.run(fx.get(actor)!, fx.get(target)!, c));
            log.add({ probe: p.name, actor, target, case: c, expected, ...r });
          }
        }
      }
      log.check(p.name);
    });
  }

  it("ran hundreds of probe executions, every connection of the fixture still open", () => {
    const total = log.records.length;
    console.log(
      `      ${total} probe executions: ${log.records.filter((r) => r.expected === "blocked").length} cross-tenant, ${log.records.filter((r) => r.expected === "allowed").length} positive controls`,
    );
    expect(total).to.be.at.least(400);
    for (const f of fx.values()) expect(f.nc.isClosed(), f.name).to.equal(false);
  });
});
