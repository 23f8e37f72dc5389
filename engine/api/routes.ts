/** The resource routes under /api/v1: each renders the shared read model for the caller (resources.ts). */
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
import type { ApiModel } from "./state.js";

type Req<Q = unknown, P = unknown> = FastifyRequest<{ Querystring: Q; Params: P }>;

export function registerResources(app: FastifyInstance, state: { get(): ApiModel }): void {
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
    async (req) => syncBody(state.get().index, req.principal!),
  );

  app.get(
    "/api/v1/tenants",
    schema("The tenants the key sees, by name", pageSchema(tenantSchema), { querystring: pageQuery }),
    async (req: Req<PageQuery>, reply) =>
      page(reply, tenantItems(state.get().index, req.principal!), (t) => t.name, req.query),
  );

  app.get(
    "/api/v1/tenants/:tenant",
    schema("One tenant", tenantSchema, { params: tenantParams }),
    async (req: Req<unknown, { tenant: string }>, reply) => {
      const t = tenantItems(state.get().index, req.principal!).find((x) => x.name === req.params.tenant);
      return t ?? sendJson(reply, 404, NOT_FOUND_BODY);
    },
  );

  app.get(
    "/api/v1/integrations",
    schema("The integrations the key sees (of one tenant with ?tenant=), by key", pageSchema(integrationSchema), {
      querystring: integrationsQuery,
    }),
    async (req: Req<PageQuery & { tenant?: string }>, reply) => {
      const { tenant, ...q } = req.query;
      return page(reply, integrationItems(state.get().index, req.principal!, tenant), (i) => i.key, q);
    },
  );

  app.get(
    "/api/v1/tenants/:tenant/integrations/:name",
    schema("One integration: conditions, replicas and their workers, message counters", integrationSchema, {
      params: integrationParams,
    }),
    async (req: Req<unknown, { tenant: string; name: string }>, reply) => {
      const { tenant, name } = req.params;
      const i = integrationItems(state.get().index, req.principal!, tenant).find((x) => x.name === name);
      return i ?? sendJson(reply, 404, NOT_FOUND_BODY);
    },
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
    async (req: Req<PageQuery>, reply) => {
      if (req.principal!.kind !== "admin") return problem(reply, 403, "forbidden: workers need the admin key");
      return page(reply, workerItems(state.get().index), (w) => w.id, req.query);
    },
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
    async (req: Req<PageQuery>, reply) =>
      page(reply, assignmentItems(state.get().index, req.principal!), (a) => a.key, req.query),
  );
}
