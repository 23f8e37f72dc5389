/**
 * The floors of the scale benchmark, measured on the same 3-node cluster in the same run as the figures they bound:
 *
 * - kvFloor: N raw puts into one R3 KV bucket (500 in flight), N = the records the reconciler and the workers
 *   wrote during the cold converge (every platform bucket's messages), values of their mean size.
 * - streamsFloor: the JetStream objects of `n` integrations (3 streams, 1 consumer, 1 object store each, R3) made by
 *   `ensureIntegrationStreams` alone, `concurrency` at a time, no reconciler around it: what the cold converge
 *   cannot go below once the KV writes are paid.
 * - loopFloor: K R3 work-queue streams, one durable consumer each read with up to 256 messages in flight
 *   (consumeBounded, as a replica), each message published on core NATS then acked; K × n messages published with
 *   `inflight` JetStream publishes (ack awaited) outstanding. Messages per second from the first publish to the
 *   last arrival on the out subjects: the raw R3 loop that VRSky's busy integrations are compared against.
 */
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { performance } from "node:perf_hooks";
import { MAX_IN_FLIGHT_PER_REPLICA } from "../../engine/contract/dataplane.js";
import { deleteIntegrationStreams, ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { integrationResource } from "../helpers/manifests.js";
import { consumeBounded } from "./dataplane-floors.js";
import { pipelinedPuts } from "./reconcile-kv.js";

/** Wall ms of `count` pipelined puts of `bytes`-byte values into a fresh R3 bucket (deleted afterwards). */
export async function kvFloor(nc: NatsConnection, count: number, bytes: number): Promise<number> {
  const kvm = new Kvm(nc);
  const kv = await kvm.create("scale_floor", { history: 5, replicas: 3 });
  const value = "x".repeat(Math.max(1, Math.round(bytes)));
  const entries: Array<[string, string]> = Array.from({ length: count }, (_, i) => [`k.${i}`, value]);
  try {
    return await pipelinedPuts(kv, entries, 500);
  } finally {
    await kv.destroy().catch(() => undefined);
  }
}

/** Wall ms per integration of making `n` integrations' JetStream objects, `concurrency` at a time (then removed). */
export async function streamsFloor(nc: NatsConnection, n: number, concurrency: number): Promise<number> {
  const names = Array.from({ length: n }, (_, i) => `floor-${String(i).padStart(4, "0")}`);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < names.length) {
        const name = names[next++]!;
        await ensureIntegrationStreams(nc, integrationResource("floor", name), 3);
      }
    }),
  );
  const ms = performance.now() - t0;
  next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < names.length) await deleteIntegrationStreams(nc, "floor", names[next++]!);
    }),
  );
  return ms / n;
}

/** Runs `work(i)` for i < n, `lanes` at a time. */
async function inLanes(n: number, lanes: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, n) }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

/**
 * A publish that found no stream to answer it (nats.js says `JetStreamNotEnabled` for the 503: a stream leader being
 * elected on a loaded cluster) is tried again, as the gateway does; anything else, or the 10th try, fails the run.
 */
async function withRetries(publish: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await publish();
      return;
    } catch (e) {
      if (
        attempt >= 10 ||
        !(e instanceof Error) ||
        !/JetStreamNotEnabled|no responders|503/i.test(`${e.name} ${e.message}`)
      )
        throw e;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** Runs `publish(k, j)` for k < K, j < n with `inflight` outstanding; resolves once all are acknowledged. */
export async function publishAll(
  K: number,
  n: number,
  inflight: number,
  publish: (k: number, j: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const total = K * n;
  await Promise.all(
    Array.from({ length: Math.min(inflight, total) }, async () => {
      while (next < total) {
        const i = next++;
        await withRetries(() => publish(i % K, Math.floor(i / K)));
      }
    }),
  );
}

/** Resolves with the arrival time (performance.now()) of the `total`-th message on `subject`. */
export function countArrivals(nc: NatsConnection, subject: string, total: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`${seen}/${total} messages arrived on ${subject} within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = nc.subscribe(subject, {
      callback: () => {
        if (++seen < total) return;
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(performance.now());
      },
    });
  });
}

/** The raw R3 publish → consume → core publish → ack loop over K streams; messages per second. */
export async function loopFloor(
  nc: NatsConnection,
  K: number,
  n: number,
  body: Uint8Array,
  inflight: number,
): Promise<number> {
  const jsm = await jetstreamManager(nc, { timeout: 30_000 });
  const js = jetstream(nc, { timeout: 30_000 });
  const streams = Array.from({ length: K }, (_, k) => `floor_loop_${k}`);
  await inLanes(K, 8, async (k) => {
    const name = streams[k]!;
    await jsm.streams.add({
      name,
      subjects: [`floor.in.${k}`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: 3,
    });
    await jsm.consumers.add(name, { durable_name: "run", ack_policy: AckPolicy.Explicit, num_replicas: 3 });
  });
  const loops = streams.map((name, k) =>
    consumeBounded(nc, name, "run", MAX_IN_FLIGHT_PER_REPLICA, async (m) => {
      nc.publish(`floor.out.${k}`, m.data);
      m.ack();
    }),
  );
  try {
    const arrived = countArrivals(nc, "floor.out.>", K * n, 600_000);
    await nc.flush();
    const t0 = performance.now();
    await publishAll(K, n, inflight, (k, j) => js.publish(`floor.in.${k}`, body, { msgID: `f-${k}-${j}` }));
    return ((K * n) / ((await arrived) - t0)) * 1000;
  } finally {
    await Promise.all(loops.map((l) => l.stop()));
    await inLanes(K, 8, (k) => jsm.streams.delete(streams[k]!).catch(() => undefined));
  }
}
