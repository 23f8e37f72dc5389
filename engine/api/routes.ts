/**
 * The resource routes under /api/v1: each renders the shared read model for the caller (resources.ts). A 200 body
 * is serialized once per (read-model version, the caller's scope, path and query) and kept in the page cache: a
 * repeated GET between two changes sends the kept bytes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { paginate, pageProblem, type PageQuery } from "./pagination.js";
import { assignmentItems, integrationItems, syncBody, tenantItems, workerItems } from "./resources.js";
import {
  assignmentSchema,
  errorResponses,
  errorSchema,
  integrationParams,
  integrationSchema,
  integrationsQuery,
  pageQuery,
  pageSchema,
  syncSchema,
  tenantParams,
  tenantSchema,
  workerSchema,
} from "./schemas.js";
import { NOT_FOUND_BODY, problem, sendJson } from "./replies.js";
import type { PageCache } from "./page-cache.js";
import type { Principal } from "./auth.js";
import type { ApiModel } from "./state.js";

type Req<Q = unknown, P = unknown> = FastifyRequest<{ Querystring: Q; Params: P }>;

export interface ResourceDeps {
  state: { get(): ApiModel };
  pages: PageCache;
  /** Hears whether a 200 body came from the page cache (`hit`) or was serialized (`miss`). */
  onLookup?: (result: "hit" | "miss") => void;
}

/** What a body depends on besides the model: the admin's, or one tenant's (every key of a tenant sees the same). */
function scopeOf(p: Principal): string {
  return p.kind === "admin" ? "admin" : `tenant:${p.tenant}`;
}

export function registerResources(app: FastifyInstance, d: ResourceDeps): void {
  /**
   * A handler whose 200 body is kept per model version: `render` answers the body's object, or the reply when it
   * answered something else (a 400, 403, 404: never kept).
   */
  const cached =
    <R extends FastifyRequest>(render: (req: R, reply: FastifyReply, m: ApiModel) => unknown) =>
    async (req: R, reply: FastifyReply) => {
      const model = d.state.get();
      const key = `${scopeOf(req.principal!)} ${req.url}`;
      const kept = d.pages.get(model.version, key);
      if (kept !== undefined) {
        d.onLookup?.("hit");
        return sendJson(reply, 200, kept);
      }
      const out = render(req, reply, model);
      if (out === reply) return reply;
      d.onLookup?.("miss");
      const body = reply.serialize(out) as string;
      d.pages.set(model.version, key, body);
      return sendJson(reply, 200, body);
    };
  const schema = (summary: string, ok: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    schema: {
      summary,
      tags: ["status"],
      response: { 200: { ...ok, description: summary }, ...errorResponses },
      ...extra,
    },
  });
  /** The page `q` asks for, or a 400 when its cursor is not one of ours. */
  const page = <T>(reply: FastifyReply, items: T[], keyOf: (x: T) => string, q: PageQuery) => {
    const bad = pageProblem(q);
    return bad ? problem(reply, 400, `bad request: ${bad}`) : paginate(items, keyOf, q);
  };

  app.get(
    "/api/v1/sync",
    schema("The sync state: revisions, conditions, the last run and its errors", syncSchema),
    cached((req, _reply, m) => syncBody(m.index, req.principal!)),
  );

  app.get(
    "/api/v1/tenants",
    schema("The tenants the key sees, by name", pageSchema(tenantSchema), { querystring: pageQuery }),
    cached((req: Req<PageQuery>, reply, m) =>
      page(reply, tenantItems(m.index, req.principal!), (t) => t.name, req.query),
    ),
  );

  app.get(
    "/api/v1/tenants/:tenant",
    schema("One tenant", tenantSchema, { params: tenantParams }),
    cached((req: Req<unknown, { tenant: string }>, reply, m) => {
      const t = tenantItems(m.index, req.principal!).find((x) => x.name === req.params.tenant);
      return t ?? sendJson(reply, 404, NOT_FOUND_BODY);
    }),
  );

  app.get(
    "/api/v1/integrations",
    schema("The integrations the key sees (of one tenant with ?tenant=), by key", pageSchema(integrationSchema), {
      querystring: integrationsQuery,
    }),
    cached((req: Req<PageQuery & { tenant?: string }>, reply, m) => {
      const { tenant, ...q } = req.query;
      return page(reply, integrationItems(m.index, req.principal!, tenant), (i) => i.key, q);
    }),
  );

  app.get(
    "/api/v1/tenants/:tenant/integrations/:name",
    schema("One integration: conditions, replicas and their workers, message counters", integrationSchema, {
      params: integrationParams,
    }),
    cached((req: Req<unknown, { tenant: string; name: string }>, reply, m) => {
      const { tenant, name } = req.params;
      const i = integrationItems(m.index, req.principal!, tenant).find((x) => x.name === name);
      return i ?? sendJson(reply, 404, NOT_FOUND_BODY);
    }),
  );

  app.get(
    "/api/v1/workers",
    schema("Every registered worker (admin key only: workers serve every tenant)", pageSchema(workerSchema), {
      querystring: pageQuery,
      response: {
        200: pageSchema(workerSchema),
        403: { ...errorSchema, description: "A tenant key: workers need the admin key" },
        ...errorResponses,
      },
    }),
    cached((req: Req<PageQuery>, reply, m) => {
      if (req.principal!.kind !== "admin") return problem(reply, 403, "forbidden: workers need the admin key");
      return page(reply, workerItems(m.index), (w) => w.id, req.query);
    }),
  );

  app.get(
    "/api/v1/assignments",
    schema(
      "Every replica with its worker and state (a tenant key: its own tenant's), by key",
      pageSchema(assignmentSchema),
      {
        querystring: pageQuery,
      },
    ),
    cached((req: Req<PageQuery>, reply, m) =>
      page(reply, assignmentItems(m.index, req.principal!), (a) => a.key, req.query),
    ),
  );
}
