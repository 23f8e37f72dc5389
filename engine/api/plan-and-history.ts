/**
 * `GET /api/v1/plan` (what the reconciler would do with the committed head: plan-body.ts, plan-source.ts) and
 * `GET /api/v1/events/recent` (the last change events: recent-events.ts). Both answer each caller its own part.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errorMessage } from "../errors/errors.js";
import { paginate, pageProblem, type PageQuery } from "./pagination.js";
import { planFor } from "./plan-body.js";
import { PlanUnavailable, type PlanSource } from "./plan-source.js";
import { newestFirstKey, type RecentEvents } from "./recent-events.js";
import { problem } from "./replies.js";
import { errorResponses, pageQuery, pageSchema, planSchema, recentEventSchema } from "./schemas.js";
import type { Log } from "./state.js";

/** The answer to `/api/v1/plan` of an API started without a repository. */
export const NO_REPOSITORY =
  "not found: the plan needs the repository; start vrsky api with --repo DIR (and --branch) to serve it";

export function registerPlanAndHistory(
  app: FastifyInstance,
  d: { plan: PlanSource | undefined; recent: RecentEvents; log: Log },
): void {
  /** Why the plan could not be made last time: logged once per distinct reason, not per request. */
  let lastProblem: string | undefined;
  app.get(
    "/api/v1/plan",
    {
      schema: {
        summary:
          "What the reconciler would do with the committed head of its branch against the live state, or the head's validation errors",
        tags: ["status"],
        response: {
          200: { ...planSchema, description: "The plan (a tenant key: its own tenant's part)" },
          ...errorResponses,
          404: { ...errorResponses[404], description: "Not there, or the API was started without --repo" },
          503: { ...errorResponses[503], description: "The state or the branch cannot be read now (see Retry-After)" },
        },
      },
    },
    async (req: FastifyRequest, reply: FastifyReply) => {
      if (!d.plan) return problem(reply, 404, NO_REPOSITORY);
      try {
        const body = planFor(await d.plan.current(), req.principal!);
        lastProblem = undefined;
        return body;
      } catch (e) {
        if (!(e instanceof PlanUnavailable)) throw e;
        if (errorMessage(e) !== lastProblem) d.log("plan-unavailable", { error: errorMessage(e) });
        lastProblem = errorMessage(e);
        reply.header("retry-after", "5");
        return problem(
          reply,
          503,
          `the plan cannot be made now: branch '${d.plan.branch}' cannot be read; retry later`,
        );
      }
    },
  );

  app.get(
    "/api/v1/events/recent",
    {
      schema: {
        summary: "The last change events of the event stream (at most 500 kept), newest first",
        tags: ["status"],
        querystring: pageQuery,
        response: { 200: { ...pageSchema(recentEventSchema), description: "Newest first" }, ...errorResponses },
      },
    },
    async (req: FastifyRequest<{ Querystring: PageQuery }>, reply: FastifyReply) => {
      const bad = pageProblem(req.query);
      if (bad) return problem(reply, 400, `bad request: ${bad}`);
      return paginate(d.recent.visible(req.principal!), newestFirstKey, req.query);
    },
  );
}
