/**
 * `node dist/test/bench/pipeline.bench.js`: throughput of the pure message-processing core on one core, the
 * hot path of the data plane (engine/pipeline). The integration is map (3 fields) → filter → 2 sinks, one of
 * them with a `when`; bodies are ~1 KiB JSON orders, 1,000 distinct ones in rotation.
 *
 * Three figures, each the median of --reps runs of --seconds each:
 *   process          the processor alone, on decoded bodies (what a worker calls per message)
 *   decode+process   JSON.parse of the payload, then the processor
 *   full             decode, process, and encoding the body once per selected sink
 * Plus the floor of `full`: JSON.parse and JSON.stringify of the same payloads, nothing else.
 * Options: --seconds N (2), --reps N (5), --json.
 */
import { performance } from "node:perf_hooks";
import { decodeBody, encodeBody } from "../../engine/pipeline/codec.js";
import type { JsonValue, Message } from "../../engine/pipeline/message.js";
import { compileProcessor, type Processor } from "../../engine/pipeline/processor.js";
import { intOption } from "./args.js";

const SPEC: Parameters<typeof compileProcessor>[0] = {
  steps: [
    {
      name: "shape",
      type: "map",
      config: {
        fields: {
          id: "body.order.id",
          total: "body.order.total",
          text: '"New order " + string(body.order.id) + " from " + body.order.customer.name',
        },
      },
    },
    { name: "big-only", type: "filter", config: { when: "body.total > 100.0" } },
  ],
  sinks: [
    { name: "slack", type: "http", config: {} },
    { name: "archive", type: "nats", when: "headers['x-archive'] == 'yes'", config: { subject: "orders.archive" } },
  ],
};

function order(n: number): JsonValue {
  const items = [];
  for (let i = 0; i < 9; i++)
    items.push({ sku: `SKU-${n}-${i}`, name: `Item number ${i} of order ${n}`, qty: i + 1, price: 9.99 + i });
  return {
    order: {
      id: 100_000 + n,
      total: 50 + (n % 200),
      currency: "EUR",
      note: "Please deliver between 9:00 and 17:00; ring twice. Leave at the door if nobody answers.",
      customer: { name: `Customer ${n}`, email: `customer${n}@example.com`, phone: "+49 30 1234567" },
      shipping: { street: "Example Street 1", city: "Berlin", zip: "10115", country: "DE" },
      items,
    },
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const payloads = Array.from({ length: 1000 }, (_, n) => encoder.encode(JSON.stringify(order(n))));
const headers: Array<Record<string, string>> = [{ "x-archive": "yes" }, { "x-archive": "no" }];

function message(n: number, body: JsonValue): Message {
  const id = `m${n}`;
  return {
    id,
    body,
    contentType: "application/json",
    headers: headers[n % 2]!,
    attributes: { id, source: "http", receivedAt: "2026-01-01T00:00:00.000Z" },
  };
}

type Loop = (n: number) => number;

function measure(loop: Loop, seconds: number): number {
  let n = 0;
  let sink = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) for (let i = 0; i < 1000; i++) sink += loop(n++);
  if (sink < 0) console.log(sink);
  return n / ((performance.now() - start) / 1000);
}

function loops(p: Processor): Record<string, Loop> {
  const decoded = payloads.map((b) => (decodeBody(b, "application/json") as { body: JsonValue }).body);
  return {
    process: (n) => {
      const r = p.process(message(n, decoded[n % 1000]!));
      return r.outcome === "routed" ? r.outputs[0]!.sinks.length : 0;
    },
    "decode+process": (n) => {
      const d = decodeBody(payloads[n % 1000]!, "application/json");
      const r = p.process(message(n, d.ok ? d.body : null));
      return r.outcome === "routed" ? r.outputs[0]!.sinks.length : 0;
    },
    full: (n) => {
      const d = decodeBody(payloads[n % 1000]!, "application/json");
      const r = p.process(message(n, d.ok ? d.body : null));
      let bytes = 0;
      if (r.outcome === "routed")
        for (const o of r.outputs) for (const _ of o.sinks) bytes += encodeBody(o.message).length;
      return bytes;
    },
    "floor (parse+stringify)": (n) => JSON.stringify(JSON.parse(decoder.decode(payloads[n % 1000]!))).length,
  };
}

function main(): void {
  const argv = process.argv.slice(2);
  const seconds = intOption(argv, "seconds", 2);
  const reps = intOption(argv, "reps", 5);
  const compiled = compileProcessor(SPEC);
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.problems));
  const results: Record<string, number> = {};
  for (const [name, loop] of Object.entries(loops(compiled.processor))) {
    measure(loop, 0.5);
    const runs = Array.from({ length: reps }, () => measure(loop, seconds)).sort((a, b) => a - b);
    results[name] = Math.round(runs[Math.floor(runs.length / 2)]!);
  }
  if (argv.includes("--json")) {
    process.stdout.write(
      JSON.stringify({ bodyBytes: payloads[0]!.length, messagesPerSecond: results }, null, 2) + "\n",
    );
    return;
  }
  process.stdout.write(`pipeline core: map (3 fields) → filter → 2 sinks, ${payloads[0]!.length}-byte JSON bodies\n`);
  for (const [name, rate] of Object.entries(results))
    process.stdout.write(`  ${name.padEnd(24)} ${rate.toLocaleString("en")} msg/s\n`);
}

main();
