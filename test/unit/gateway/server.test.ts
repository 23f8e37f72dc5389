import { expect } from "chai";
import { SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { IngestError } from "../../../engine/dataplane/ingest.js";
import type { IngestEnvelope } from "../../../engine/dataplane/wire.js";
import { GatewayMetrics } from "../../../engine/gateway/metrics.js";
import type { HttpRoute } from "../../../engine/gateway/route.js";
import type { RouteTable } from "../../../engine/gateway/routes.js";
import { buildServer, NOT_FOUND_BODY } from "../../../engine/gateway/server.js";
import { SignatureVerifier } from "../../../engine/gateway/signature.js";
import type { Writers } from "../../../engine/gateway/writers.js";
import type { SecretSource } from "../../../engine/secrets/sources.js";
import { createTelemetry } from "../../../engine/telemetry/telemetry.js";
import { startTracing } from "../../../engine/telemetry/tracing.js";

/** The HTTP answers of the gateway's server with the NATS side replaced by a writer that does what a test says. */
describe("gateway: HTTP answers (server without NATS)", () => {
  const route: HttpRoute = {
    key: "acme.orders",
    tenant: "acme",
    integration: "orders",
    path: "/orders",
    methods: ["POST"],
    maxBodyBytes: 1000,
    responseStatus: 202,
    revision: "r",
    seq: 1,
  };
  let outcome: () => Promise<{ seq: number; duplicate: boolean }>;
  let written: IngestEnvelope[];
  let ready: boolean;
  let loaded: boolean;
  let logs: Array<Record<string, unknown>>;
  let app: FastifyInstance;
  let telemetry: ReturnType<typeof createTelemetry>;
  const secrets: SecretSource = {
    configured: false,
    resolve: () => Promise.reject(new Error("none")),
    has: () => Promise.resolve(false),
  };

  beforeEach(async () => {
    telemetry = createTelemetry({ version: "test", processMetrics: false });
    written = [];
    ready = true;
    loaded = true;
    logs = [];
    outcome = () => Promise.resolve({ seq: 1, duplicate: false });
    const writer = {
      inlineLimit: () => 1_000_000,
      write: (e: IngestEnvelope) => {
        written.push(e);
        return outcome();
      },
    };
    const table = {
      find: (t: string, p: string) => (t === "acme" && p === "/orders" ? route : undefined),
      payloadLimit: () => undefined,
    };
    app = buildServer({
      routes: () => (loaded ? (table as unknown as RouteTable) : undefined),
      ready: () => ready,
      closing: () => false,
      writers: { get: () => Promise.resolve(writer) } as unknown as Writers,
      verifier: new SignatureVerifier(secrets),
      metrics: new GatewayMetrics(telemetry.meter, { ready: () => ready, routes: () => 1 }),
      scrape: () => telemetry.scrape(),
      maxBodyBytes: 64 * 1024 * 1024,
      log: (event, fields) => void logs.push({ event, ...fields }),
    });
    await app.ready();
  });
  afterEach(() => app.close());

  const post = (o: { payload?: string | Readable; headers?: Record<string, string> } = {}) =>
    app.inject({
      method: "POST",
      url: "/t/acme/orders",
      headers: { "content-type": "application/json", ...o.headers },
      payload: o.payload ?? "{}",
    });

  it("answers the route's status with the message id once the write is acknowledged", async () => {
    const r = await post({ headers: { "idempotency-key": "abc" } });
    expect(r.statusCode).to.equal(202);
    expect(r.json()).to.deep.equal({ id: "abc", duplicate: false });
    expect(written[0]!.attributes).to.include({ source: "http", path: "/orders", method: "POST" });
  });

  it("maps write failures: full 429, unavailable 503, anything else 500, never with a stack trace", async () => {
    outcome = () => Promise.reject(new IngestError("full", "maximum bytes exceeded"));
    const full = await post();
    expect(full.statusCode).to.equal(429);
    expect(full.headers["retry-after"]).to.equal("30");
    outcome = () => Promise.reject(new IngestError("unavailable", "timeout"));
    expect((await post()).statusCode).to.equal(503);
    outcome = () => Promise.reject(new TypeError("x is not a function"));
    const bug = await post();
    expect(bug.statusCode).to.equal(500);
    expect(bug.body).to.equal('{"error":"the webhook could not be stored"}');
    expect(logs.map((l) => l.event)).to.include("ingest-failed");
  });

  it("an unexpected failure answers 500 without a stack trace, logged with the webhook's span (still open), which fails", async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ service: "test", exporter });
    const failing = buildServer({
      routes: () => ({ find: () => route, payloadLimit: () => undefined }) as unknown as RouteTable,
      ready: () => true,
      closing: () => false,
      writers: { get: () => Promise.reject(new Error("unused")) } as unknown as Writers,
      verifier: {
        verify: () => Promise.reject(new TypeError("cannot read 'x' of undefined")),
      } as unknown as SignatureVerifier,
      metrics: new GatewayMetrics(telemetry.meter, { ready: () => true, routes: () => 1 }),
      scrape: () => telemetry.scrape(),
      maxBodyBytes: 1024,
      log: (event, fields) => void logs.push({ event, ...fields }),
      tracer: tracing.tracer,
    });
    try {
      const r = await failing.inject({
        method: "POST",
        url: "/t/acme/orders",
        headers: { "content-type": "application/json" },
        payload: "{}",
      });
      expect(r.statusCode).to.equal(500);
      expect(r.body).to.equal('{"error":"internal error"}');
      const [span] = exporter.getFinishedSpans();
      expect(span?.name).to.equal("vrsky.gateway.webhook");
      expect(span!.status.code).to.equal(SpanStatusCode.ERROR);
      expect(span!.attributes["http.response.status_code"]).to.equal(500);
      const line = logs.find((l) => l.event === "request-failed");
      expect(line).to.include({ trace_id: span!.spanContext().traceId, span_id: span!.spanContext().spanId });
      expect(String(line!.error)).to.include("cannot read");
    } finally {
      await failing.close();
      await tracing.shutdown();
    }
  });

  it("refuses a body over the limit from Content-Length without reading it, and while streaming otherwise", async () => {
    let pulled = 0;
    const endless = new Readable({
      read() {
        pulled++;
        this.push(Buffer.alloc(100, 97));
      },
    });
    const declared = await app.inject({
      method: "POST",
      url: "/t/acme/orders",
      headers: { "content-type": "text/plain", "content-length": "5000" },
      payload: endless,
    });
    expect(declared.statusCode).to.equal(413);
    expect(declared.headers.connection).to.equal("close");
    expect(written).to.have.length(0);
    const before = pulled;
    const chunked = new Readable({
      read() {
        pulled++;
        this.push(pulled - before > 1000 ? null : Buffer.alloc(100, 97));
      },
    });
    const streamed = await app.inject({
      method: "POST",
      url: "/t/acme/orders",
      headers: { "content-type": "text/plain", "transfer-encoding": "chunked" },
      payload: chunked,
    });
    expect(streamed.statusCode).to.equal(413);
    // What was pulled beyond the limit is the test stream's own read-ahead (16 KiB), not the gateway's.
    expect(pulled - before, "stopped reading after the limit: not the whole 100 000 bytes").to.be.below(500);
    expect(written).to.have.length(0);
  });

  it("answers 503 until the routes are loaded, and the same 404 to every unknown route", async () => {
    loaded = false;
    const r = await post();
    expect(r.statusCode).to.equal(503);
    expect(r.headers["retry-after"]).to.equal("1");
    expect((await app.inject({ method: "GET", url: "/readyz" })).statusCode).to.equal(200);
    ready = false;
    expect((await app.inject({ method: "GET", url: "/readyz" })).statusCode).to.equal(503);
    loaded = true;
    expect((await post()).statusCode, "served from the loaded routes while not ready").to.equal(202);
    for (const url of ["/t/other/orders", "/t/acme/other", "/nowhere", "/t/x"]) {
      const a = await app.inject({
        method: "POST",
        url,
        payload: "{}",
        headers: { "content-type": "application/json" },
      });
      expect(a.statusCode, url).to.equal(404);
      expect(a.body).to.equal(NOT_FOUND_BODY);
    }
  });
});
