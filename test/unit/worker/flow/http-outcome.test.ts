import { expect } from "chai";
import {
  bodyExcerpt,
  describeNetworkError,
  EXCERPT_CHARS,
  parseRetryAfter,
  statusOutcome,
} from "../../../../engine/worker/flow/sinks/http-outcome.js";

const OK = [200, 201, 202, 204];

describe("HTTP sink outcomes", () => {
  describe("statusOutcome", () => {
    const cases: Array<[number, string]> = [
      [200, "ok"],
      [204, "ok"],
      [203, "VRS_SINK_REJECTED"],
      [302, "VRS_SINK_REJECTED"],
      [400, "VRS_SINK_REJECTED"],
      [401, "VRS_SINK_REJECTED"],
      [404, "VRS_SINK_REJECTED"],
      [408, "VRS_SINK_UNAVAILABLE"],
      [409, "VRS_SINK_REJECTED"],
      [429, "VRS_SINK_UNAVAILABLE"],
      [500, "VRS_SINK_UNAVAILABLE"],
      [503, "VRS_SINK_UNAVAILABLE"],
      [599, "VRS_SINK_UNAVAILABLE"],
    ];
    for (const [status, want] of cases)
      it(`${status} → ${want}`, () => {
        const o = statusOutcome(status, OK, "h.example");
        expect(o.ok ? "ok" : o.code).to.equal(want);
        expect(o.status).to.equal(status);
      });

    it("a status listed in successStatus is ok, even a 3xx or 5xx", () => {
      expect(statusOutcome(302, [302], "h").ok).to.equal(true);
      expect(statusOutcome(500, [200, 500], "h").ok).to.equal(true);
      expect(statusOutcome(200, [201], "h").ok).to.equal(false);
    });

    it("a rejection names the host, the status and the excerpt", () => {
      const o = statusOutcome(400, OK, "h.example:8443", { excerpt: "bad field x" });
      expect(o).to.deep.include({ ok: false, code: "VRS_SINK_REJECTED", status: 400 });
      expect(!o.ok && o.error).to.equal("h.example:8443 answered 400: bad field x");
    });

    it("Retry-After is honoured on 429 and 503", () => {
      const o = statusOutcome(429, OK, "h", { retryAfter: "3" });
      expect(o).to.deep.include({ code: "VRS_SINK_UNAVAILABLE", status: 429, retryAfterMs: 3000 });
      const now = Date.parse("2026-01-01T00:00:00Z");
      const d = statusOutcome(503, OK, "h", { retryAfter: "Thu, 01 Jan 2026 00:00:10 GMT", now });
      expect(d).to.deep.include({ retryAfterMs: 10_000 });
      expect(statusOutcome(503, OK, "h", { retryAfter: "soon" })).to.not.have.property("retryAfterMs");
    });
  });

  describe("parseRetryAfter", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    const cases: Array<[string, number | undefined]> = [
      ["0", 0],
      ["120", 120_000],
      [" 5 ", 5_000],
      ["Thu, 01 Jan 2026 00:01:00 GMT", 60_000],
      ["Thursday, 01-Jan-26 00:00:30 GMT", 30_000],
      ["Thu Jan  1 00:00:02 2026", 2_000],
      ["Wed, 31 Dec 2025 23:00:00 GMT", 0],
      ["-1", undefined],
      ["1.5", undefined],
      ["tomorrow", undefined],
      ["2026-01-01T00:01:00Z", undefined],
      ["", undefined],
    ];
    for (const [value, ms] of cases) it(`'${value}' → ${ms}`, () => expect(parseRetryAfter(value, now)).to.equal(ms));
  });

  describe("bodyExcerpt", () => {
    it("escapes control characters and keeps text on one line", () => {
      expect(bodyExcerpt(Buffer.from('{"error":\n"bad\tvalue\u0007"}'))).to.equal('{"error":\\n"bad\\tvalue\\u0007"}');
    });
    it(`cuts at ${EXCERPT_CHARS} characters`, () => {
      const e = bodyExcerpt(Buffer.from("é".repeat(500)));
      expect(Array.from(e)).to.have.length(EXCERPT_CHARS + 1);
      expect(e.endsWith("…")).to.equal(true);
      expect(bodyExcerpt(Buffer.from("x".repeat(EXCERPT_CHARS)))).to.equal("x".repeat(EXCERPT_CHARS));
    });
    it("is empty for an empty body", () => expect(bodyExcerpt(new Uint8Array(0))).to.equal(""));
  });

  describe("describeNetworkError", () => {
    it("names the failure by its code, not by its message", () => {
      const e = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:443 https://secret.example/x"), {
        code: "ECONNREFUSED",
      });
      expect(describeNetworkError(e, true)).to.equal("connection refused (ECONNREFUSED)");
      const wrapped = new Error("fetch failed", { cause: Object.assign(new Error("x"), { code: "ENOTFOUND" }) });
      expect(describeNetworkError(wrapped, false)).to.equal("host name not found (ENOTFOUND)");
    });
    it("adds an unknown failure's message only when allowed", () => {
      const e = new TypeError("odd https://hooks.example/T0/secret");
      expect(describeNetworkError(e, false)).to.equal("request failed (TypeError)");
      expect(describeNetworkError(e, true)).to.contain("odd");
    });
  });
});
