/**
 * The status page's documents: the page around its sections, and the sign-in form. One style sheet and one small
 * script, inline with the response's nonce (the Content-Security-Policy allows nothing else). Without JavaScript
 * the page reloads itself every `refreshS` seconds (a meta refresh inside <noscript>) and has a reload link; with
 * it, the script follows `GET /api/v1/events` and replaces the sections that changed (`GET /status/sections`).
 */
import { randomBytes } from "node:crypto";
import { html, raw, type SafeHtml } from "../text/html.js";

export function newNonce(): string {
  return randomBytes(16).toString("base64");
}

/** Nothing but this response's own style and script, same-origin fetches and forms, and no framing. */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --busy: #9a6700; --muted: #6e7781; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 16px 32px; }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; border-bottom: 1px solid #8884; }
header h1 { font-size: 20px; margin: 12px 0; }
header .who, header .updated, .muted { color: var(--muted); }
header form { margin-left: auto; }
#live[data-state="live"] { color: var(--ok); }
#live[data-state="down"] { color: var(--bad); }
section { margin-top: 20px; }
h2 { font-size: 17px; margin: 0 0 8px; }
h2 .count { color: var(--muted); font-weight: normal; }
.sync { border-left: 8px solid var(--muted); padding: 4px 12px 8px; }
.sync.ok { border-color: var(--ok); } .sync.bad { border-color: var(--bad); } .sync.busy { border-color: var(--busy); }
.verdict { font-size: 22px; font-weight: 600; margin: 4px 0 8px; }
.ok .verdict { color: var(--ok); } .bad .verdict { color: var(--bad); } .busy .verdict { color: var(--busy); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 8px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.errors { color: var(--bad); } .errors .where { font-weight: 600; }
.message { white-space: pre-wrap; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #8883; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } td.warn { color: var(--bad); font-weight: 600; }
.cond { display: inline-block; padding: 0 6px; border-radius: 8px; border: 1px solid currentColor; font-size: 12px; }
.cond.ok { color: var(--ok); } .cond.bad { color: var(--bad); } .cond.unknown { color: var(--muted); }
.state.running, .state.active { color: var(--ok); } .state.failed, .state.unplaced { color: var(--bad); }
.tag { font-size: 12px; color: var(--busy); }
ul.replicas { margin: 0; padding-left: 16px; }
code { font: 12px ui-monospace, monospace; }
.login { max-width: 420px; margin: 10vh auto; } .login input { width: 100%; box-sizing: border-box; padding: 6px; }
.login .problem { color: var(--bad); }
`;

/** Follows the change stream and re-renders the sections that changed; one fetch at a time, the last one wins. */
const SCRIPT = `
(() => {
  const live = document.getElementById("live");
  const main = document.getElementById("sections");
  const say = (state, text) => { live.dataset.state = state; live.textContent = text; };
  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const res = await fetch("/status/sections", { credentials: "same-origin", cache: "no-store" });
      if (res.status === 401) { location.assign("/login"); return; }
      if (!res.ok) { say("down", "update failed (" + res.status + ")"); return; }
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = new Map([...doc.body.children].filter((s) => s.id).map((s) => [s.id, s]));
      for (const old of [...main.children]) {
        const next = fresh.get(old.id);
        if (!next) old.remove();
        else if (next.outerHTML !== old.outerHTML) old.replaceWith(document.importNode(next, true));
        fresh.delete(old.id);
      }
      for (const next of fresh.values()) main.append(document.importNode(next, true));
      document.getElementById("updated").textContent = "updated " + new Date().toISOString().replace("T", " ").replace(/\\.\\d+Z$/, "Z");
    } catch (e) {
      say("down", "update failed");
    } finally {
      busy = false;
      if (again) { again = false; void refresh(); }
    }
  }
  const events = new EventSource("/api/v1/events");
  // No replay after a reconnect: read the sections again on every (re)connection.
  events.addEventListener("open", () => { say("live", "live"); void refresh(); });
  events.addEventListener("change", () => void refresh());
  events.addEventListener("error", () => {
    if (events.readyState === EventSource.CLOSED) { say("down", "disconnected: reload the page"); void refresh(); }
    else say("down", "reconnecting…");
  });
})();
`;

export interface PageShell {
  nonce: string;
  title: string;
  /** "admin" or "tenant acme (key ci)". */
  who: string;
  renderedAt: string;
  refreshS: number;
  sections: SafeHtml;
}

export function statusDocument(o: PageShell): SafeHtml {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title}</title>
        <noscript><meta http-equiv="refresh" content="${o.refreshS}" /></noscript>
        <style nonce="${o.nonce}">
          ${raw(STYLE)}
        </style>
      </head>
      <body>
        <header>
          <h1>VRSky status</h1>
          <span class="who">signed in as ${o.who}</span>
          <span id="live" data-state="static"
            ><a href="/">reload</a><noscript> (reloads every ${o.refreshS} s)</noscript></span
          >
          <span id="updated" class="updated">rendered ${o.renderedAt}</span>
          <form method="post" action="/logout"><button type="submit">Sign out</button></form>
        </header>
        <main id="sections">${o.sections}</main>
        <script nonce="${o.nonce}">
          ${raw(SCRIPT)};
        </script>
      </body>
    </html> `;
}

export function loginDocument(o: { nonce: string; problem?: string }): SafeHtml {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Sign in · VRSky status</title>
        <style nonce="${o.nonce}">
          ${raw(STYLE)}
        </style>
      </head>
      <body>
        <form class="login" method="post" action="/login">
          <h1>VRSky status</h1>
          <p>Sign in with an API key: the admin key, or one of your tenant's keys (docs/api.md).</p>
          ${o.problem && html`<p class="problem" role="alert">${o.problem}</p>`}
          <p>
            <label for="key">API key</label><br />
            <input id="key" name="key" type="password" autocomplete="current-password" required autofocus />
          </p>
          <p><button type="submit">Sign in</button></p>
        </form>
      </body>
    </html> `;
}
