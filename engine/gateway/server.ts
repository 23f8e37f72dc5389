/**
 * The gateway's HTTP server (fastify): webhooks at `/t/<tenant>/<path>`, persisted into the route's ingest stream
 * and answered only once JetStream acknowledged them, plus `/healthz`, `/readyz` and `/metrics`. Every check that
 * needs no body (route, method, content type, Content-Length) runs before the body is read; the body is read up to
 * the route's limit and never further. Answers are small JSON objects, never a stack trace; an unknown route gets
 * the same 404 whether the tenant exists or not.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { SpanKind, trace, type Span, type Tracer } from "@opentelemetry/api";
import { childSpan, endSpan, logInSpan, remoteParent, traceHeadersOf } from "../telemetry/tracing.js";
import { errorMessage } from "../errors/errors.js";
import { IngestError } from "../dataplane/ingest.js";
import type { GatewayMetrics, RejectReason } from "./metrics.js";
import { METRICS_CONTENT_TYPE } from "../telemetry/telemetry.js";
import {
  BodyAborted,
  BodyTooLarge,
  bodyProblem,
  contentProblem,
  DEFAULT_CONTENT_TYPE,
  deliveryId,
  readLimited,
  storedHeaders,
} from "./request.js";
import { splitUrl, type HttpRoute } from "./route.js";
import type { Log, RouteTable } from "./routes.js";
import type { SignatureVerifier } from "./signature.js";
import type { Writers } from "./writers.js";

export interface ServerDeps {
  /**
   * The route table once it is loaded. Webhooks are served from it from then on, also while the platform
   * connection is away (the routes are then the last ones seen); before, every webhook is answered 503.
   */
  routes: () => RouteTable | undefined;
  /** What `/readyz` answers. */
  ready: () => boolean;
  /** The gateway is shutting down: answers close their connections, so the drain ends with the last one. */
  closing: () => boolean;
  writers: Writers;
  verifier: SignatureVerifier;
  metrics: GatewayMetrics;
  /** Every series of the process (the gateway's and any other component's sharing its Telemetry), for /metrics. */
  scrape: () => Promise<string>;
  /** The largest body any route may take, whatever its `maxBodyBytes` says. */
  maxBodyBytes: number;
  log: Log;
  /** Spans of webhooks (engine/telemetry/tracing.ts); none: no spans. */
  tracer?: Tracer;
}

const NOOP_TRACER = trace.getTracer("vrsky");

/** The one answer to a request for a route that does not exist, whoever asks (identical bytes every time). */
export const NOT_FOUND_BODY = '{"error":"not found"}';

const JSON_TYPE = "application/json; charset=utf-8";
const REQUEST_TIMEOUT_MS = 120_000;

interface Ctx {
  route: HttpRoute;
  receivedAt: string;
}

export function buildServer(d: ServerDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    return503OnClosing: true,
    // A request must arrive whole within this (Node answers 408): a sender trickling bytes cannot hold a socket.
    requestTimeout: REQUEST_TIMEOUT_MS,
    routerOptions: { maxParamLength: 2048 },
  });
  const contexts = new WeakMap<IncomingMessage, Ctx>();
  const throttle = new LogThrottle(d.log);

  const answer = (reply: FastifyReply, status: number, body: string, reason?: RejectReason): FastifyReply => {
    if (reason) d.metrics.reject(reason);
    return reply.code(status).header("content-type", JSON_TYPE).send(body);
  };
  const reject = (reply: FastifyReply, status: number, reason: RejectReason, message: string) =>
    answer(reply, status, JSON.stringify({ error: message }), reason);
  const notFound = (reply: FastifyReply) => answer(reply, 404, NOT_FOUND_BODY, "not_found");

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (req, payload, done) => {
    const ctx = contexts.get(req.raw);
    if (!ctx) return done(null, undefined); // not a webhook: nothing reads it
    readLimited(payload, Math.min(ctx.route.maxBodyBytes, d.maxBodyBytes)).then(
      (body) => done(null, body),
      (e: Error) => done(e, undefined),
    );
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    if (err instanceof BodyTooLarge || err.code === "FST_ERR_CTP_BODY_TOO_LARGE")
      return reject(reply.header("connection", "close"), 413, "too_large", err.message);
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
      return reject(reply, 415, "unsupported_type", "the Content-Type header cannot be read");
    if (err instanceof BodyAborted) return reject(reply, 400, "bad_body", err.message);
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return reject(reply, status, "bad_body", "the request cannot be read");
    d.log("request-failed", { url: safeUrl(req.url), error: errorMessage(err) });
    return reject(reply, 500, "failed", "internal error");
  });
  app.setNotFoundHandler((_req, reply) => notFound(reply));

  app.addHook("onSend", (_req, reply, payload, done) => {
    if (d.closing()) reply.header("connection", "close");
    done(null, payload);
  });
  app.addHook("onResponse", (req, reply, done) => {
    if (req.url.startsWith("/t/")) d.metrics.answered(reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  app.get("/healthz", (_req, reply) => reply.type("text/plain").send("ok\n"));
  app.get("/readyz", (_req, reply) => {
    const ready = d.ready();
    return reply
      .code(ready ? 200 : 503)
      .type("text/plain")
      .send(ready ? "ready\n" : "not ready\n");
  });
  app.get("/metrics", async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await d.scrape()));

  /** Every check that needs no body; a rejection answers before the body is read. */
  const onRequest = async (req: FastifyRequest, reply: FastifyReply) => {
    d.metrics.handling(1);
    reply.raw.once("close", () => d.metrics.handling(-1));
    const table = d.routes();
    if (!table) {
      reply.header("retry-after", "1");
      return reject(reply, 503, "not_ready", "the gateway is starting");
    }
    const at = splitUrl(req.url);
    const route = at && table.find(at.tenant, at.path);
    if (!route) return notFound(reply);
    if (!route.methods.includes(req.method)) {
      reply.header("allow", route.methods.join(", "));
      return reject(reply, 405, "method", `method ${req.method} is not allowed here`);
    }
    const problem = contentProblem(req.headers["content-type"], req.headers["content-encoding"]);
    if (problem) return reject(reply, 415, "unsupported_type", problem);
    const limit = Math.min(route.maxBodyBytes, d.maxBodyBytes);
    const length = Number(req.headers["content-length"]);
    if (Number.isFinite(length) && length > limit)
      return reject(reply.header("connection", "close"), 413, "too_large", `the body is larger than ${limit} bytes`);
    contexts.set(req.raw, { route, receivedAt: new Date().toISOString() });
    return undefined;
  };

  app.all("/t/*", { onRequest }, async (req, reply) => {
    const ctx = contexts.get(req.raw);
    if (!ctx) return notFound(reply);
    // A span per webhook (a child of the sender's `traceparent`, when it sends one); the stored message carries it.
    const span = childSpan(
      d.tracer ?? NOOP_TRACER,
      "vrsky.gateway.webhook",
      remoteParent({ traceparent: one(req.headers.traceparent), tracestate: one(req.headers.tracestate) }),
      {
        "vrsky.tenant": ctx.route.tenant,
        "vrsky.integration": ctx.route.integration,
        "http.request.method": req.method,
      },
      SpanKind.SERVER,
    );
    let failure: unknown;
    try {
      return await webhook(ctx, req, reply, span);
    } catch (e) {
      // Answered here, not by the error handler: the line carries the request's span, which is still open.
      failure = e;
      logInSpan(d.log, span)("request-failed", { url: safeUrl(req.url), error: errorMessage(e) });
      return reject(reply, 500, "failed", "internal error");
    } finally {
      span.setAttribute("http.response.status_code", reply.statusCode);
      endSpan(span, failure ?? (reply.statusCode >= 500 ? `answered ${reply.statusCode}` : undefined));
    }
  });

  const webhook = async (ctx: Ctx, req: FastifyRequest, reply: FastifyReply, span: Span) => {
    const { route } = ctx;
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);

    const verdict = await d.verifier.verify(route, req.headers, body);
    if (!verdict.ok && verdict.why === "secret") {
      throttle.note(`secret ${route.tenant} ${route.signature!.secretRef}`, "secret-unavailable", {
        tenant: route.tenant,
        integration: route.integration,
        secret: route.signature!.secretRef,
        code: verdict.code,
        error: verdict.message,
      });
      reply.header("retry-after", "10");
      return reject(reply, 503, "secret_unavailable", "the webhook cannot be verified now");
    }
    if (!verdict.ok) return reject(reply, 401, "signature", "unauthorized");

    const contentType = req.headers["content-type"] ?? DEFAULT_CONTENT_TYPE;
    const problem = bodyProblem(body, contentType);
    if (problem) return reject(reply, 400, "bad_body", problem);
    const delivery = deliveryId(req.headers, route);
    if (delivery && "error" in delivery) return reject(reply, 400, "bad_delivery_id", delivery.error);
    const id = delivery?.id ?? randomUUID();

    try {
      const writer = await d.writers.get(route, d.routes()?.payloadLimit(route.tenant));
      const large = body.length > writer.inlineLimit();
      const r = await writer.write({
        id,
        contentType,
        headers: storedHeaders(req.headers, route),
        attributes: { source: "http", receivedAt: ctx.receivedAt, path: route.path, method: req.method },
        body,
        trace: traceHeadersOf(span),
      });
      span.setAttributes({ "vrsky.message.id": id, "vrsky.duplicate": r.duplicate });
      if (r.duplicate) d.metrics.duplicates.add(1);
      else {
        d.metrics.stored.add(1);
        d.metrics.bytes.add(body.length);
        if (large) d.metrics.largeBodies.add(1);
      }
      return answer(reply, route.responseStatus, JSON.stringify({ id, duplicate: r.duplicate }));
    } catch (e) {
      const err = e instanceof IngestError ? e : new IngestError("failed", errorMessage(e));
      throttle.note(`ingest ${route.key} ${err.kind}`, "ingest-failed", {
        tenant: route.tenant,
        integration: route.integration,
        kind: err.kind,
        error: err.message,
      });
      if (err.kind === "full") {
        reply.header("retry-after", "30");
        return reject(reply, 429, "full", "the integration's stream is full; retry later");
      }
      if (err.kind === "unavailable") {
        reply.header("retry-after", "5");
        return reject(reply, 503, "unavailable", "the webhook cannot be stored now; retry later");
      }
      return reject(reply, 500, "failed", "the webhook could not be stored");
    }
  };
  return app;
}

/** One value of a request header (the first, when it came more than once). */
function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The URL without its query string (which may hold a sender's token), for a log line. */
function safeUrl(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** At most one log line per key every `everyMs`, with how many were left out in between. */
class LogThrottle {
  private readonly last = new Map<string, { at: number; skipped: number }>();
  constructor(
    private readonly log: Log,
    private readonly everyMs = 5_000,
  ) {}

  note(key: string, event: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    const l = this.last.get(key);
    if (l && now - l.at < this.everyMs) {
      l.skipped++;
      return;
    }
    this.last.set(key, { at: now, skipped: 0 });
    if (this.last.size > 10_000) this.last.delete(this.last.keys().next().value!);
    this.log(event, l?.skipped ? { ...fields, skipped: l.skipped } : fields);
  }
}
