/**
 * Load for the data-plane benchmarks: a receiver that records when each message arrived (keyed by its
 * Idempotency-Key), and two HTTP load generators: closed-loop saturation (C requests always in flight) and
 * open-loop at a fixed offered rate (requests sent on schedule whatever the answers, so latency is not hidden by
 * coordinated omission). Send and receipt times come from one clock (this process).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";

export class Receiver {
  /** Idempotency-Key → receipt time (performance.now()). The first receipt; later ones count as duplicates. */
  readonly received = new Map<string, number>();
  duplicates = 0;
  private server: Server | undefined;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  /** Answer with this status (a failing receiver); default 200. */
  status = 200;
  url = "";

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const key = String(req.headers["idempotency-key"] ?? "");
      req.resume();
      req.on("end", () => {
        if (this.status === 200) {
          if (this.received.has(key)) this.duplicates++;
          else this.received.set(key, performance.now());
          this.wake();
        }
        res.statusCode = this.status;
        res.end();
      });
    });
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
    return this.url;
  }

  /** Resolves once `n` distinct messages arrived (rejects after `timeoutMs`). */
  until(n: number, timeoutMs: number): Promise<void> {
    if (this.received.size >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`receiver: ${this.received.size} of ${n} messages after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  reset(): void {
    this.received.clear();
    this.duplicates = 0;
  }

  private wake(): void {
    const size = this.received.size;
    this.waiters = this.waiters.filter((w) => (w.n <= size ? (w.resolve(), false) : true));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export interface Sent {
  /** Idempotency-Key of each accepted request → send time. */
  sent: Map<string, number>;
  /** Requests answered with something other than 2xx. */
  errors: number;
  /** Accepted requests per second over the sending window. */
  acceptedPerSec: number;
  /** Send → answer (ms) of each accepted request, sorted (the open-loop sender only). */
  answeredMs?: number[];
}

/** A webhook request body: a small order like the bundled example's. */
export function orderBody(n: number): string {
  return JSON.stringify({ order: { id: n, total: 150 + (n % 100), email: `c${n}@example.com` } });
}

export type SignFn = (body: string) => Record<string, string>;

/** Closed loop: `concurrency` requests always in flight for `seconds`. */
export async function saturate(
  url: string,
  o: { concurrency: number; seconds: number; prefix: string; sign?: SignFn },
): Promise<Sent> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: o.concurrency, pipelining: 1 });
  const sent = new Map<string, number>();
  let errors = 0;
  let n = 0;
  const end = performance.now() + o.seconds * 1000;
  const began = performance.now();
  const loop = async () => {
    while (performance.now() < end) {
      const key = `${o.prefix}-${n++}`;
      const body = orderBody(n);
      const t = performance.now();
      const r = await pool.request({
        method: "POST",
        path: target.pathname,
        headers: { "content-type": "application/json", "idempotency-key": key, ...(o.sign?.(body) ?? {}) },
        body,
      });
      await r.body.dump();
      if (r.statusCode >= 200 && r.statusCode < 300) sent.set(key, t);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, loop));
  const window = (performance.now() - began) / 1000;
  await pool.close();
  return { sent, errors, acceptedPerSec: sent.size / window };
}

/** Open loop: `rate` requests per second for `seconds`, each sent on schedule (in batches of 1 ms ticks). */
export async function offer(
  url: string,
  o: { rate: number; seconds: number; prefix: string; sign?: SignFn },
): Promise<Sent> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 128, pipelining: 1 });
  const sent = new Map<string, number>();
  const answeredMs: number[] = [];
  let errors = 0;
  const total = Math.round(o.rate * o.seconds);
  const began = performance.now();
  const pending: Promise<void>[] = [];
  let n = 0;
  while (n < total) {
    const due = began + (n * 1000) / o.rate;
    const wait = due - performance.now();
    // Always yield: a busy wait would starve the event loop that answers and receives.
    await new Promise((r) => (wait > 1 ? setTimeout(r, wait) : setImmediate(r)));
    // Send everything that is due now (timers are coarse): the schedule, not the timer, decides the rate.
    while (n < total && began + (n * 1000) / o.rate <= performance.now()) {
      const key = `${o.prefix}-${n}`;
      const body = orderBody(n++);
      const t = performance.now();
      pending.push(
        pool
          .request({
            method: "POST",
            path: target.pathname,
            headers: { "content-type": "application/json", "idempotency-key": key, ...(o.sign?.(body) ?? {}) },
            body,
          })
          .then(async (r) => {
            await r.body.dump();
            if (r.statusCode >= 200 && r.statusCode < 300) {
              sent.set(key, t);
              answeredMs.push(performance.now() - t);
            } else errors++;
          }),
      );
    }
  }
  await Promise.all(pending);
  const window = (performance.now() - began) / 1000;
  await pool.close();
  return { sent, errors, acceptedPerSec: sent.size / window, answeredMs: answeredMs.sort((a, b) => a - b) };
}

/** End-to-end latencies (ms) of the messages both sent and received. */
export function latencies(sent: Map<string, number>, receiver: Receiver): number[] {
  const out: number[] = [];
  for (const [key, t] of sent) {
    const r = receiver.received.get(key);
    if (r !== undefined) out.push(r - t);
  }
  return out.sort((a, b) => a - b);
}

export function pct(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
