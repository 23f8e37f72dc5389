import { expect } from "chai";
import { PAGE_ROWS, renderSections, syncVerdict } from "../../../engine/api/page-render.js";
import { indexResources, type SyncBody } from "../../../engine/api/resources.js";
import type { ResourceView, StatusView } from "../../../engine/views/status.js";
import { SESSION_COOKIE, sessionCookie, sessionId, Sessions } from "../../../engine/api/sessions.js";
import { escapeHtml, html, raw } from "../../../engine/text/html.js";

const condition = (type: string, status: string, reason = "R") => ({
  type,
  status,
  reason,
  message: "",
  lastTransitionTime: "2026-12-02T10:00:00.000Z",
});

function sync(ready: boolean, conditions: ReturnType<typeof condition>[]): SyncBody {
  return {
    ready,
    sync: { conditions } as unknown as NonNullable<SyncBody["sync"]>,
    leader: null,
    counts: { tenants: 0, integrations: 0 },
    replication: null,
  };
}

describe("status page: HTML escaping, sessions, the verdict", () => {
  describe("html", () => {
    it("escapes every interpolated value, in content and in quoted attributes", () => {
      const name = `<script>alert("x")</script>' onmouseover='y' & more`;
      expect(html`<td title="${name}">${name}</td>`.text).to.equal(
        '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; &amp; more">' +
          "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; &amp; more</td>",
      );
    });

    it("shows control characters and bidirectional overrides as escapes; keeps newlines", () => {
      expect(escapeHtml("a\u202eb\u001b[31mc\nd\u2066")).to.equal("a\\u202eb\\x1b[31mc\nd\\u2066");
    });

    it("keeps nested html and arrays of it, renders nothing for null, undefined and false", () => {
      const rows = ["<a>", "b"].map((x) => html`<li>${x}</li>`);
      // Prettier lays out html`` templates over lines: compare without the white space it adds.
      const list = html`<ul>
          ${rows}
        </ul>
        ${null}${undefined}${false}${0}`.text.replace(/\s+/g, "");
      expect(list).to.equal("<ul><li>&lt;a&gt;</li><li>b</li></ul>0");
      expect(html`${raw("<b>")}`.text).to.equal("<b>");
    });
  });

  describe("sessions", () => {
    it("a session names its principal until it expires; closed, it is gone", () => {
      const s = new Sessions({ ttlMs: 1_000, max: 10 });
      const id = s.open({ kind: "admin" }, 0);
      expect(id).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(s.principal(id, 999)).to.deep.equal({ kind: "admin" });
      expect(s.principal(id, 1_000)).to.equal(undefined);
      expect(s.size, "an expired session is forgotten").to.equal(0);
      const again = s.open({ kind: "admin" }, 0);
      s.close(again);
      expect(s.principal(again, 1)).to.equal(undefined);
      expect(s.principal("x".repeat(43), 1)).to.equal(undefined);
    });

    it("holds at most `max`: the oldest goes first", () => {
      const s = new Sessions({ ttlMs: 60_000, max: 2 });
      const [a, b, c] = [0, 1, 2].map(() => s.open({ kind: "admin" }, 0));
      expect([a, b, c].map((id) => s.principal(id!, 1) !== undefined)).to.deep.equal([false, true, true]);
    });

    it("reads its cookie among others, and ignores a value that is not an id", () => {
      const id = "A".repeat(43);
      expect(sessionId(`a=1; ${SESSION_COOKIE}=${id}; b=2`)).to.equal(id);
      expect(sessionId(`${SESSION_COOKIE}=short`)).to.equal(undefined);
      expect(sessionId(`x${SESSION_COOKIE}=${id}`)).to.equal(undefined);
      expect(sessionId(undefined)).to.equal(undefined);
    });

    it("the cookie: HttpOnly, SameSite=Strict, Secure over TLS only; removal sets Max-Age=0", () => {
      expect(sessionCookie("id", { secure: false, maxAgeS: 60 })).to.equal(
        "vrsky_session=id; Max-Age=60; Path=/; HttpOnly; SameSite=Strict",
      );
      expect(sessionCookie("id", { secure: true, maxAgeS: 60 })).to.match(/; Secure$/);
      expect(sessionCookie(null, { secure: false, maxAgeS: 60 })).to.equal(
        "vrsky_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict",
      );
    });
  });

  describe("the verdict on the sync state", () => {
    it("green when Ready, amber while reconciling, red otherwise, grey before the first reconcile", () => {
      const none: SyncBody = {
        ready: false,
        sync: null,
        leader: null,
        counts: { tenants: 0, integrations: 0 },
        replication: null,
      };
      expect(syncVerdict(none)).to.deep.equal({ tone: "none", text: "No reconcile yet" });
      expect(syncVerdict(sync(true, [condition("Ready", "True")])).tone).to.equal("ok");
      expect(syncVerdict(sync(false, [condition("Ready", "Unknown"), condition("Reconciling", "True")])).tone).to.equal(
        "busy",
      );
      expect(
        syncVerdict(sync(false, [condition("Ready", "False", "ValidationFailed"), condition("Stalled", "True")])),
      ).to.deep.equal({ tone: "bad", text: "Not in sync: ValidationFailed" });
    });
  });

  describe("the sections", () => {
    const resource = (kind: ResourceView["kind"], key: string): ResourceView => ({
      kind,
      key,
      suspended: false,
      lastAppliedRevision: "0".repeat(40),
      hash: "sha256:0",
      conditions: [{ type: "Ready", status: "True", reason: "<b>Applied</b>" }],
    });
    const tenants = Array.from({ length: PAGE_ROWS + 50 }, (_, i) => `t${String(i).padStart(3, "0")}`);
    const view: StatusView = {
      formatVersion: 1,
      sync: null,
      leader: null,
      counts: { tenants: tenants.length, integrations: 1 },
      resources: [...tenants.map((t) => resource("Tenant", t)), resource("Integration", "t001.<img src=x>")],
      workers: [],
      assignments: [],
      placement: null,
      invalidRecords: [],
    };
    const ix = indexResources(view);

    it("shows the first PAGE_ROWS rows of a table and says how many the API lists", () => {
      const out = renderSections(ix, { kind: "admin" }).text;
      expect(out.match(/<tr data-tenant=/g)).to.have.length(PAGE_ROWS);
      expect(out).to.match(
        new RegExp(`The first ${PAGE_ROWS} of ${PAGE_ROWS + 50}; all of them: <code>GET /api/v1/tenants</code>`),
      );
    });

    it("escapes values from the state; a tenant key sees its own tenant, and no workers", () => {
      const out = renderSections(ix, { kind: "tenant", tenant: "t001", keyName: "ci", digest: "" }).text;
      expect(out.match(/<tr data-tenant="([^"]+)"/g)).to.deep.equal(['<tr data-tenant="t001"']);
      expect(out).to.include("t001/&lt;img src=x&gt;").and.include("&lt;b&gt;Applied&lt;/b&gt;");
      expect(out).to.not.include("<img");
      expect(out).to.not.include("<b>");
      expect(out).to.not.include('id="workers"');
      expect(out).to.include('id="assignments"');
    });
  });
});
