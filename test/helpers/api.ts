/**
 * Test helpers of the status API: an HTTP client that keeps every response (to check them all against the
 * OpenAPI document and for secrets at the end of a file), a reader of server-sent events, and the checks.
 */
import { createHash } from "node:crypto";
import { Ajv2020 } from "ajv/dist/2020.js";
import { expect } from "chai";
import type { ApiOptions } from "../../engine/api/api.js";
import type { Change } from "../../engine/api/events.js";
import { parseListen } from "../../engine/util/listen-address.js";
import { tenantYaml } from "./manifests.js";
import { WORKER_FORMAT, type WorkerRecord } from "../../engine/contract/workers.js";

export interface Recorded {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  body: string;
}

/** The keys of the API tests: the admin key and the keys of tenants acme and beta (their sha256 in the manifests). */
export const ADMIN = "admin-key-0123456789abcdef";
export const ACME = "acme-key-for-the-status-api-1";
export const BETA = "beta-key-for-the-status-api-2";

/** A tenant manifest with one API key, committed as its sha256 (`keyName`: the key's name in spec.apiKeys). */
export function tenantWithKey(name: string, key: string, keyName = "ci"): string {
  return tenantYaml(name, `  apiKeys:\n    - name: ${keyName}\n      sha256: ${sha256Hex(key)}\n`);
}

/** `startApi`'s options for a test: loopback on a free port, the admin key, no rate limit worth meeting, no log. */
export function testApiOptions(nc: ApiOptions["nc"], o: Partial<ApiOptions> = {}): ApiOptions {
  return {
    nc,
    listen: parseListen("127.0.0.1:0"),
    adminKey: ADMIN,
    rateLimit: { max: 10_000, timeWindowMs: 60_000 },
    version: "0.0.0-test",
    log: () => undefined,
    debounceMs: 50,
    ...o,
  };
}

export function sha256Hex(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** A worker's record as a live worker registers it (for `vrsky-workers`), heartbeat now. */
export function workerRecord(
  id: string,
  session: string,
  labels: Record<string, string> = { zone: "a" },
): WorkerRecord {
  const now = new Date().toISOString();
  return {
    format: WORKER_FORMAT,
    id,
    session,
    capacity: 10,
    labels,
    state: "active",
    heartbeatMs: 1_000,
    expiryMs: 600_000,
    running: 0,
    startedAt: now,
    heartbeatAt: now,
    host: "host-a",
    pid: 4242,
    assignments: "by-worker",
  };
}

export class ApiClient {
  readonly responses: Recorded[] = [];
  constructor(readonly base: string) {}

  async request(method: string, path: string, key?: string, headers: Record<string, string> = {}): Promise<Recorded> {
    const res = await fetch(this.base + path, {
      method,
      headers: { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }), ...headers },
    });
    const r = { method, path, status: res.status, headers: res.headers, body: await res.text() };
    this.responses.push(r);
    return r;
  }

  get(path: string, key?: string): Promise<Recorded> {
    return this.request("GET", path, key);
  }

  /** GET a JSON resource that must answer 200. */
  async json<T>(path: string, key: string): Promise<T> {
    const r = await this.get(path, key);
    expect(r.status, `${path}: ${r.body}`).to.equal(200);
    return JSON.parse(r.body) as T;
  }
}

/** A server-sent event stream: events as they arrive, awaited by predicate. */
/** The data of one `change` event. */
export interface ChangeBatch {
  changes: Change[];
}

/** The parts of an OpenAPI document the checks read. */
export interface OpenApiDoc {
  openapi: string;
  paths: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, { schema?: object }> }> }>
  >;
}

export class EventStream {
  readonly events: Array<{ id?: string; event?: string; data: ChangeBatch }> = [];
  private readonly controller = new AbortController();
  private waiters: Array<() => void> = [];
  status = 0;
  contentType = "";
  /** The server ended the stream. */
  ended = false;
  raw = "";

  static async open(base: string, key: string): Promise<EventStream> {
    const s = new EventStream();
    const res = await fetch(`${base}/api/v1/events`, {
      headers: { authorization: `Bearer ${key}` },
      signal: s.controller.signal,
    });
    s.status = res.status;
    s.contentType = res.headers.get("content-type") ?? "";
    void s
      .read(res)
      .then(() => (s.ended = true))
      .catch(() => undefined);
    return s;
  }

  private async read(res: Response): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      this.raw += text;
      buf += text;
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const e: { id?: string; event?: string; data?: string } = {};
        for (const line of block.split("\n")) {
          const at = line.indexOf(":");
          if (at <= 0) continue;
          const [field, value] = [line.slice(0, at), line.slice(at + 1).trimStart()];
          if (field === "id" || field === "event" || field === "data") e[field] = value;
        }
        if (e.data !== undefined) this.events.push({ ...e, data: JSON.parse(e.data) as ChangeBatch });
      }
      for (const w of this.waiters.splice(0)) w();
    }
  }

  /** The first event (seen or to come) that satisfies `pred`. */
  async waitFor(pred: (data: ChangeBatch) => boolean, timeoutMs = 10_000): Promise<ChangeBatch> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => pred(e.data));
      if (hit) return hit.data;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no matching event within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  close(): void {
    this.controller.abort();
  }
}

/**
 * Validates every recorded JSON response against the schema of its route and status in the served OpenAPI
 * document; returns how many were checked. Responses of routes the document does not list (405 to another
 * method, 404 of an unknown path) are skipped.
 */
export function checkAgainstOpenApi(doc: OpenApiDoc, responses: readonly Recorded[]): number {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const routes = Object.entries(doc.paths).map(([template, item]) => ({
    re: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
    item,
  }));
  let checked = 0;
  for (const r of responses) {
    const path = r.path.split("?")[0]!;
    const op = routes.find((x) => x.re.test(path))?.item[r.method.toLowerCase()];
    if (!op) continue;
    const content = op.responses?.[String(r.status)]?.content;
    expect(content, `${r.method} ${r.path} answered ${r.status}, which the document does not list`).to.exist;
    const schema = content!["application/json"]?.schema;
    if (!schema) continue;
    const validate = ajv.compile(schema);
    const ok = validate(JSON.parse(r.body) as unknown);
    expect(
      ok,
      `${r.method} ${r.path} ${r.status}: ${ajv.errorsText(validate.errors)}\n${r.body.slice(0, 500)}`,
    ).to.equal(true);
    checked++;
  }
  return checked;
}

/** Fails when any response holds an nkey seed, a creds file, a private key or one of `secrets` (keys, sessions). */
export function checkNoSecrets(responses: readonly Recorded[], secrets: readonly string[]): void {
  for (const r of responses) {
    const where = `${r.method} ${r.path} (${r.status})`;
    expect(r.body, where).to.not.match(/\bS[UAO][A-Z2-7]{20,}/);
    expect(r.body, where).to.not.include("BEGIN NATS");
    expect(r.body, where).to.not.include("NKEY SEED");
    expect(r.body, where).to.not.include("PRIVATE KEY");
    for (const s of secrets) expect(r.body, `${where} holds a secret`).to.not.include(s);
    for (const [name, value] of r.headers) {
      expect(value, `${where} header ${name}`).to.not.match(/\bS[UAO][A-Z2-7]{20,}/);
      for (const s of secrets) expect(value, `${where} header ${name} holds a secret`).to.not.include(s);
    }
  }
}

/** The value of `vrsky_api_cache_lookups_total` for one cache and result, from `/metrics`. */
export async function cacheLookups(http: ApiClient, cache: string, result: string): Promise<number> {
  const text = (await http.get("/metrics")).body;
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("vrsky_api_cache_lookups_total{") &&
        l.includes(`cache="${cache}"`) &&
        l.includes(`result="${result}"`),
    );
  expect(line, `the ${cache} ${result} series`).to.be.a("string");
  return Number(line!.split(" ").pop());
}
