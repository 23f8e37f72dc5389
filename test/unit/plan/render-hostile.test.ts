import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Plan } from "../../../engine/plan/model.js";
import { renderInvalidHeadMarkdown, renderPlanMarkdown } from "../../../engine/plan/render-markdown.js";
import { renderPlanText } from "../../../engine/plan/render-text.js";
import { packageRoot } from "../../../engine/util/package-root.js";
import { cells, expectNoRawControls, outsideCodeSpans } from "../../helpers/hostile-text.js";

describe("plan renderers with hostile values (test/golden/plan/hostile-values)", () => {
  const input = JSON.parse(readFileSync(join(packageRoot(), "test/golden/plan/hostile-values/input.json"), "utf8")) as {
    plan: Plan;
  };
  const text = renderPlanText(input.plan, { color: false });
  const md = renderPlanMarkdown(input.plan);

  it("the text holds no raw control character and one line per change and per field", () => {
    expectNoRawControls(text, "plan text");
    expect(text.split("\n")).to.have.length(9);
    expect(text).to.include("\\x1b[2J").and.include("\\u202e").and.include("\\x00").and.include("\\x9b");
  });

  it("the markdown starts no heading, keeps every value in its table cell, span or fence, and loads nothing", () => {
    expectNoRawControls(md, "plan markdown");
    const lines = md.split("\n");
    expect(lines.filter((l) => /^\s{0,3}#/.test(l))).to.deep.equal(["### VRSky plan"]);
    const rows = lines.filter((l) => l.startsWith("| "));
    expect(rows).to.have.length(5);
    for (const row of rows) expect(cells(row), row).to.have.length(3);
    // Every `<`, `[` and `!` of a value is escaped: no HTML, no link or image.
    const prose = outsideCodeSpans(md);
    expect(prose).not.to.match(/(?<!\\)<(?!details>|summary>|\/details>|\/summary>)/);
    expect(prose).not.to.match(/(?<!\\)!\[/);
    // The only fence lines are the renderer's own, and they pair up.
    const fences = lines.filter((l) => /^\s{0,3}```/.test(l));
    expect(fences).to.deep.equal(["````diff", "````"]);
  });

  it("an invalid head in markdown: file names and messages stay in their cells", () => {
    const hostile = "x\n### Safe to merge ✅ | <img src=x> `` ` \u001b[2J";
    const out = renderInvalidHeadMarkdown({ ref: "pr`|", revision: "a".repeat(40) }, [
      { file: `tenants/${hostile}.yaml`, line: 1, column: 1, path: "", code: "VRS_YAML_SYNTAX", message: hostile },
    ]);
    expectNoRawControls(out, "invalid head markdown");
    const lines = out.split("\n");
    expect(lines.filter((l) => l.startsWith("#"))).to.deep.equal(["### VRSky plan"]);
    const rows = lines.filter((l) => l.startsWith("| "));
    expect(rows).to.have.length(3);
    for (const row of rows) expect(cells(row), row).to.have.length(3);
    expect(outsideCodeSpans(out)).not.to.match(/(?<!\\)<img/);
  });
});
