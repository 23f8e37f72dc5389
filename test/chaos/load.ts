/**
 * Steady webhook load of the chaos run: signed webhooks posted through the gateway at a fixed rate (open loop),
 * round-robin over the integrations of several tenants, each with an Idempotency-Key of its own that the worker
 * passes on to the stand-in receiver. A sender retries like a real one (5xx, 429, a network error or a timeout:
 * again after 250 ms, with the same key) until it is accepted (202) or gives up. The ledger counts, per key, the
 * gateway's acceptance and the receiver's deliveries: lost = accepted and never delivered, duplicates =
 * deliveries beyond the first.
 */
import { Agent, request } from "undici";
import { sign } from "../helpers/e2e-traffic.js";

/** One integration the load posts to: `<gateway>/t/<tenant><path>`, delivered to `/<tenant>/<integration>`. */
export interface Target {
  tenant: string;
  integration: string;
  path: string;
  secret: string;
}

interface Sent {
  target: Target;
  sentAt: number;
  accepted?: number;
  refused?: string;
  deliveries: number;
  firstDeliveryAt?: number;
}

export interface LoadCounts {
  sent: number;
  accepted: number;
  /** Given up by the sender (never accepted): not lost, the sender knows. */
  refused: number;
  delivered: number;
  lost: number;
  duplicates: number;
}

export class WebhookLoad {
  private readonly agent = new Agent({ connections: 16, pipelining: 0, headersTimeout: 10_000, bodyTimeout: 10_000 });
  private readonly sent = new Map<string, Sent>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly listeners = new Set<() => void>();
  private timer?: NodeJS.Timeout;
  private n = 0;
  /** Deliveries of keys this load did not send (another run's, or a bad key): reported, never expected. */
  unknownDeliveries = 0;

  constructor(
    private readonly o: {
      gateway: string;
      targets: Target[];
      perSecond: number;
      /** How long a sender keeps retrying one message. */
      giveUpMs: number;
      run: string;
    },
  ) {}

  /** Starts posting `perSecond` webhooks a second; keys are `<run>-<label>-<n>`. */
  start(label: string): void {
    this.stopSending();
    this.timer = setInterval(() => this.sendOne(label), 1000 / this.o.perSecond);
  }

  /** Stops posting new webhooks and waits for the senders in flight to be accepted or give up. */
  async stop(): Promise<void> {
    this.stopSending();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private stopSending(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sendOne(label: string): void {
    const n = this.n++;
    const target = this.o.targets[n % this.o.targets.length]!;
    const key = `${this.o.run}-${label}-${n}`;
    const s: Sent = { target, sentAt: Date.now(), deliveries: 0 };
    this.sent.set(key, s);
    const p = this.post(key, s, n).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async post(key: string, s: Sent, n: number): Promise<void> {
    const body = JSON.stringify({ order: { id: n, total: 100 + (n % 50), key } });
    const headers = {
      "content-type": "application/json",
      "idempotency-key": key,
      "x-signature-256": sign(body, s.target.secret),
    };
    const url = `${this.o.gateway}/t/${s.target.tenant}${s.target.path}`;
    let why = "";
    while (Date.now() - s.sentAt < this.o.giveUpMs) {
      try {
        const r = await request(url, { method: "POST", headers, body, dispatcher: this.agent });
        const text = await r.body.text();
        if (r.statusCode >= 200 && r.statusCode < 300) {
          s.accepted = Date.now();
          return;
        }
        why = `${r.statusCode} ${text.slice(0, 120)}`;
        if (r.statusCode < 500 && r.statusCode !== 429) break;
      } catch (e) {
        why = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    s.refused = why || "gave up";
  }

  /** A delivery the stand-in receiver reported (its path `/<tenant>/<integration>` and the key). */
  delivered(path: string, key: string): void {
    const s = this.sent.get(key);
    if (!s || path !== `/${s.target.tenant}/${s.target.integration}`) {
      this.unknownDeliveries++;
      return;
    }
    s.deliveries++;
    s.firstDeliveryAt ??= Date.now();
    for (const l of [...this.listeners]) l();
  }

  /** The targets that have not had a webhook sent at `since` or later delivered (`tenant/integration`). */
  stalledSince(since: number): string[] {
    const flowing = new Set<Target>();
    for (const s of this.sent.values()) if (s.sentAt >= since && s.deliveries > 0) flowing.add(s.target);
    return this.o.targets.filter((t) => !flowing.has(t)).map((t) => `${t.tenant}/${t.integration}`);
  }

  /** Resolves on the next delivery (or after `ms`). */
  nextDelivery(ms: number): Promise<void> {
    return new Promise((r) => {
      const l = () => done();
      const timer = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(l);
        r();
      };
      this.listeners.add(l);
    });
  }

  private of(label: string): Sent[] {
    const prefix = `${this.o.run}-${label}-`;
    return [...this.sent].filter(([k]) => k.startsWith(prefix)).map(([, s]) => s);
  }

  /** Waits (up to `ms`) until every accepted webhook of `label` was delivered. */
  async drained(label: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && this.of(label).some((s) => s.accepted && s.deliveries === 0))
      await this.nextDelivery(Math.min(1_000, deadline - Date.now()));
  }

  counts(label: string): LoadCounts {
    const all = this.of(label);
    const accepted = all.filter((s) => s.accepted !== undefined);
    return {
      sent: all.length,
      accepted: accepted.length,
      refused: all.filter((s) => s.refused !== undefined).length,
      delivered: all.filter((s) => s.deliveries > 0).length,
      lost: accepted.filter((s) => s.deliveries === 0).length,
      duplicates: all.reduce((n, s) => n + Math.max(0, s.deliveries - 1), 0),
    };
  }

  /** Why senders of `label` gave up, with how many each (for the report). */
  refusals(label: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.of(label)) if (s.refused) out.set(s.refused, (out.get(s.refused) ?? 0) + 1);
    return out;
  }

  async close(): Promise<void> {
    this.stopSending();
    await this.agent.close();
  }
}
