/**
 * The status page for people (docs/api.md#status-page): `GET /` renders the sections of the caller's view
 * (page-render.ts) in one document; `GET /status/sections` renders them alone, for the page's script to swap in
 * after a change event. A browser signs in at `/login` with an API key and gets a session cookie (sessions.ts);
 * the key is never echoed, stored in the cookie, or logged. `POST /login` and `POST /logout` are the only
 * non-GET routes of the API, and they only open or close a session: nothing of the state changes through them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { SafeHtml } from "../text/html.js";
import type { KeyRing, Principal } from "./auth.js";
import { contentSecurityPolicy, loginDocument, newNonce, statusDocument } from "./page-document.js";
import { renderSections } from "./page-render.js";
import { sessionCookie, sessionId, type Sessions } from "./sessions.js";
import type { ApiModel } from "./state.js";

export interface StatusPageDeps {
  state: { get(): ApiModel };
  keys: KeyRing;
  sessions: Sessions;
  sessionTtlMs: number;
  /** Without JavaScript the page reloads itself this often. */
  refreshS: number;
  /** Sets `req.principal` from the Authorization header or the session cookie (server.ts). */
  authenticate: (req: FastifyRequest) => Promise<void>;
}

/** The paths that take a POST (a form's): everything else of the API is GET only. */
export const PAGE_POST_PATHS: ReadonlySet<string> = new Set(["/login", "/logout"]);

const HTML_TYPE = "text/html; charset=utf-8";
const hidden = { schema: { hide: true } } as const;

export function registerStatusPage(app: FastifyInstance, d: StatusPageDeps): void {
  app.addHook("onRequest", d.authenticate);
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string", bodyLimit: 4096 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  const send = (reply: FastifyReply, status: number, render: (nonce: string) => SafeHtml) => {
    const nonce = newNonce();
    return reply
      .code(status)
      .headers({
        "content-type": HTML_TYPE,
        "content-security-policy": contentSecurityPolicy(nonce),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        // Not no-referrer: with it Chromium sends `Origin: null` on the sign-in form, and the origin check needs it.
        "referrer-policy": "same-origin",
      })
      .send(render(nonce).text);
  };
  const seeOther = (reply: FastifyReply, to: string) => reply.code(303).header("location", to).send();
  /**
   * A form from another origin is refused (the cookie is SameSite=Strict too; this also stops login CSRF). The
   * host is compared, not the scheme: behind a TLS proxy the page is https while the API hears http. A form cannot
   * set X-Forwarded-Host, so a proxy's is trusted here.
   */
  const crossOrigin = (req: FastifyRequest) => {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    const host = URL.canParse(origin) ? new URL(origin).host : undefined;
    return host === undefined || (host !== req.host && host !== req.headers["x-forwarded-host"]);
  };
  const cookie = (req: FastifyRequest, id: string | null) =>
    sessionCookie(id, { secure: overTls(req), maxAgeS: Math.floor(d.sessionTtlMs / 1000) });

  app.get("/", hidden, async (req, reply) => {
    if (!req.principal) return seeOther(reply, "/login");
    const p = req.principal;
    const sections = renderSections(d.state.get().index, p);
    return send(reply, 200, (nonce) =>
      statusDocument({
        nonce,
        title: "VRSky status",
        who: who(p),
        renderedAt: new Date()
          .toISOString()
          .replace("T", " ")
          .replace(/\.\d+Z$/, "Z"),
        refreshS: d.refreshS,
        sections,
      }),
    );
  });

  app.get("/status/sections", hidden, async (req, reply) => {
    if (!req.principal) return reply.code(401).type(HTML_TYPE).header("cache-control", "no-store").send("");
    const sections = renderSections(d.state.get().index, req.principal);
    return reply
      .type(HTML_TYPE)
      .headers({ "cache-control": "no-store", "x-content-type-options": "nosniff" })
      .send(sections.text);
  });

  // Browsers ask for it on every page: no icon, and no 404 in their console.
  app.get("/favicon.ico", hidden, (_req, reply) => reply.code(204).header("cache-control", "max-age=86400").send());

  app.get("/login", hidden, async (req, reply) =>
    req.principal ? seeOther(reply, "/") : send(reply, 200, (nonce) => loginDocument({ nonce })),
  );

  app.post("/login", hidden, async (req: FastifyRequest<{ Body: { key?: unknown } | undefined }>, reply) => {
    if (crossOrigin(req))
      return send(reply, 403, (nonce) => loginDocument({ nonce, problem: "Sign in from this page." }));
    const key = typeof req.body?.key === "string" ? req.body.key.trim() : "";
    const p = key === "" ? undefined : d.keys.identify(key, () => d.state.get().tenantKeys);
    if (!p) return send(reply, 401, (nonce) => loginDocument({ nonce, problem: "That key does not open this API." }));
    return reply
      .header("set-cookie", cookie(req, d.sessions.open(p)))
      .code(303)
      .header("location", "/")
      .send();
  });

  app.post("/logout", hidden, async (req, reply) => {
    if (crossOrigin(req)) return reply.code(403).send();
    const id = sessionId(req.headers.cookie);
    if (id) d.sessions.close(id);
    return reply.header("set-cookie", cookie(req, null)).code(303).header("location", "/login").send();
  });
}

function who(p: Principal): string {
  return p.kind === "admin" ? "admin" : `tenant ${p.tenant} (key ${p.keyName})`;
}

/** Over TLS, here or at a proxy that says so: the cookie is then Secure (a stricter cookie whoever sent the header). */
function overTls(req: FastifyRequest): boolean {
  return req.protocol === "https" || req.headers["x-forwarded-proto"] === "https";
}
