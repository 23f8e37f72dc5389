/**
 * A local stand-in for GitHub's REST API (fastify on a free loopback port, reached through GITHUB_API_URL) for
 * the operations `vrsky pr-check` uses. Every request is checked against the operation extracted from GitHub's
 * OpenAPI description (test/fixtures/github/operations.json: method, path template, parameter types, the request
 * body's schema with ajv), and so is every response it sends (types of the fields present). It enforces the limits
 * that description does not state (a comment body of at most 65,536 characters), lists comments a few per page
 * with Link headers, and can answer a 403 for a missing permission or a secondary rate limit once.
 * A request that breaks the contract is answered 422 and recorded in `violations`.
 */
import { Ajv, type ValidateFunction } from "ajv";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../engine/util/package-root.js";

interface Operation {
  operationId: string;
  method: string;
  path: string;
  parameters: { name: string; in: string; required: boolean; schema: unknown }[];
  requestBody: Record<string, unknown> | null;
  success: number;
  responseSchema: unknown;
}

export interface Recorded {
  operationId: string;
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
  status: number;
}

export interface CheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  output: { title?: string; summary?: string; text?: string };
  annotations: Record<string, unknown>[];
}

export interface Comment {
  id: number;
  body: string;
  /** Who wrote it; the stand-in's token writes as github-actions[bot]. */
  user?: { login: string; type: "Bot" | "User" };
}

const BOT = { login: "github-actions[bot]", type: "Bot" } as const;

const COMMENT_MAX = 65_536;

function loadOperations(): Operation[] {
  const file = join(packageRoot(), "test/fixtures/github/operations.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { operations: Operation[] }).operations;
}

/** OpenAPI 3.0's `nullable` for ajv: null joins an `enum` too (ajv's own `nullable` keeps the enum as it is). */
function nullableEnums(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(nullableEnums);
  if (s === null || typeof s !== "object") return s;
  const o = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, nullableEnums(v)]));
  if (o.nullable === true && Array.isArray(o.enum) && !o.enum.includes(null)) o.enum = [...(o.enum as unknown[]), null];
  return o;
}

/** A schema with every `required` list removed: a response is checked for the types of the fields it has. */
function typesOnly(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(typesOnly);
  if (s === null || typeof s !== "object") return s;
  return Object.fromEntries(
    Object.entries(s)
      .filter(([k, v]) => !(k === "required" && Array.isArray(v)))
      .map(([k, v]) => [k, typesOnly(v)]),
  );
}

export class GitHubStandIn {
  readonly requests: Recorded[] = [];
  readonly violations: string[] = [];
  readonly checkRuns = new Map<number, CheckRun>();
  comments: Comment[] = [];
  /** The pull request's current head sha (what GET /pulls/{n} answers). */
  pullHead = "";
  /** operationIds answered 403 "Resource not accessible by integration". */
  readonly forbidden = new Set<string>();
  /** operationIds answered once with a secondary rate limit (`retry-after: 1`), with this status. */
  readonly rateLimitOnce = new Map<string, 403 | 429>();
  /** Comments per page of the listing. */
  perPage = 2;
  url = "";
  private nextId = 1000;
  private readonly app: FastifyInstance;

  private constructor(
    readonly token: string,
    readonly owner: string,
    readonly repo: string,
  ) {
    this.app = Fastify({ bodyLimit: 8 * 1024 * 1024 });
    const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
    for (const op of loadOperations()) {
      const body = op.requestBody ? ajv.compile(nullableEnums(op.requestBody) as object) : null;
      const response = op.responseSchema ? ajv.compile(nullableEnums(typesOnly(op.responseSchema)) as object) : null;
      const params = ajv.compile({
        type: "object",
        properties: Object.fromEntries(op.parameters.map((p) => [p.name, p.schema])),
        required: op.parameters.filter((p) => p.required).map((p) => p.name),
      });
      this.app.route({
        method: op.method as "GET",
        url: op.path.replace(/\{(\w+)\}/g, ":$1"),
        handler: (req, reply) => this.handle(op, { body, response, params }, req, reply),
      });
    }
    this.app.setNotFoundHandler((req, reply) => {
      this.violations.push(`no such operation: ${req.method} ${req.url}`);
      void reply.code(404).send({ message: "Not Found" });
    });
  }

  static async start(o: { token: string; owner?: string; repo?: string }): Promise<GitHubStandIn> {
    const s = new GitHubStandIn(o.token, o.owner ?? "acme", o.repo ?? "manifests");
    await s.app.listen({ port: 0, host: "127.0.0.1" });
    const addr = s.app.server.address();
    if (addr === null || typeof addr === "string") throw new Error("no address");
    s.url = `http://127.0.0.1:${addr.port}`;
    return s;
  }

  async close(): Promise<void> {
    await this.app.close();
  }

  /** Requests of one operation. */
  of(operationId: string): Recorded[] {
    return this.requests.filter((r) => r.operationId === operationId);
  }

  private async handle(
    op: Operation,
    v: { body: ValidateFunction | null; response: ValidateFunction | null; params: ValidateFunction },
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<unknown> {
    const rec: Recorded = {
      operationId: op.operationId,
      method: req.method,
      url: req.url,
      authorization: req.headers.authorization,
      body: req.body,
      status: 0,
    };
    this.requests.push(rec);
    const answer = (status: number, data: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      if (status === op.success && v.response && !v.response(data))
        this.violations.push(`${op.operationId} response: ${JSON.stringify(v.response.errors?.slice(0, 3))}`);
      return reply.code(status).headers(headers).send(data);
    };
    const auth = req.headers.authorization ?? "";
    if (auth !== `token ${this.token}` && auth !== `bearer ${this.token}` && auth !== `Bearer ${this.token}`)
      return answer(401, { message: "Bad credentials" });
    const params = this.typedParams(op, req);
    if (!v.params(params)) return this.violate(op, answer, `parameters: ${JSON.stringify(v.params.errors)}`);
    if (v.body && !v.body(req.body)) return this.violate(op, answer, `body: ${JSON.stringify(v.body.errors)}`);
    if (params.owner !== this.owner || params.repo !== this.repo) return answer(404, { message: "Not Found" });
    const limited = this.rateLimitOnce.get(op.operationId);
    if (limited) {
      this.rateLimitOnce.delete(op.operationId);
      return answer(limited, { message: "You have exceeded a secondary rate limit." }, { "retry-after": "1" });
    }
    if (this.forbidden.has(op.operationId)) return answer(403, { message: "Resource not accessible by integration" });
    return this.operate(op, params, req, answer);
  }

  private violate(op: Operation, answer: (s: number, d: unknown) => unknown, what: string): unknown {
    this.violations.push(`${op.operationId} ${what}`);
    return answer(422, { message: `Invalid request: ${what}` });
  }

  /** Path and query parameters, numbers where the operation says integer. */
  private typedParams(op: Operation, req: FastifyRequest): Record<string, unknown> {
    const raw = { ...(req.query as Record<string, string>), ...(req.params as Record<string, string>) };
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(raw)) {
      const p = op.parameters.find((x) => x.name === k);
      const t = (p?.schema as { type?: string } | undefined)?.type;
      out[k] = t === "integer" && /^-?\d+$/.test(val) ? Number(val) : val;
    }
    return out;
  }

  private operate(
    op: Operation,
    params: Record<string, unknown>,
    req: FastifyRequest,
    answer: (s: number, d: unknown, h?: Record<string, string>) => unknown,
  ): unknown {
    const body = req.body as Record<string, unknown>;
    const repoUrl = `${this.url}/repos/${this.owner}/${this.repo}`;
    switch (op.operationId) {
      case "checks/create": {
        const run: CheckRun = {
          id: this.nextId++,
          name: body.name as string,
          head_sha: body.head_sha as string,
          status: (body.status as string) ?? "queued",
          conclusion: null,
          output: {},
          annotations: [],
        };
        this.checkRuns.set(run.id, run);
        return answer(201, this.checkRunJson(run, repoUrl));
      }
      case "checks/update": {
        const run = this.checkRuns.get(params.check_run_id as number);
        if (!run) return answer(404, { message: "Not Found" });
        const output = body.output as (CheckRun["output"] & { annotations?: Record<string, unknown>[] }) | undefined;
        if ((output?.annotations?.length ?? 0) > 50)
          return answer(422, { message: "Only 50 annotations are allowed per request" });
        if (output) {
          const { annotations, ...rest } = output;
          run.output = rest;
          run.annotations.push(...(annotations ?? []));
        }
        if (body.status) run.status = body.status as string;
        if (body.conclusion) {
          run.conclusion = body.conclusion as string;
          run.status = "completed";
        }
        return answer(200, this.checkRunJson(run, repoUrl));
      }
      case "issues/list-comments": {
        const page = Math.max(1, Number(params.page ?? 1));
        const size = this.perPage;
        const last = Math.max(1, Math.ceil(this.comments.length / size));
        const link = (p: number, rel: string) =>
          `<${repoUrl}/issues/${String(params.issue_number)}/comments?per_page=${size}&page=${p}>; rel="${rel}"`;
        const links = [];
        if (page < last) links.push(link(page + 1, "next"), link(last, "last"));
        if (page > 1) links.push(link(1, "first"), link(page - 1, "prev"));
        const data = this.comments.slice((page - 1) * size, page * size).map((c) => this.commentJson(c, repoUrl));
        return answer(200, data, links.length ? { link: links.join(", ") } : {});
      }
      case "issues/create-comment":
      case "issues/update-comment": {
        const text = body.body as string;
        if (text.length > COMMENT_MAX)
          return answer(422, { message: "Body is too long (maximum is 65536 characters)" });
        if (op.operationId === "issues/create-comment") {
          const c: Comment = { id: this.nextId++, body: text, user: BOT };
          this.comments.push(c);
          return answer(201, this.commentJson(c, repoUrl));
        }
        const c = this.comments.find((x) => x.id === params.comment_id);
        if (!c) return answer(404, { message: "Not Found" });
        if (c.user?.login !== BOT.login) return answer(403, { message: "You cannot edit this comment" });
        c.body = text;
        return answer(200, this.commentJson(c, repoUrl));
      }
      case "pulls/get":
        return answer(200, {
          url: `${repoUrl}/pulls/${String(params.pull_number)}`,
          id: 1,
          number: params.pull_number,
          state: "open",
          head: { sha: this.pullHead, ref: "feature", label: "acme:feature" },
          base: { sha: "0".repeat(40), ref: "main", label: "acme:main" },
        });
    }
    return answer(500, { message: `unhandled ${op.operationId}` });
  }

  private checkRunJson(run: CheckRun, repoUrl: string): unknown {
    return {
      id: run.id,
      head_sha: run.head_sha,
      node_id: `CR_${run.id}`,
      name: run.name,
      status: run.status,
      conclusion: run.conclusion,
      url: `${repoUrl}/check-runs/${run.id}`,
      html_url: `https://github.invalid/${this.owner}/${this.repo}/runs/${run.id}`,
      output: {
        ...run.output,
        annotations_count: run.annotations.length,
        annotations_url: `${repoUrl}/check-runs/${run.id}/annotations`,
      },
    };
  }

  private commentJson(c: Comment, repoUrl: string): unknown {
    return {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${repoUrl}/issues/comments/${c.id}`,
      html_url: `https://github.invalid/${this.owner}/${this.repo}/pull/1#issuecomment-${c.id}`,
      body: c.body,
      user: c.user ? { login: c.user.login, id: c.user.type === "Bot" ? 41898282 : 1, type: c.user.type } : null,
      created_at: "2026-01-01T00:00:00Z",
      updated_at: "2026-01-01T00:00:00Z",
      author_association: "NONE",
    };
  }
}
