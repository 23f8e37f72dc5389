import { expect } from "chai";
import { escapeControl } from "../../../engine/util/escape.js";

describe("escapeControl: outside text printed on a terminal", () => {
  it("shows control characters instead of letting them act, and leaves other text alone", () => {
    expect(escapeControl("plain text, ünïcødé ✓")).to.equal("plain text, ünïcødé ✓");
    expect(escapeControl("a\nb\tc\rd")).to.equal("a\\nb\\tc\\rd");
    expect(escapeControl("\u001b[2J\u001b]0;title\u0007")).to.equal("\\x1b[2J\\x1b]0;title\\x07");
    expect(escapeControl("\u0000\u007f\u009b")).to.equal("\\x00\\x7f\\x9b");
    expect(escapeControl("left\u202eright")).to.equal("left\\u{202e}right");
  });
});
