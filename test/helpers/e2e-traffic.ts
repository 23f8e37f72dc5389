/**
 * Traffic of the data-plane end-to-end tests: a recording HTTP receiver on loopback (the sinks' outside service:
 * every request with its path, Idempotency-Key, body and arrival time, answered per path by a rule the test sets),
 * and a webhook sender that posts N signed or unsigned webhooks to the gateway at a steady rate (open loop, each
 * with its own delivery id, retried like a real sender on a 5xx or a network error).
 */
import { createHash, createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Agent, request } from "undici";

/** One request the receiver got. */
export interface Hit {
  path: string;
  /** The Idempotency-Key header (the message id). */
  key: string | undefined;
  /** performance.now() when the request had arrived whole. */
  at: number;
  body: Buffer;
  contentType: string | undefined;
  /** What the receiver answered. */
  status: number;
}

/** The status to answer a request with; `nth` counts the requests of that path, from 1. */
export type Rule = (hit: Omit<Hit, "status">, nth: number) => number;

/** `sha256=<hex>` of the body under the secret: the gateway's default webhook signature. */
export function sign(body: string | Buffer, secret: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export function sha256(b: string | Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/** An HTTP server on 127.0.0.1, port 0, recording every request; 200 unless a rule for the path says otherwise. */
export class RecordingReceiver {
  readonly hits: Hit[] = [];
  private readonly rules = new Map<string, Rule>();
  private readonly delays = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  /** Answers requests to `path` by `rule` from now on. */
  respond(path: string, rule: Rule): this {
    this.rules.set(path, rule);
    return this;
  }

  /**
   * Answers requests to `path` only `ms` after they arrived (a slow receiver: more messages in flight). A request
   * counts as received when it arrived, answered or not.
   */
  delay(path: string, ms: number): this {
    this.delays.set(path, ms);
    return this;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        const nth = (this.counts.get(path) ?? 0) + 1;
        this.counts.set(path, nth);
        const key = req.headers["idempotency-key"];
        const hit = {
          path,
          key: typeof key === "string" ? key : undefined,
          at: performance.now(),
          body: Buffer.concat(chunks),
          contentType: req.headers["content-type"],
        };
        const status = this.rules.get(path)?.(hit, nth) ?? 200;
        this.hits.push({ ...hit, status });
        const answer = () =>
          res
            .writeHead(status, { "content-type": "application/json" })
            .end(status < 300 ? '{"ok":true}' : '{"ok":false}');
        const ms = this.delays.get(path) ?? 0;
        if (ms > 0) setTimeout(answer, ms);
        else answer();
        for (const l of [...this.listeners]) l();
      });
    });
    server.keepAliveTimeout = 30_000;
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}${path}`;
  }

  /** The requests to `path`. */
  of(path: string): Hit[] {
    return this.hits.filter((h) => h.path === path);
  }

  /** Idempotency-Key → how many times it was received and answered 2xx, for `path`. */
  delivered(path: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const h of this.hits)
      if (h.path === path && h.key !== undefined && h.status < 300) out.set(h.key, (out.get(h.key) ?? 0) + 1);
    return out;
  }

  /**
   * Resolves with the first value of `check` that is not undefined or false, checked now and after every request
   * (an event, not a poll); rejects after `timeoutMs` with `describe`.
   */
  until<R>(check: () => R | undefined | false, timeoutMs: number, describe: string | (() => string)): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms: ${typeof describe === "string" ? describe : describe()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.listeners.delete(test);
      };
      const test = () => {
        let r: R | undefined | false;
        try {
          r = check();
        } catch (e) {
          finish();
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        if (r !== undefined && r !== false) {
          finish();
          resolve(r);
        }
      };
      this.listeners.add(test);
      test();
    });
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}

export interface LoadOptions {
  /** The webhook's URL at the gateway. */
  url: string;
  count: number;
  /** Requests started per second. */
  rate: number;
  /** The delivery id (Idempotency-Key) of request `i`. */
  id: (i: number) => string;
  body?: (i: number) => string;
  /** Extra headers of request `i` (e.g. a signature over its body). */
  headers?: (i: number, body: string) => Record<string, string>;
  /** Requests in flight at most (default 64). */
  maxInFlight?: number;
}

/** Sends `count` webhooks at `rate` per second; `done` resolves when every one has its final answer. */
export class WebhookLoad {
  /** Delivery id → performance.now() when the gateway accepted it (2xx). */
  readonly accepted = new Map<string, number>();
  /** Delivery id → performance.now() when it was first sent. */
  readonly sentAt = new Map<string, number>();
  /** Requests that had no 2xx after their retries. */
  readonly failures: Array<{ id: string; why: string }> = [];
  /** Answers that were not 2xx, retried or not, by status (or error name). */
  readonly answers = new Map<string, number>();
  readonly done: Promise<void>;
  private readonly listeners = new Set<() => void>();
  private stopped = false;

  constructor(private readonly o: LoadOptions) {
    this.done = this.run();
  }

  /** Stops starting new requests (those in flight finish). */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves once `n` webhooks were accepted. */
  whenAccepted(n: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const test = () => {
        if (this.accepted.size >= n) {
          this.listeners.delete(test);
          resolve();
        }
      };
      this.listeners.add(test);
      void this.done.then(() => {
        if (this.accepted.size < n) {
          this.listeners.delete(test);
          reject(new Error(`only ${this.accepted.size} of ${n} accepted; failures: ${this.describeFailures()}`));
        }
      });
      test();
    });
  }

  describeFailures(): string {
    return `${this.failures.length} (${JSON.stringify(this.failures.slice(0, 3))}); answers ${JSON.stringify([...this.answers])}`;
  }

  private async run(): Promise<void> {
    const agent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });
    const max = this.o.maxInFlight ?? 64;
    const inFlight = new Set<Promise<void>>();
    const t0 = performance.now();
    try {
      for (let i = 0; i < this.o.count && !this.stopped; i++) {
        const wait = t0 + (i * 1000) / this.o.rate - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        while (inFlight.size >= max) await Promise.race(inFlight);
        const p: Promise<void> = this.send(agent, i).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await Promise.all(inFlight);
    } finally {
      await agent.close();
    }
  }

  /** One webhook, retried (same id) on a 5xx or a network error, as a sender would. */
  private async send(agent: Agent, i: number): Promise<void> {
    const id = this.o.id(i);
    const body = this.o.body?.(i) ?? JSON.stringify({ n: i, id });
    const headers = {
      "content-type": "application/json",
      "idempotency-key": id,
      ...(this.o.headers?.(i, body) ?? {}),
    };
    this.sentAt.set(id, performance.now());
    let why = "";
    for (let attempt = 1; attempt <= 8; attempt++) {
      try {
        const r = await request(this.o.url, { method: "POST", headers, body, dispatcher: agent });
        await r.body.dump();
        if (r.statusCode < 300) {
          this.accepted.set(id, performance.now());
          for (const l of [...this.listeners]) l();
          return;
        }
        why = `status ${r.statusCode}`;
        this.answers.set(why, (this.answers.get(why) ?? 0) + 1);
        if (r.statusCode < 500) break;
      } catch (e) {
        why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        this.answers.set(why, (this.answers.get(why) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
    this.failures.push({ id, why });
  }
}

/** Figures of a run: ids accepted but never delivered, and deliveries beyond the first per id. */
export function lossAndDuplicates(
  accepted: Iterable<string>,
  delivered: Map<string, number>,
): { lost: string[]; duplicates: number; duplicated: number } {
  const lost = [...accepted].filter((id) => !delivered.has(id));
  let duplicates = 0;
  let duplicated = 0;
  for (const n of delivered.values()) {
    duplicates += n - 1;
    if (n > 1) duplicated++;
  }
  return { lost, duplicates, duplicated };
}
