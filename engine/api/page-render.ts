/**
 * The status page's sections, rendered from the API's resources for one principal (resources.ts), so the page
 * shows exactly what that key's JSON shows: a tenant key sees its tenant only, the admin key everything. Pure:
 * the read model in, HTML out. Every value from a commit or a record goes through `html` (escaped).
 */
import type { Finding } from "../errors/finding.js";
import { html, type SafeHtml } from "../text/html.js";
import type { AssignmentView, WorkerView } from "../views/workers.js";
import type { Principal } from "./auth.js";
import {
  assignmentItems,
  integrationItems,
  syncBody,
  tenantItems,
  workerItems,
  type IntegrationItem,
  type ResourceIndex,
  type SyncBody,
  type TenantItem,
} from "./resources.js";

/** Rows shown per table; the rest are in the API's lists (a page of thousands of rows helps nobody). */
export const PAGE_ROWS = 200;

type Condition = { type: string; status: string; reason: string };

/** Every section of the page for `p`, each a `<section id=…>` the script can replace on its own. */
export function renderSections(ix: ResourceIndex, p: Principal): SafeHtml {
  const sync = syncBody(ix, p);
  return html`${syncSection(sync)}${tenantsSection(tenantItems(ix, p))}${integrationsSection(integrationItems(ix, p))}${
    p.kind === "admin" ? workersSection(workerItems(ix)) : null
  }${assignmentsSection(assignmentItems(ix, p))}`;
}

/** The page's verdict on the sync state: green, amber (a run in progress), red, or grey (no reconcile yet). */
export function syncVerdict(s: SyncBody): { tone: "ok" | "busy" | "bad" | "none"; text: string } {
  if (!s.sync) return { tone: "none", text: "No reconcile yet" };
  if (s.ready) return { tone: "ok", text: "In sync" };
  const cond = (t: string) => s.sync!.conditions.find((c) => c.type === t);
  if (cond("Reconciling")?.status === "True" && cond("Stalled")?.status !== "True")
    return { tone: "busy", text: "Reconciling" };
  return { tone: "bad", text: `Not in sync${cond("Ready") ? `: ${cond("Ready")!.reason}` : ""}` };
}

function syncSection(s: SyncBody): SafeHtml {
  const v = syncVerdict(s);
  const sync = s.sync;
  const run = sync?.lastRun;
  return html`<section id="sync" class="sync ${v.tone}" aria-live="polite">
    <h2>Sync</h2>
    <p class="verdict" data-testid="verdict" data-tone="${v.tone}">${v.text}</p>
    ${
      sync &&
      html`<dl class="facts">
          <dt>Observed revision</dt>
          <dd><code>${sync.observedRevision}</code></dd>
          <dt>Applied revision</dt>
          <dd><code>${sync.lastAppliedRevision ?? "none"}</code></dd>
          <dt>Branch</dt>
          <dd>${sync.branch}</dd>
          <dt>Last run</dt>
          <dd>${run!.outcome} (${run!.trigger}) at ${time(run!.finishedAt)}, ${run!.durationMs} ms</dd>
          <dt>Reconciler</dt>
          <dd>
            ${sync.reconciler}${s.leader ? html` (leader: ${s.leader.holder}, epoch ${s.leader.epoch})` : " (no leader)"}
          </dd>
          <dt>Counts</dt>
          <dd>
            ${s.counts.tenants} tenants, ${s.counts.integrations} integrations; ${sync.runs} runs,
            ${sync.driftCorrections} drift corrections
          </dd>
        </dl>
        ${run!.message && html`<p class="message">${run!.message}</p>`}
        ${run!.errors.length > 0 && errorsList(run!.errors, run!.errorCount)}
        <table class="conditions">
          <caption>
            Conditions
          </caption>
          <thead>
            <tr>
              <th>Type</th>
              <th>Status</th>
              <th>Reason</th>
              <th>Message</th>
              <th>Since</th>
            </tr>
          </thead>
          <tbody>
            ${sync.conditions.map(
              (c) =>
                html`<tr>
                  <td>${c.type}</td>
                  <td>${status(c)}</td>
                  <td>${c.reason}</td>
                  <td>${c.message}</td>
                  <td>${time(c.lastTransitionTime)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
        ${
          sync.notReady.length > 0 &&
          html`<h3>Not ready</h3>
            <ul class="not-ready">
              ${sync.notReady.map(
                (n) => html`<li>${n.kind} <code>${n.key}</code>: ${n.reason}${n.message && html` — ${n.message}`}</li>`,
              )}
            </ul>`
        }`
    }
  </section>`;
}

function errorsList(errors: Finding[], total: number): SafeHtml {
  return html`<h3>Errors in the commit</h3>
    <ol class="errors" data-testid="errors">
      ${errors.map(
        (e) =>
          html`<li>
            <code class="where">${e.file}:${e.line}:${e.column}</code>
            <code class="code">${e.code}</code>
            ${e.path && !e.message.startsWith(e.path) && html`<code>${e.path}</code> `}${e.message}
          </li>`,
      )}
    </ol>
    ${total > errors.length && html`<p>${total - errors.length} more (the API lists at most ${errors.length}).</p>`}`;
}

function tenantsSection(items: TenantItem[]): SafeHtml {
  return html`<section id="tenants">
    <h2>Tenants <span class="count">${items.length}</span></h2>
    ${table(
      ["Name", "Conditions", "Integrations", "Applied revision"],
      shown(items).map(
        (t) =>
          html`<tr data-tenant="${t.name}">
            <td>${t.name}${t.suspended && html` <span class="tag">suspended</span>`}</td>
            <td>${conditions(t.conditions)}</td>
            <td class="num">${t.integrations}</td>
            <td><code>${short(t.lastAppliedRevision)}</code></td>
          </tr>`,
      ),
      "/api/v1/tenants",
      items.length,
    )}
  </section>`;
}

function integrationsSection(items: IntegrationItem[]): SafeHtml {
  return html`<section id="integrations">
    <h2>Integrations <span class="count">${items.length}</span></h2>
    ${table(
      [
        "Integration",
        "Conditions",
        "Replicas and workers",
        "Received",
        "Delivered",
        "Filtered",
        "Retried",
        "Dead",
        "In flight",
        "Pending",
        "Dead letters",
      ],
      shown(items).map((i) => {
        const f = i.flow;
        const n = (x: number | undefined) => html`<td class="num">${x ?? "–"}</td>`;
        return html`<tr data-integration="${i.key}">
          <td>${i.tenant}/${i.name}${i.suspended && html` <span class="tag">suspended</span>`}</td>
          <td>
            ${conditions(i.conditions)}${i.dataPlane && html`<br /><span class="muted">data plane:</span> ${conditions(i.dataPlane.conditions)}`}
          </td>
          <td>${replicas(i)}</td>
          ${n(f?.counters.received)}${n(f?.counters.delivered)}${n(f?.counters.filtered)}${n(f?.counters.retried)}${n(f?.counters.dead)}${n(f?.inFlight)}${n(f?.pending)}
          <td class="num${f && f.deadLetterDepth > 0 ? " warn" : ""}">${f?.deadLetterDepth ?? "–"}</td>
        </tr>`;
      }),
      "/api/v1/integrations",
      items.length,
    )}
  </section>`;
}

function replicas(i: IntegrationItem): SafeHtml {
  if (i.replicas.length === 0) return html`<span class="muted">none</span>`;
  const running = i.replicas.filter((r) => r.state === "running").length;
  return html`${running}/${i.replicas.length} running
    <ul class="replicas">
      ${i.replicas.map(
        (r) =>
          html`<li>
            #${r.replica} <span class="state ${r.state}">${r.state}</span> on
            ${r.worker ?? html`<span class="muted">no worker</span>`}${r.reason && html` — ${r.reason}`}
          </li>`,
      )}
    </ul>`;
}

function workersSection(items: WorkerView[]): SafeHtml {
  return html`<section id="workers">
    <h2>Workers <span class="count">${items.length}</span></h2>
    ${table(
      ["Worker", "State", "Assigned / capacity", "Running", "Labels", "Last heartbeat"],
      shown(items).map(
        (w) =>
          html`<tr data-worker="${w.id}">
            <td>${w.id}</td>
            <td><span class="state ${w.state}">${w.state}</span></td>
            <td class="num">${w.assigned} / ${w.capacity}</td>
            <td class="num">${w.running}</td>
            <td>${Object.entries(w.labels).map(([k, v]) => html`<code>${k}=${v}</code> `)}</td>
            <td>${time(w.heartbeatAt)}</td>
          </tr>`,
      ),
      "/api/v1/workers",
      items.length,
    )}
  </section>`;
}

function assignmentsSection(items: AssignmentView[]): SafeHtml {
  return html`<section id="assignments">
    <h2>Assignments <span class="count">${items.length}</span></h2>
    ${table(
      ["Replica", "Worker", "Epoch", "State"],
      shown(items).map(
        (a) =>
          html`<tr data-replica="${a.key}">
            <td>${a.tenant}/${a.integration} #${a.replica}</td>
            <td>${a.worker ?? html`<span class="muted">none</span>`}</td>
            <td class="num">${a.epoch}</td>
            <td><span class="state ${a.state}">${a.state}</span>${a.reason && html` — ${a.reason}`}</td>
          </tr>`,
      ),
      "/api/v1/assignments",
      items.length,
    )}
  </section>`;
}

/** The rows a table shows: the first PAGE_ROWS (only those are rendered). */
function shown<T>(items: readonly T[]): T[] {
  return items.slice(0, PAGE_ROWS);
}

function table(head: string[], rows: SafeHtml[], api: string, total: number): SafeHtml {
  if (rows.length === 0) return html`<p class="muted">None.</p>`;
  return html`<table>
      <thead>
        <tr>
          ${head.map((h) => html`<th>${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
    ${total > rows.length && html`<p class="muted">The first ${rows.length} of ${total}; all of them: <code>GET ${api}</code>.</p>`}`;
}

function conditions(list: Condition[]): SafeHtml {
  return html`${list.map((c) => html`<span class="cond ${tone(c)}" title="${c.reason}">${c.type}: ${c.reason}</span> `)}`;
}

/** Conditions that are bad news when True; `Reconciling` is neither good nor bad. */
const TRUE_IS_BAD = new Set(["Degraded", "Stalled"]);

function tone(c: { type: string; status: string }): string {
  if (c.status === "Unknown" || c.type === "Reconciling") return "unknown";
  return (c.status === "True") !== TRUE_IS_BAD.has(c.type) ? "ok" : "bad";
}

function status(c: { type: string; status: string }): SafeHtml {
  return html`<span class="cond ${tone(c)}">${c.status}</span>`;
}

function time(iso: string): SafeHtml {
  return html`<time datetime="${iso}">${iso.replace("T", " ").replace(/\.\d+Z$/, "Z")}</time>`;
}

function short(rev: string): string {
  return rev.length > 12 ? rev.slice(0, 12) : rev;
}
