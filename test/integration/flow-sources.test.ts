import { expect } from "chai";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { readIngest, type StoredMessage } from "../../engine/dataplane/wire.js";
import { natsSource, NatsSubjectSource } from "../../engine/worker/flow/sources/nats.js";
import { timerSource, TimerSource } from "../../engine/worker/flow/sources/timer.js";
import type { SourceRuntime } from "../../engine/worker/flow/types.js";
import { testEnv, type TestEnvOptions } from "../helpers/connector-env.js";
import { integrationResource } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

const TENANT = "acme";

describe("flow sources", function () {
  this.timeout(60_000);
  const fx = useNats({ resetBuckets: false });
  let jsm: JetStreamManager;
  const running: SourceRuntime[] = [];
  let counter = 0;

  before(async () => {
    jsm = await jetstreamManager(fx.nc);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
  });

  /** A fresh integration with its streams; returns its name. */
  async function integration(source: Record<string, unknown>): Promise<string> {
    const name = `feed${++counter}`;
    await ensureIntegrationStreams(fx.nc, integrationResource(TENANT, name, { source }));
    return name;
  }

  /** Every message in the integration's ingest stream, in order. */
  async function stored(name: string): Promise<StoredMessage[]> {
    const stream = integrationStreams(TENANT, name).ingest;
    const { state } = await jsm.streams.info(stream);
    const out: StoredMessage[] = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m) out.push(readIngest(m.header, m.data));
    }
    return out;
  }

  async function count(name: string): Promise<number> {
    return (await jsm.streams.info(integrationStreams(TENANT, name).ingest)).state.messages;
  }

  async function start(
    kind: "nats" | "timer",
    config: Record<string, unknown>,
    env: ReturnType<typeof testEnv>,
  ): Promise<SourceRuntime> {
    const s = await (kind === "nats" ? natsSource : timerSource)(config, env);
    running.push(s);
    return s;
  }

  /** Waits for the source's n-th subscription and for the server to have it (a flush on the source's connection). */
  async function subscribed(src: NatsSubjectSource, e: ReturnType<typeof testEnv>, n = 1): Promise<void> {
    await until(() => src.counters.subscriptions === n, 5_000, `subscription ${n}`);
    await e.connection()!.flush();
  }

  function env(name: string, nc: NatsConnection, o: TestEnvOptions = {}) {
    return testEnv({ tenant: TENANT, integration: name, connection: nc, ...o });
  }

  describe("nats", () => {
    it("persists messages with their ids, lower-case headers and content types", async () => {
      const name = await integration({ type: "nats", config: { subject: "shipments.>" } });
      const e = env(name, await fx.connect());
      const src = (await start("nats", { subject: "shipments.>" }, e)) as NatsSubjectSource;
      expect(src.queue).to.equal(integrationStreams(TENANT, name).consumer);
      await subscribed(src, e);
      const pub = await fx.connect();
      await pub.flush();
      const h = natsHeaders();
      h.set("Nats-Msg-Id", "ship-1");
      h.set("X-Carrier", "DHL");
      pub.publish("shipments.eu", '{"id":1}', { headers: h });
      const ct = natsHeaders();
      ct.set("Content-Type", "application/xml");
      pub.publish("shipments.us", "<a/>", { headers: ct });
      pub.publish("shipments.us", "hello");
      pub.publish("shipments.eu", "[1,2]");
      pub.publish("shipments.eu", '{"id":1}', { headers: h }); // the same id again: stored once
      await until(
        () => src.counters.persisted === 5,
        10_000,
        () => `persisted ${JSON.stringify(src.counters)}`,
      );
      const msgs = await stored(name);
      expect(msgs).to.have.length(4);
      const [a, b, c, d] = msgs;
      expect(a).to.deep.include({ id: "ship-1", contentType: "application/json" });
      expect(a!.headers).to.deep.equal({ "nats-msg-id": "ship-1", "x-carrier": "DHL" });
      expect(a!.attributes).to.include({ id: "ship-1", source: "nats", subject: "shipments.eu" });
      expect(Date.parse(String(a!.attributes.receivedAt))).to.be.closeTo(Date.now(), 60_000);
      expect(Buffer.from(a!.body).toString()).to.equal('{"id":1}');
      expect(b).to.deep.include({ contentType: "application/xml" });
      expect(c).to.deep.include({ contentType: "text/plain" });
      expect(d).to.deep.include({ contentType: "application/json" });
      for (const m of [b, c, d]) expect(m!.id).to.match(/^[0-9a-f-]{36}$/);
      expect(new Set(msgs.map((m) => m.id)).size).to.equal(4);
      expect(src.counters.lost).to.equal(0);
    });

    it("answers a request only once the message is stored", async () => {
      const name = await integration({ type: "nats", config: { subject: "orders.in" } });
      const e = env(name, await fx.connect());
      const src = (await start("nats", { subject: "orders.in" }, e)) as NatsSubjectSource;
      await subscribed(src, e);
      const reply = await fx.nc.request("orders.in", '{"n":1}', { timeout: 5_000 });
      expect(reply.data.length).to.equal(0);
      expect(await count(name)).to.equal(1);
    });

    it("a request is not answered when the message cannot be stored", async () => {
      const name = await integration({ type: "nats", config: { subject: "orders.lost" } });
      const e = env(name, await fx.connect());
      e.ingest = () => undefined; // no writer: as when the tenant connection is down
      const src = (await start("nats", { subject: "orders.lost" }, e)) as NatsSubjectSource;
      await subscribed(src, e);
      const err = await fx.nc.request("orders.lost", "x", { timeout: 500 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(err, "the requester times out").to.be.instanceOf(Error);
      expect(src.counters.lost).to.equal(1);
      const lost = e.logs.find((l) => l.event === "nats-source-lost");
      expect(lost?.fields).to.include({ subject: "orders.lost", reason: "no connection to the ingest stream" });
      expect(JSON.stringify(lost)).to.not.contain('"x"');
    });

    for (const withEvent of [true, false])
      it(`follows a connection change (${withEvent ? "onConnection" : "periodic check"})`, async () => {
        const name = await integration({ type: "nats", config: { subject: "moves" } });
        const first = await fx.connect();
        const e = env(name, first, { onConnection: withEvent });
        const src = (await start("nats", { subject: "moves" }, e)) as NatsSubjectSource;
        await subscribed(src, e);
        await fx.nc.request("moves", "one", { timeout: 5_000 });
        const second = await fx.connect();
        e.setConnection(second);
        await first.close();
        await subscribed(src, e, 2);
        await fx.nc.request("moves", "two", { timeout: 5_000 });
        expect((await stored(name)).map((m) => Buffer.from(m.body).toString())).to.deep.equal(["one", "two"]);
        expect(e.failures).to.deep.equal([]);
      });

    it("replicas share the messages through the queue group", async () => {
      const name = await integration({ type: "nats", config: { subject: "work" } });
      const srcs: NatsSubjectSource[] = [];
      for (let r = 0; r < 3; r++) {
        const e = env(name, await fx.connect(), { replica: r });
        const src = (await start("nats", { subject: "work" }, e)) as NatsSubjectSource;
        await subscribed(src, e);
        srcs.push(src);
      }
      await Promise.all(Array.from({ length: 60 }, (_, i) => fx.nc.request("work", `{"i":${i}}`, { timeout: 5_000 })));
      expect(await count(name)).to.equal(60);
      expect(srcs.reduce((n, s) => n + s.counters.persisted, 0)).to.equal(60);
    });

    it("never takes the engine's own subjects, even subscribed to '>'", async () => {
      const name = await integration({ type: "nats", config: { subject: ">" } });
      const e = env(name, await fx.connect());
      const src = (await start("nats", { subject: ">" }, e)) as NatsSubjectSource;
      await subscribed(src, e);
      await fx.nc.request("anything.at.all", "x", { timeout: 5_000 });
      // The write to the ingest stream itself passed by the subscription and was skipped.
      await until(() => src.counters.skipped > 0, 5_000, "skipped the ingest publish");
      await fx.nc.request("marker", "y", { timeout: 5_000 });
      const bodies = (await stored(name)).map((m) => Buffer.from(m.body).toString());
      expect(bodies).to.deep.equal(["x", "y"]);
    });

    it("runs nothing for a source with its own stream", async () => {
      const s = await natsSource({ subject: "x", stream: "orders" }, env("feed0", fx.nc));
      await s.stop();
    });
  });

  describe("timer", () => {
    it("three replicas store exactly one message per tick", async () => {
      const name = await integration({ type: "timer", config: { interval: "200ms" } });
      const timers: TimerSource[] = [];
      const t0 = Date.now();
      for (let r = 0; r < 3; r++) {
        const e = env(name, await fx.connect(), { replica: r });
        timers.push((await start("timer", { interval: "200ms", payload: { ping: true } }, e)) as TimerSource);
      }
      await until(() => timers.every((t) => t.written.length >= 5), 10_000, "five ticks written by every replica");
      await Promise.all(timers.map((t) => t.stop()));
      const ticks = new Set(timers.flatMap((t) => t.written));
      const msgs = await stored(name);
      expect(msgs.map((m) => m.id).sort()).to.deep.equal([...ticks].sort().map((n) => `tick-${n}`));
      const sorted = [...ticks].sort((a, b) => a - b);
      expect(sorted[0]).to.be.at.least(Math.floor(t0 / 200) + 1, "no tick emitted late at start");
      for (let i = 1; i < sorted.length; i++) expect(sorted[i]).to.equal(sorted[i - 1]! + 1, "no tick missed");
      for (const m of msgs) {
        const n = Number(m.id.slice("tick-".length));
        expect(m.attributes).to.deep.include({ source: "timer", tick: n, receivedAt: new Date(n * 200).toISOString() });
        expect(m.contentType).to.equal("application/json");
        expect(Buffer.from(m.body).toString()).to.equal('{"ping":true}');
      }
      // Each replica wrote every tick it saw (the stream kept one of each).
      for (const t of timers) expect(t.written.length).to.be.at.least(5);
    });

    it("stop() ends the ticks", async () => {
      const name = await integration({ type: "timer", config: { interval: "100ms" } });
      const t = (await start("timer", { interval: "100ms" }, env(name, await fx.connect()))) as TimerSource;
      await until(() => t.written.length >= 2, 5_000, "two ticks");
      await t.stop();
      const after = t.written.length;
      const n = await count(name);
      await new Promise((r) => setTimeout(r, 350)); // three intervals: no tick may come
      expect(t.written.length).to.equal(after);
      expect(await count(name)).to.equal(n);
    });
  });
});
