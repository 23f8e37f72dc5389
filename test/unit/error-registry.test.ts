import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { CODES, type Code } from "../../engine/errors/codes.js";
import { packageRoot } from "../../engine/util/package-root.js";

const DOC = "docs/errors.md";

function readDoc(): string {
  return readFileSync(join(packageRoot(), DOC), "utf8");
}

/** The table row of a code: the line that starts with `| \`CODE\` |`. */
function rowOf(doc: string, code: string): string | undefined {
  return doc.split("\n").find((line) => line.startsWith(`| \`${code}\` |`));
}

/** Markdown cell text back to plain text: entities and backslash escapes undone, backticks dropped. */
function plain(cell: string): string {
  return cell
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .replace(/\\([|\\`*_<>[\]])/g, "$1")
    .replace(/`/g, "");
}

describe(`error code registry and ${DOC}`, () => {
  const codes = Object.keys(CODES) as Code[];

  it("documents every code of engine/errors/codes.ts", () => {
    const doc = readDoc();
    const tokens = new Set(doc.match(/VRS_[A-Z0-9_]+/g) ?? []);
    const missing = codes.filter((c) => !tokens.has(c));
    expect(missing, `codes missing from ${DOC}: add a row for each`).to.deep.equal([]);
  });

  it("mentions no code that engine/errors/codes.ts does not define", () => {
    const doc = readDoc();
    const unknown = [...new Set(doc.match(/VRS_[A-Z0-9_]+/g) ?? [])].filter((t) => !(t in CODES));
    expect(unknown, `tokens in ${DOC} that are not codes`).to.deep.equal([]);
  });

  it("gives each code one table row with its title, hint and retry class", () => {
    const doc = readDoc();
    for (const code of codes) {
      const row = rowOf(doc, code);
      expect(row, `${DOC} has no table row for ${code}`).to.be.a("string");
      const cells = row!
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => plain(c.trim()));
      const info = CODES[code];
      expect(cells, `row of ${code} in ${DOC}`).to.have.length(4);
      expect(cells[1], `title of ${code} in ${DOC}`).to.equal(info.title);
      expect(cells[2], `hint of ${code} in ${DOC}`).to.equal(info.hint);
      expect(cells[3], `retry class of ${code} in ${DOC}`).to.equal(info.retry);
      expect(
        doc.split("\n").filter((l) => l.startsWith(`| \`${code}\` |`)),
        `rows of ${code}`,
      ).to.have.length(1);
    }
  });
});
