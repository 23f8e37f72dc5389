/**
 * A recording HTTP server on loopback that stands in for an outside service of the demos (Slack's incoming
 * webhook, a CRM's API): it keeps every request it gets, answers 200 (`{"ok":true}`), or the next status of
 * `failNext` (e.g. 503 twice), and lets the demo wait for a request.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  at: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** What the stand-in answered. */
  status: number;
}

const MAX_BODY = 1 << 20;

export class StandIn {
  readonly requests: Received[] = [];
  private failures: number[] = [];
  private waiters: Array<() => void> = [];
  private server?: Server;
  url = "";

  constructor(readonly name: string) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on("end", () => {
        const status = this.failures.shift() ?? 200;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
        this.requests.push({
          at: Date.now(),
          method: req.method ?? "",
          path: req.url ?? "/",
          headers,
          body: Buffer.concat(chunks).toString("utf8"),
          status,
        });
        res
          .writeHead(status, { "content-type": "application/json" })
          .end(status === 200 ? '{"ok":true}' : '{"ok":false,"error":"unavailable"}');
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next requests are answered with these statuses, in order (then 200 again). */
  failNext(...statuses: number[]): void {
    this.failures.push(...statuses);
  }

  /** Resolves with the first request (from now on or before) that `pred` accepts, or rejects after `timeoutMs`. */
  async waitFor(pred: (r: Received) => boolean, timeoutMs: number, what: string): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.requests.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: ${what} did not arrive within ${timeoutMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((r) => {
      s.closeAllConnections();
      s.close(() => r());
    });
  }
}
