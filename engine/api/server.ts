/**
 * The status API's HTTP server (fastify): GET only, JSON with a schema per response, one body for every "not
 * found" and one for every "unauthorized" whatever the reason, a rate limit per key, and the OpenAPI document.
 * Order of a request: method (405) → who is asking (onRequest) → rate limit per key, or per address without one
 * (preValidation) → 401 (preHandler) → the handler. So a flood of wrong keys is limited too. Who is asking: the
 * `Authorization: Bearer` key, or without that header the status page's session cookie (page.ts).
 */
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { errorMessage } from "../errors/errors.js";
import { bearerKey, KeyRing, stillValid, type Principal } from "./auth.js";
import type { ApiMetrics } from "./metrics.js";
import { METRICS_CONTENT_TYPE } from "../telemetry/telemetry.js";
import { PAGE_POST_PATHS, registerStatusPage } from "./page.js";
import { registerResources } from "./routes.js";
import { sessionId, type Sessions } from "./sessions.js";
import { openEventStreams } from "./sse.js";
import { PageCache } from "./page-cache.js";
import { registerPlanAndHistory } from "./plan-and-history.js";
import type { PlanSource } from "./plan-source.js";
import type { RecentEvents } from "./recent-events.js";
import type { ChangeFeed } from "./events.js";
import { NOT_FOUND_BODY, problem, sendJson, UNAUTHORIZED_BODY } from "./replies.js";
import { StateUnavailable, type ApiModel, type Log } from "./state.js";

export interface ApiServerDeps {
  state: { get(): ApiModel };
  keys: KeyRing;
  feed: Pick<ChangeFeed, "subscribe">;
  metrics: ApiMetrics;
  /** The process's series (its Telemetry), as `/metrics` serves them. */
  scrape: () => Promise<string>;
  /** What `/readyz` answers: NATS connected and a state read succeeds. */
  ready: () => boolean;
  rateLimit: { max: number; timeWindowMs: number };
  /** Comment lines on an idle event stream, so proxies keep it open. */
  keepAliveMs: number;
  /** Event streams one key may hold open at once. */
  maxStreamsPerKey: number;
  /** The plan of the committed head; undefined without a repository (`/api/v1/plan` is 404). */
  plan: PlanSource | undefined;
  /** The last change events, for `/api/v1/events/recent`. */
  recent: RecentEvents;
  version: string;
  log: Log;
  /** The status page's sign-ins (`/login`), their lifetime, and how often the page reloads without JavaScript. */
  page: { sessions: Sessions; sessionTtlMs: number; refreshS: number };
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export async function buildApiServer(d: ApiServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  app.decorateRequest("principal", null);

  app.addHook("onRequest", async (req, reply) => {
    const path = req.url.split("?", 1)[0]!;
    if (req.method === "POST" && PAGE_POST_PATHS.has(path)) return undefined;
    if (req.method !== "GET") {
      reply.header("allow", PAGE_POST_PATHS.has(path) ? "GET, POST" : "GET");
      return problem(reply, 405, `method ${req.method} is not allowed: this API is read-only (GET)`);
    }
    return undefined;
  });
  app.addHook("onResponse", async (req, reply) => {
    d.metrics.answered(req.routeOptions.url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "VRSky status API",
        version: d.version,
        description: "Read-only: the sync state, tenants, integrations, workers and assignments (docs/api.md).",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(rateLimit, {
    hook: "preValidation",
    max: d.rateLimit.max,
    timeWindow: d.rateLimit.timeWindowMs,
    keyGenerator: (req: FastifyRequest) => (req.principal ? KeyRing.rateKey(req.principal) : `address:${req.ip}`),
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      error: `too many requests: at most ${ctx.max} per ${ctx.after}; retry after the Retry-After header's seconds`,
    }),
  });

  app.setNotFoundHandler((_req, reply) => sendJson(reply, 404, NOT_FOUND_BODY));
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    if (err.statusCode === 429) return problem(reply, 429, err.message || "too many requests");
    if (err instanceof StateUnavailable) {
      // Logged once per distinct reason by the state itself, not per request.
      reply.header("retry-after", "5");
      return problem(reply, 503, "the state cannot be read now; retry later");
    }
    if (err.validation) return problem(reply, 400, `bad request: ${err.message}`);
    // A body fastify refused (a sign-in form too large, of another type): the client's mistake.
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
      return problem(reply, err.statusCode, err.message);
    d.log("request-failed", { url: req.routeOptions.url, error: errorMessage(err) });
    return problem(reply, 500, "internal error");
  });

  const probe = { schema: { hide: true }, config: { rateLimit: false } } as const;
  app.get("/healthz", probe, (_req, reply) => reply.type("text/plain").send("ok\n"));
  app.get("/readyz", probe, async (_req, reply) => {
    const ready = d.ready();
    return reply
      .code(ready ? 200 : 503)
      .type("text/plain")
      .send(ready ? "ready\n" : "not ready\n");
  });
  app.get("/metrics", probe, async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await d.scrape()));
  app.get("/openapi.json", probe, () => app.swagger());

  /** The caller's principal from its key or session (null without a valid one); the key itself is never kept. */
  const authenticate = async (req: FastifyRequest) => {
    if (req.headers.authorization === undefined) {
      const id = sessionId(req.headers.cookie);
      const p = id === undefined ? undefined : d.page.sessions.principal(id);
      if (!p) return;
      // A session of a tenant key a commit removed ends for good (adding the key back does not revive it).
      if (p.kind === "admin" || stillValid(p, d.state.get().tenantKeys)) req.principal = p;
      else d.page.sessions.close(id!);
      return;
    }
    const key = bearerKey(req.headers.authorization);
    if (key === undefined) return;
    let p = d.keys.identify(key, () => undefined);
    if (!p) {
      const model = d.state.get();
      p = d.keys.identify(key, () => model.tenantKeys);
    }
    req.principal = p ?? null;
  };
  const requireKey = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.principal) return sendJson(reply, 401, UNAUTHORIZED_BODY);
    return undefined;
  };
  await app.register(async (api) => {
    api.addHook("onRequest", authenticate);
    api.addHook("preHandler", requireKey);
    registerResources(api, {
      state: d.state,
      pages: new PageCache(),
      onLookup: (result) => d.metrics.cacheLookup("page", result),
    });
    registerPlanAndHistory(api, d);
    openEventStreams(api, d);
  });
  await app.register(async (page) =>
    registerStatusPage(page, { state: d.state, keys: d.keys, authenticate, ...d.page }),
  );
  return app;
}
