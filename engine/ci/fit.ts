/**
 * Fitting Markdown into a size limit (pure): GitHub refuses a comment over 65,536 characters and a check run's
 * text over 65,535. A long text is cut between lines, never inside one; a code fence or a `<details>` block left
 * open by the cut is closed, and a visible note says how much is shown and where the rest is.
 */

/** GitHub's limit of an issue or pull-request comment body, in characters (UTF-16 code units, as JS counts). */
export const COMMENT_LIMIT = 65_536;
/** GitHub's limit of a check run's `output.summary` and `output.text`. */
export const CHECK_OUTPUT_LIMIT = 65_535;

/** The note that ends a cut text: shown N of M lines, and where the rest is. */
export type CutNote = (shown: number, total: number) => string;

/**
 * The text if it fits in `limit`; otherwise its longest prefix of whole lines that fits together with the
 * closing of open fences and `<details>` and the note. The result is never longer than `limit`.
 */
export function fitMarkdown(text: string, limit: number, note: CutNote): string {
  if (text.length <= limit) return text;
  const lines = text.replace(/\n$/, "").split("\n");
  let used = 0;
  let fence: string | null = null;
  let details = 0;
  let best = { count: 0, tail: closing(null, 0) + note(0, lines.length) };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    used += line.length + 1;
    const f = /^(`{3,}|~{3,})/.exec(line);
    if (f) {
      if (fence === null) fence = f[1]!;
      else if (line.trim() === fence[0]!.repeat(line.trim().length) && line.trim().length >= fence.length) fence = null;
    } else if (fence === null) {
      if (/^<details>/.test(line)) details++;
      if (/^<\/details>/.test(line)) details = Math.max(0, details - 1);
    }
    const tail = closing(fence, details) + note(i + 1, lines.length);
    if (used + tail.length > limit) break;
    best = { count: i + 1, tail };
  }
  const head = lines.slice(0, best.count).join("\n");
  const out = (best.count > 0 ? head + "\n" : "") + best.tail;
  // The note alone may exceed a tiny limit; never return more than asked.
  return out.length <= limit ? out : out.slice(0, limit);
}

function closing(fence: string | null, details: number): string {
  let s = fence === null ? "" : `${fence}\n`;
  for (let i = 0; i < details; i++) s += "\n</details>\n";
  return s;
}
