import { expect } from "chai";
import { checkNames, parseLimit, parseSince } from "../../../engine/cli/dataplane-options.js";
import { isVrskyError } from "../../../engine/errors/errors.js";
import { printable, printableBlock, utf8Text } from "../../../engine/text/printable.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isVrskyError(e) ? e.code : "not a VrskyError";
  }
  return undefined;
}

describe("cli: --since, --limit and names of the data-plane commands", () => {
  const now = Date.parse("2026-01-02T10:00:00.000Z");

  it("--since: a duration back from now, or an ISO time; anything else VRS_USAGE", () => {
    expect(parseSince("30m", now).toISOString()).to.equal("2026-01-02T09:30:00.000Z");
    expect(parseSince("7d", now).toISOString()).to.equal("2025-12-26T10:00:00.000Z");
    expect(parseSince("2026-01-01T08:00:00Z", now).toISOString()).to.equal("2026-01-01T08:00:00.000Z");
    expect(parseSince("2026-01-01T08:00:00+02:00", now).toISOString()).to.equal("2026-01-01T06:00:00.000Z");
    expect(parseSince("2026-01-01", now).toISOString()).to.equal("2026-01-01T00:00:00.000Z");
    for (const bad of ["", "yesterday", "10", "-5m", "2026-13-45T99:00:00Z", "1m1m"])
      expect(
        codeOf(() => parseSince(bad, now)),
        bad,
      ).to.equal("VRS_USAGE");
  });

  it("--limit: a whole number from 1", () => {
    expect(parseLimit("1")).to.equal(1);
    expect(parseLimit("100")).to.equal(100);
    for (const bad of ["0", "-1", "1.5", "ten", "", "1e3", "99999999"])
      expect(
        codeOf(() => parseLimit(bad)),
        bad,
      ).to.equal("VRS_USAGE");
  });

  it("tenant and integration: DNS labels", () => {
    expect(codeOf(() => checkNames("acme", "orders-to-slack"))).to.equal(undefined);
    expect(codeOf(() => checkNames("Acme", "x"))).to.equal("VRS_USAGE");
    expect(codeOf(() => checkNames("acme", "a.b"))).to.equal("VRS_USAGE");
    expect(codeOf(() => checkNames("acme", "a_b"))).to.equal("VRS_USAGE");
  });
});

describe("util: text from messages made safe for a terminal", () => {
  it("escapes C0 and C1 controls, DEL, escape sequences and bidirectional overrides; keeps other text", () => {
    expect(printable("a\u001b[31mb\u0007c\u009bd\u007fe")).to.equal("a\\x1b[31mb\\x07c\\x9bd\\x7fe");
    expect(printable("line\nfake\r\tx")).to.equal("line\\nfake\\r\\tx");
    expect(printable("abc\u202edef\u2066")).to.equal("abc\\u202edef\\u2066");
    expect(printable('héllo ☃ "quoted" 日本')).to.equal('héllo ☃ "quoted" 日本');
  });

  it("a block keeps newlines and tabs, nothing else", () => {
    expect(printableBlock("a\n\tb\r\n\u001b]0;t\u0007")).to.equal("a\n\tb\\r\n\\x1b]0;t\\x07");
  });

  it("UTF-8 text or undefined", () => {
    expect(utf8Text(new TextEncoder().encode("héllo"))).to.equal("héllo");
    expect(utf8Text(new Uint8Array([0xff, 0xfe]))).to.equal(undefined);
  });
});
