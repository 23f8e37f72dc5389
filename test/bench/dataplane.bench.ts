/**
 * `npm run bench:dataplane`: the data plane's figures, each against a floor measured in the same run on the same
 * nats-server (started here on a free port, temporary store, no accounts):
 *
 *   1. NATS → map → NATS throughput: a `nats` source on a stream holding N preloaded messages, a map step, a
 *      JetStream `nats` sink; one replica. Floor: the raw consume → publish (ack awaited) → ack loop with the same
 *      messages in flight (dataplane-floors.ts). Goal ≥ 70% of the floor.
 *   2. Webhook → map → HTTP sink end to end (gateway → ingest stream → replica → undici POST to a receiver): the
 *      delivered rate at saturation (--concurrency requests in flight for --seconds), and p50/p99 from send to
 *      receipt at 1,000 req/s offered (and 300: the latency a less loaded machine sees). Floor: fastify → publish → consumer → undici POST. Goals ≥ 70%, p99 ≤ 10 ms.
 *      The gateway, the worker and the floor's two halves each run in a process of their own (dataplane-hops.ts),
 *      as deployed; the load and the receiver run here.
 *   3. Memory: RSS of a worker-like process (dataplane-idle.ts) with --idle idle replicas (goal ≤ 200 MB), its CPU
 *      while idle, and the RSS added per busy replica.
 *   4. Trace cost: figure 1 with and without message traces (goal ≤ 10% apart).
 *   5. Telemetry cost: figure 1 with nothing recorded against everything on (message traces, OpenTelemetry
 *      metrics, spans exported over OTLP: dataplane-telemetry.ts); goal ≤ 10%.
 * (Loss after kill -9 under load is measured by test/e2e: see docs/benchmarks.md.)
 *
 * Output: a table on stdout (--json: every figure as JSON); progress on stderr.
 * Options: --messages N (20000), --reps N (3), --seconds N (5), --concurrency N (64), --idle N (1000), --json,
 * --only 1,2,3,4,5, --rates R,... (figure 2's offered rates, 1000,300).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { TestNats } from "../helpers/nats.js";
import { intOption } from "./args.js";
import { DataPlane } from "./dataplane-env.js";
import { ALL, fullTelemetry, otlpSink, type TelemetryParts } from "./dataplane-telemetry.js";
import type { FlowRunnerOptions } from "../../engine/worker/flow/flow-runner.js";
import { natsLoop, preload, webhookFloorStream } from "./dataplane-floors.js";
import { latencies, offer, orderBody, pct, Receiver, saturate } from "./dataplane-load.js";
import { benchHarness } from "./harness.js";
import { machine } from "./machine.js";

const argv = process.argv.slice(2);
const OPT = {
  messages: intOption(argv, "messages", 20_000),
  reps: intOption(argv, "reps", 3),
  seconds: intOption(argv, "seconds", 5),
  concurrency: intOption(argv, "concurrency", 64),
  idle: intOption(argv, "idle", 1000),
  rates: (() => {
    const i = argv.indexOf("--rates");
    return (i >= 0 ? argv[i + 1]! : "1000,300").split(",").map(Number);
  })(),
  json: argv.includes("--json"),
  only: (() => {
    const i = argv.indexOf("--only");
    return new Set((i >= 0 ? argv[i + 1]! : "1,2,3,4,5").split(","));
  })(),
};
const h = benchHarness("dataplane");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;
const BODY = new TextEncoder().encode(orderBody(1));
const MAP = {
  name: "shape",
  type: "map",
  config: { fields: { id: "body.order.id", total: "body.order.total", text: '"New order " + string(body.order.id)' } },
};

/** Figure 1 (and 4): N preloaded messages through nats source → map → JetStream sink; messages per second. */
async function natsToNats(dp: DataPlane, nc: NatsConnection, run: number, o: FlowRunnerOptions): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const name = `n2n-${run}`;
  const [inStream, outStream] = [`n2n_in_${run}`, `n2n_out_${run}`];
  await jsm.streams.add({ name: inStream, subjects: [`n2n.in.${run}`] });
  await jsm.streams.add({ name: outStream, subjects: [`n2n.out.${run}`] });
  const r = await dp.integration(name, {
    replicas: 1,
    source: { type: "nats", config: { subject: `n2n.in.${run}`, stream: inStream } },
    steps: [MAP],
    sinks: [{ name: "out", type: "nats", config: { subject: `n2n.out.${run}`, jetstream: true } }],
  });
  await preload(nc, `n2n.in.${run}`, OPT.messages, BODY);
  const t0 = performance.now();
  const replica = await dp.run(r, o);
  for (;;) {
    const info = await jsm.streams.info(outStream);
    if (info.state.messages >= OPT.messages) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const rate = OPT.messages / ((performance.now() - t0) / 1000);
  await replica.stop();
  await jsm.streams.delete(inStream);
  await jsm.streams.delete(outStream);
  return rate;
}

async function figure1and4(dp: DataPlane, nc: NatsConnection) {
  const floor: number[] = [];
  const on: number[] = [];
  const off: number[] = [];
  for (let rep = 0; rep < OPT.reps; rep++) {
    h.progress(`figure 1/4, rep ${rep + 1}/${OPT.reps}: floor, traces on, traces off (${OPT.messages} messages each)`);
    floor.push(await natsLoop(nc, OPT.messages, BODY));
    on.push(await natsToNats(dp, nc, rep * 2, { traces: true }));
    off.push(await natsToNats(dp, nc, rep * 2 + 1, { traces: false }));
  }
  const f = median(floor);
  const t = median(on);
  const n = median(off);
  return {
    floorPerSec: round(f),
    vrskyPerSec: round(t),
    ratio: round(t / f, 2),
    tracesOffPerSec: round(n),
    traceCost: round(1 - t / n, 3),
    samples: {
      floor: floor.map((x) => round(x)),
      tracesOn: on.map((x) => round(x)),
      tracesOff: off.map((x) => round(x)),
    },
  };
}

/** Figure 5: figure 1 with nothing recorded, and with every kind of telemetry on (alternating, --reps each). */
async function figure5(dp: DataPlane, nc: NatsConnection) {
  const sink = await otlpSink();
  h.cleanups.push(() => sink.stop());
  // Nothing, each part alone, everything: in turn within each repetition, so that load drifts hit them alike.
  const configs: Record<string, TelemetryParts> = {
    off: { traces: false, metrics: false, spans: false },
    traces: { traces: true, metrics: false, spans: false },
    metrics: { traces: false, metrics: true, spans: false },
    spans: { traces: false, metrics: false, spans: "sampled" },
    all: ALL,
    "every message traced": { traces: true, metrics: true, spans: "every" },
  };
  const rates: Record<string, number[]> = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
  let run = 1000;
  // One untimed pass with everything on first: the code paths compiled before the first timed run.
  const warm = fullTelemetry(sink.url, ALL);
  await natsToNats(dp, nc, run++, warm.options);
  await warm.done();
  for (let rep = 0; rep < OPT.reps; rep++) {
    for (const [name, parts] of Object.entries(configs)) {
      h.progress(`figure 5, rep ${rep + 1}/${OPT.reps}: telemetry ${name} (${OPT.messages} messages)`);
      const t = fullTelemetry(sink.url, parts);
      rates[name]!.push(await natsToNats(dp, nc, run++, t.options));
      await t.done();
    }
  }
  sink.stop();
  const off = median(rates.off!);
  const cost = (k: string) => round(1 - median(rates[k]!) / off, 3);
  return {
    offPerSec: round(off),
    onPerSec: round(median(rates.all!)),
    cost: cost("all"),
    parts: { traces: cost("traces"), metrics: cost("metrics"), spans: cost("spans") },
    everyMessageTraced: cost("every message traced"),
    samples: Object.fromEntries(Object.entries(rates).map(([k, xs]) => [k, xs.map((x) => round(x))])),
  };
}

/** Delivered per second at saturation, and latencies at each offered rate (--rates), through `url` to `rx`. */
async function webhookFigures(url: string, rx: Receiver, prefix: string) {
  rx.reset();
  const t0 = performance.now();
  const s = await saturate(url, { concurrency: OPT.concurrency, seconds: OPT.seconds, prefix: `${prefix}-s` });
  await rx.until(s.sent.size, 120_000);
  const delivered = s.sent.size / ((performance.now() - t0) / 1000);
  let errors = s.errors;
  const at: Record<string, Latency> = {};
  for (const rate of OPT.rates) {
    rx.reset();
    const o = await offer(url, { rate, seconds: OPT.seconds, prefix: `${prefix}-o${rate}` });
    await rx.until(o.sent.size, 60_000);
    errors += o.errors;
    const l = latencies(o.sent, rx);
    at[rate] = {
      p50: round(pct(l, 0.5), 2),
      p99: round(pct(l, 0.99), 2),
      answerP50: round(pct(o.answeredMs ?? [], 0.5), 2),
      answerP99: round(pct(o.answeredMs ?? [], 0.99), 2),
    };
  }
  return { deliveredPerSec: round(delivered), acceptedPerSec: round(s.acceptedPerSec), errors, at };
}

/** Send → receipt, and send → the gateway's answer, in ms. */
interface Latency {
  p50: number;
  p99: number;
  answerP50: number;
  answerP99: number;
}

/** A part of figure 2 in its own process (dataplane-hops.ts); resolves with its URL once it serves. */
function hops(natsUrl: string, role: string, arg = ""): Promise<{ url: string; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL("./dataplane-hops.js", import.meta.url)), [natsUrl, role, arg], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    child.kill("SIGKILL");
  };
  h.cleanups.push(stop);
  return new Promise((resolve, reject) => {
    child.once("message", (m) => resolve({ url: (m as { url?: string }).url ?? "", stop }));
    child.once("exit", (code) => reject(new Error(`${role} exited with ${code} before it was ready`)));
  });
}

async function figure2(dp: DataPlane, nc: NatsConnection, natsUrl: string) {
  const rx = new Receiver();
  await rx.start();
  h.cleanups.push(() => rx.stop());
  const r = await dp.integration("hook", {
    replicas: 1,
    source: {
      type: "http",
      config: { path: "/orders", methods: ["POST"], maxBodyBytes: 1048576, responseStatus: 202 },
    },
    steps: [MAP],
    sinks: [
      { name: "out", type: "http", config: { url: rx.url, timeout: "10s", method: "POST", successStatus: [200] } },
    ],
  });
  // Each side in its own process, as deployed: the gateway and the worker; the floor's two halves likewise.
  const gateway = await hops(natsUrl, "vrsky-gateway");
  const worker = await hops(natsUrl, "vrsky-worker", JSON.stringify(r));
  const floorStream = await webhookFloorStream(nc);
  const floorIngest = await hops(natsUrl, "floor-ingest");
  const floorDeliver = await hops(natsUrl, "floor-deliver", rx.url);
  const floors = [];
  const vrsky = [];
  for (let rep = 0; rep < OPT.reps; rep++) {
    h.progress(`figure 2, rep ${rep + 1}/${OPT.reps}: floor`);
    floors.push(await webhookFigures(floorIngest.url, rx, `f${rep}`));
    h.progress(`figure 2, rep ${rep + 1}/${OPT.reps}: gateway → replica → HTTP sink`);
    vrsky.push(await webhookFigures(`${gateway.url}/t/bench/orders`, rx, `v${rep}`));
  }
  await Promise.all([gateway.stop(), worker.stop(), floorIngest.stop(), floorDeliver.stop()]);
  await floorStream.remove();
  type Sample = Awaited<ReturnType<typeof webhookFigures>>;
  const summary = (xs: Sample[]) => ({
    deliveredPerSec: median(xs.map((x) => x.deliveredPerSec)),
    at: Object.fromEntries(
      OPT.rates.map((rate) => {
        const ls = xs.map((x) => x.at[rate]!);
        const m = (k: keyof Latency) => median(ls.map((l) => l[k]));
        return [rate, { p50: m("p50"), p99: m("p99"), answerP50: m("answerP50"), answerP99: m("answerP99") }];
      }),
    ) as Record<string, Latency>,
  });
  const floor = summary(floors);
  const ours = summary(vrsky);
  return {
    floor,
    vrsky: ours,
    ratio: round(ours.deliveredPerSec / floor.deliveredPerSec, 2),
    errors: [...floors, ...vrsky].reduce((a, x) => a + x.errors, 0),
    samples: { floor: floors, vrsky },
  };
}

/** Figure 3: a child process runs the replicas; it reports its RSS and CPU. */
function figure3(url: string): Promise<Record<string, number>> {
  h.progress(`figure 3: ${OPT.idle} idle replicas in a child process`);
  const child = fork(fileURLToPath(new URL("./dataplane-idle.js", import.meta.url)), [url, String(OPT.idle)], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    execArgv: ["--expose-gc"],
  });
  h.cleanups.push(() => void child.kill("SIGKILL"));
  return new Promise((resolve, reject) => {
    child.on("message", (m) => resolve(m as Record<string, number>));
    child.on("exit", (code) => reject(new Error(`the idle-replica process exited with ${code}`)));
  });
}

async function main() {
  const m = machine({ natsServer: true });
  const nats = await new TestNats().start();
  h.cleanups.push(() => nats.cleanup());
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  h.cleanups.push(() => nc.close());
  const dp = await new DataPlane(nc, nats.url).start();
  h.cleanups.push(() => dp.close());
  const out: Record<string, unknown> = { machine: m, options: { ...OPT, only: [...OPT.only] } };
  if (OPT.only.has("1") || OPT.only.has("4")) out.natsToNats = await figure1and4(dp, nc);
  if (OPT.only.has("2")) out.webhook = await figure2(dp, nc, nats.url);
  if (OPT.only.has("3")) out.memory = await figure3(nats.url);
  if (OPT.only.has("5")) out.telemetry = await figure5(dp, nc);
  out.loadEnd = round((await import("node:os")).loadavg()[0]!, 2);
  await h.cleanup();
  if (OPT.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else process.stdout.write(render(out));
}

function render(o: Record<string, unknown>): string {
  const lines = [`machine: ${JSON.stringify(o.machine)}`, ""];
  const n = o.natsToNats as Awaited<ReturnType<typeof figure1and4>> | undefined;
  if (n) {
    lines.push(
      `1. NATS → map → NATS: ${n.vrskyPerSec} msg/s vs floor ${n.floorPerSec} msg/s = ${Math.round(n.ratio * 100)}% (goal ≥ 70%)`,
      `4. traces: on ${n.vrskyPerSec} msg/s, off ${n.tracesOffPerSec} msg/s: cost ${round(n.traceCost * 100, 1)}% (goal ≤ 10%)`,
    );
  }
  const w = o.webhook as Awaited<ReturnType<typeof figure2>> | undefined;
  if (w) {
    lines.push(
      `2. webhook → map → HTTP: ${w.vrsky.deliveredPerSec} delivered/s vs floor ${w.floor.deliveredPerSec} = ${Math.round(w.ratio * 100)}% (goal ≥ 70%)`,
      ...OPT.rates.map((rate) => {
        const [v, f] = [w.vrsky.at[rate]!, w.floor.at[rate]!];
        return (
          `   at ${rate} req/s: p50 ${v.p50} ms, p99 ${v.p99} ms (floor p50 ${f.p50}, p99 ${f.p99}` +
          `${rate === 1000 ? "; goal p99 ≤ 10 ms" : ""}); answered p50 ${v.answerP50} / p99 ${v.answerP99} ms ` +
          `(floor ${f.answerP50} / ${f.answerP99})`
        );
      }),
      `   errors ${w.errors}`,
    );
  }
  const mem = o.memory as Record<string, number> | undefined;
  if (mem) {
    lines.push(
      `3. memory: ${mem.replicas} idle replicas: RSS ${mem.rssIdleMB} MB (baseline ${mem.rssBaseMB} MB; goal ≤ 200 MB), ` +
        `${mem.perIdleKB} KB per idle replica; CPU while idle ${mem.idleCpuPct}% of a core; ` +
        `per busy replica +${mem.perBusyKB} KB (${mem.busy} busy)`,
    );
  }
  const t = o.telemetry as Awaited<ReturnType<typeof figure5>> | undefined;
  if (t) {
    lines.push(
      `5. telemetry (message traces, OTel metrics, spans of 1 in 100 messages over OTLP): on ${t.onPerSec} msg/s, ` +
        `off ${t.offPerSec} msg/s: cost ${round(t.cost * 100, 1)}% (goal ≤ 10%); alone: message traces ` +
        `${round(t.parts.traces * 100, 1)}%, metrics ${round(t.parts.metrics * 100, 1)}%, spans ${round(t.parts.spans * 100, 1)}%; ` +
        `everything with every message traced: ${round(t.everyMessageTraced * 100, 1)}%`,
    );
  }
  lines.push(`load average at the end: ${String(o.loadEnd)}`, "");
  return lines.join("\n");
}

main().catch(async (e) => {
  process.stderr.write(`dataplane bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  await h.cleanup();
  process.exit(2);
});
