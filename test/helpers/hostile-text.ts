/**
 * Checks for output that printed text from a commit or from KV: no raw control character, terminal escape or
 * bidirectional override may be in it (they must show as visible escapes such as `\x1b` or `\u202e`).
 */
import { expect } from "chai";

/** C0 controls but newline, DEL, C1 controls, and the bidi controls U+202A–202E and U+2066–2069. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/** Asserts that `out` holds none of the raw characters; `what` names the output in the failure. */
export function expectNoRawControls(out: string, what: string): void {
  const m = RAW.exec(out);
  expect(
    m,
    m
      ? `${what} holds a raw U+${m[0].codePointAt(0)!.toString(16).padStart(4, "0")} at ${m.index}: ${JSON.stringify(out.slice(Math.max(0, m.index - 40), m.index + 40))}`
      : "",
  ).to.equal(null);
}

/** The text with its fenced blocks and code spans left out (their content is shown as it is, never as Markdown). */
export function outsideCodeSpans(md: string): string {
  return md.replace(/^(`{3,})diff\n[\s\S]*?^\1$/gm, "").replace(/(?<![`\\])(`+)(?!`)[^\n]*?(?<!`)\1(?!`)/g, "");
}

/** Cells of a table row, split at the pipes Markdown reads as cell borders (not the escaped ones). */
export function cells(row: string): string[] {
  return row.split(/(?<!\\)\|/).slice(1, -1);
}
