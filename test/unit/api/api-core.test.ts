import { expect } from "chai";
import { bearerKey, indexTenantKeys, KeyRing, sha256, stillValid } from "../../../engine/api/auth.js";
import { changeOf, visibleChanges, type Change } from "../../../engine/api/events.js";
import { encodeCursor, MAX_LIMIT, pageProblem, paginate } from "../../../engine/api/pagination.js";
import { readAdminKey, rateLimitFlag } from "../../../engine/cli/commands/api.js";
import { isVrskyError } from "../../../engine/errors/errors.js";

const hex = (key: string) => sha256(key).toString("hex");

describe("status API core: keys, pages, changes, flags", () => {
  describe("keys", () => {
    const index = indexTenantKeys([
      { tenant: "acme", name: "ci", sha256: hex("acme-key") },
      { tenant: "beta", name: "ci", sha256: hex("beta-key").toUpperCase() },
      { tenant: "beta", name: "shared", sha256: hex("shared-key") },
      { tenant: "gamma", name: "shared", sha256: hex("shared-key") },
      { tenant: "delta", name: "bad", sha256: "not-a-digest" },
    ]);
    const ring = new KeyRing("the-admin-key-0123456789");

    it("the admin key, a tenant's key (its digest in any case), unknown keys", () => {
      expect(ring.identify("the-admin-key-0123456789", () => undefined)).to.deep.equal({ kind: "admin" });
      expect(ring.identify("acme-key", () => index)).to.deep.equal({
        kind: "tenant",
        tenant: "acme",
        keyName: "ci",
        digest: hex("acme-key"),
      });
      expect(ring.identify("beta-key", () => index)).to.include({ tenant: "beta" });
      expect(
        ring.identify("acme-key", () => undefined),
        "without the tenant keys",
      ).to.equal(undefined);
      expect(ring.identify("the-admin-key-012345678", () => index)).to.equal(undefined);
      expect(
        ring.identify(hex("acme-key"), () => index),
        "the digest is not the key",
      ).to.equal(undefined);
    });

    it("a tenant key stays valid while its tenant lists it", () => {
      const p = ring.identify("acme-key", () => index)!;
      expect(stillValid(p, index)).to.equal(true);
      expect(stillValid(p, indexTenantKeys([]))).to.equal(false);
      expect(stillValid(p, indexTenantKeys([{ tenant: "beta", name: "ci", sha256: hex("acme-key") }]))).to.equal(false);
      expect(stillValid({ kind: "admin" }, indexTenantKeys([]))).to.equal(true);
    });

    it("a key two tenants list belongs to neither; a malformed digest is ignored", () => {
      expect(ring.identify("shared-key", () => index)).to.equal(undefined);
      expect([...index.values()].map((v) => v.tenant)).to.not.include("delta");
    });

    it("Authorization: Bearer <key> only", () => {
      expect(bearerKey("Bearer abc")).to.equal("abc");
      expect(bearerKey("bearer  abc ")).to.equal("abc");
      for (const h of [undefined, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", `Bearer ${"x".repeat(513)}`])
        expect(bearerKey(h), String(h)).to.equal(undefined);
    });

    it("rate limits count per tenant key or admin, never by the key's text", () => {
      expect(KeyRing.rateKey({ kind: "admin" })).to.equal("admin");
      expect(KeyRing.rateKey({ kind: "tenant", tenant: "acme", keyName: "ci", digest: "x" })).to.equal(
        "tenant:acme:ci",
      );
    });
  });

  describe("pages", () => {
    const keys = ["a", "b", "c", "d", "e"];
    const id = (x: string) => x;

    it("walks a list in pages by key, and the last page has no next", () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const p = paginate(keys, id, { limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...p.items);
        if (!p.next) break;
        cursor = p.next;
      }
      expect(seen).to.deep.equal(keys);
      expect(paginate(keys, id, {})).to.deep.equal({ items: keys, next: null });
    });

    it("a cursor past a removed key goes on after it: nothing repeated, nothing skipped", () => {
      const first = paginate(keys, id, { limit: 2 });
      const later = ["a", "c", "d", "e"];
      expect(paginate(later, id, { limit: 2, cursor: first.next! }).items).to.deep.equal(["c", "d"]);
    });

    it("at most MAX_LIMIT per page; a cursor that is not ours is a problem", () => {
      const many = Array.from({ length: MAX_LIMIT + 5 }, (_, i) => String(i).padStart(5, "0"));
      expect(paginate(many, id, { limit: 5_000 }).items).to.have.length(MAX_LIMIT);
      expect(pageProblem({ cursor: encodeCursor("b") })).to.equal(undefined);
      expect(pageProblem({ cursor: "Zm9v" })).to.be.a("string");
      expect(pageProblem({ cursor: "!!" })).to.be.a("string");
    });
  });

  describe("changes", () => {
    it("names each write by what the API shows; keys it does not show are none", () => {
      expect(changeOf("status", "sync")).to.deep.equal({ kind: "sync", key: "sync", tenant: null });
      expect(changeOf("status", "other")).to.equal(undefined);
      expect(changeOf("tenants", "acme")).to.deep.equal({ kind: "tenant", key: "acme", tenant: "acme" });
      expect(changeOf("integrations", "acme.orders")).to.include({ tenant: "acme" });
      expect(changeOf("assignments", "assign.w1.acme.orders.0")).to.deep.equal({
        kind: "assignment",
        key: "acme.orders.0",
        tenant: "acme",
      });
      expect(changeOf("assignments", "unplaced.acme.orders.1")).to.include({ key: "acme.orders.1" });
      expect(changeOf("assignments", "junk")).to.equal(undefined);
      expect(changeOf("workers", "w1")).to.deep.equal({ kind: "worker", key: "w1", tenant: null });
    });

    it("a tenant key sees its own tenant's changes and the sync state's; the admin key all", () => {
      const batch: Change[] = [
        { kind: "sync", key: "sync", tenant: null },
        { kind: "placement", key: "placement", tenant: null },
        { kind: "worker", key: "w1", tenant: null },
        { kind: "integration", key: "acme.orders", tenant: "acme" },
        { kind: "integration", key: "beta.feed", tenant: "beta" },
      ];
      expect(visibleChanges(batch, { kind: "admin" })).to.have.length(5);
      expect(
        visibleChanges(batch, { kind: "tenant", tenant: "acme", keyName: "ci", digest: "x" }).map((c) => c.key),
      ).to.deep.equal(["sync", "acme.orders"]);
    });
  });

  describe("flags", () => {
    const usage = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isVrskyError(e) && e.code === "VRS_USAGE" ? e.message : `not VRS_USAGE: ${String(e)}`;
      }
      return "no error";
    };

    it("--rate-limit <count>/<duration>", () => {
      expect(rateLimitFlag("600/1m")).to.deep.equal({ max: 600, timeWindowMs: 60_000 });
      expect(rateLimitFlag("5/10s")).to.deep.equal({ max: 5, timeWindowMs: 10_000 });
      for (const bad of ["600", "0/1m", "-1/1m", "10/x", "10/500ms"])
        expect(usage(() => rateLimitFlag(bad))).to.match(/--rate-limit/);
    });

    it("the admin key: the environment's when no file; refused when missing, short or with spaces", () => {
      expect(readAdminKey(undefined, "0123456789abcdef")).to.equal("0123456789abcdef");
      expect(usage(() => readAdminKey(undefined, undefined))).to.match(/no admin key/);
      expect(usage(() => readAdminKey(undefined, ""))).to.match(/no admin key/);
      expect(usage(() => readAdminKey(undefined, "short"))).to.match(/VRSKY_API_ADMIN_KEY must be 16/);
      expect(usage(() => readAdminKey(undefined, "0123456789 abcdef"))).to.match(/without spaces/);
    });
  });
});
