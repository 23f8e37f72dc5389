/**
 * The floors of the data-plane benchmarks: minimal programs doing the same hops as VRSky with nothing else (no
 * pipeline, no traces, no counters, no retries), measured in the same run on the same nats-server.
 *
 * - natsLoop: JetStream consume (durable pull consumer) → JetStream publish, ack awaited → ack, with as many
 *   messages in flight as a VRSky replica allows.
 * - webhook floor: fastify receive → JetStream publish, ack awaited → 202 (webhookFloorIngest); a consumer → undici
 *   POST → ack (webhookFloorDeliver): each half in its own process, like the gateway and the worker.
 */
import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import Fastify from "fastify";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { MAX_IN_FLIGHT_PER_REPLICA } from "../../engine/contract/dataplane.js";

/** Runs `work` on each message of `durable` with at most `limit` in flight, until `stop()` is called. */
export function consumeBounded(
  nc: NatsConnection,
  stream: string,
  durable: string,
  limit: number,
  work: (m: JsMsg) => Promise<void>,
): { stop: () => Promise<void> } {
  let stopped = false;
  let inFlight = 0;
  let free: (() => void) | undefined;
  const stoppers: Array<() => void> = [];
  const done = (async () => {
    const c = await jetstream(nc).consumers.get(stream, durable);
    const msgs = await c.consume({ max_messages: limit });
    stoppers.push(() => void msgs.stop());
    for await (const m of msgs) {
      if (stopped) break;
      while (inFlight >= limit) await new Promise<void>((r) => (free = r));
      inFlight++;
      void work(m).finally(() => {
        inFlight--;
        free?.();
        free = undefined;
      });
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      stoppers.forEach((s) => s());
      await done.catch(() => undefined);
    },
  };
}

/**
 * Floor 1: `count` messages preloaded into `in` (subject `floor.in`) are consumed and published to `out`. Returns
 * messages per second from the first consume to the last ack.
 */
export async function natsLoop(nc: NatsConnection, count: number, body: Uint8Array): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  for (const s of ["floor_in", "floor_out"]) await jsm.streams.delete(s).catch(() => undefined);
  await jsm.streams.add({ name: "floor_in", subjects: ["floor.in"] });
  await jsm.streams.add({ name: "floor_out", subjects: ["floor.out"] });
  await jsm.consumers.add("floor_in", { durable_name: "floor", ack_policy: AckPolicy.Explicit });
  await preload(nc, "floor.in", count, body);
  let acked = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  const t0 = performance.now();
  const loop = consumeBounded(nc, "floor_in", "floor", MAX_IN_FLIGHT_PER_REPLICA, async (m) => {
    await js.publish("floor.out", m.data, { msgID: `${m.seq}` });
    m.ack();
    if (++acked === count) finish();
  });
  await finished;
  const rate = count / ((performance.now() - t0) / 1000);
  await loop.stop();
  for (const s of ["floor_in", "floor_out"]) await jsm.streams.delete(s).catch(() => undefined);
  return rate;
}

/** Publishes `count` messages to `subject` (a stream's), 1,000 acks in flight at a time. */
export async function preload(nc: NatsConnection, subject: string, count: number, body: Uint8Array): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < count; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) batch.push(js.publish(subject, body, { msgID: `p-${j}` }));
    await Promise.all(batch);
  }
}

/** Floor 2's stream and consumer (made before its two halves start, deleted after). */
export async function webhookFloorStream(nc: NatsConnection): Promise<{ remove(): Promise<void> }> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete("floor_hook").catch(() => undefined);
  await jsm.streams.add({ name: "floor_hook", subjects: ["floor.hook"] });
  await jsm.consumers.add("floor_hook", { durable_name: "floor", ack_policy: AckPolicy.Explicit });
  return { remove: async () => void (await jsm.streams.delete("floor_hook").catch(() => undefined)) };
}

/** Floor 2, the receiving half (a gateway's hops): POST `<url>` → JetStream publish, ack awaited → 202. */
export async function webhookFloorIngest(nc: NatsConnection): Promise<{ url: string; stop(): Promise<void> }> {
  const js = jetstream(nc);
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.post("/hook", async (req, reply) => {
    const key = String(req.headers["idempotency-key"] ?? "");
    await js.publish("floor.hook", req.body as Buffer, { msgID: key, headers: undefined });
    reply.code(202).send({ id: key });
  });
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  return { url: `${address}/hook`, stop: () => app.close() };
}

/** Floor 2, the delivering half (a worker's hops): consume → undici POST `target` → ack. */
export function webhookFloorDeliver(nc: NatsConnection, target: string): { stop(): Promise<void> } {
  const t = new URL(target);
  const pool = new Pool(t.origin, { connections: 64 });
  const loop = consumeBounded(nc, "floor_hook", "floor", MAX_IN_FLIGHT_PER_REPLICA, async (m) => {
    const r = await pool.request({
      method: "POST",
      path: t.pathname,
      headers: { "content-type": "application/json", "idempotency-key": m.headers?.get("Nats-Msg-Id") ?? "" },
      body: m.data,
    });
    await r.body.dump();
    m.ack();
  });
  return {
    stop: async () => {
      await loop.stop();
      await pool.close();
    },
  };
}
