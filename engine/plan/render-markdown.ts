import { printable } from "../text/printable.js";
import type { Finding } from "../errors/finding.js";
import type { Plan, Revision } from "./model.js";
import { fieldLine, label, short, summaryLine } from "./render-text.js";

const ICON = { create: "➕ create", update: "✏️ update", delete: "🗑️ delete" } as const;

/**
 * The plan as a pull-request comment. Rendered from the JSON form only. Text from a commit (refs, names, field
 * paths and values, reasons) arrives with its control characters escaped (render-text.ts), so it holds no line
 * break and cannot start a heading or a new table row; here it is escaped once more so that it cannot close a code
 * span or a fence, end a table cell, open HTML, a link or an image, or change emphasis.
 */
export function renderPlanMarkdown(plan: Plan): string {
  const out: string[] = [];
  const base = plan.base ? `${code(plan.base.ref)} (${esc(short(plan.base.revision))})` : "nothing";
  out.push("### VRSky plan", "", `${base} → ${code(plan.head.ref)} (${esc(short(plan.head.revision))})`, "");
  out.push(`**${summaryLine(plan)}**`, "");
  if (plan.changes.length === 0) return out.join("\n") + "\n";
  out.push("| Action | Resource | Reason |", "| --- | --- | --- |");
  for (const c of plan.changes) out.push(`| ${ICON[c.action]} | ${esc(label(c))} | ${esc(printable(c.reason))} |`);
  const updates = plan.changes.filter((c) => c.values.length > 0);
  if (updates.length > 0) {
    out.push("", "<details><summary>Changed fields</summary>", "");
    for (const c of updates) {
      // Every line starts with `! `, so none can close the fence; the fence is still longer than any run of
      // backticks inside, as CommonMark asks.
      const lines = c.values.map((v) => `! ${fieldLine(v)}`);
      const fence = "`".repeat(Math.max(3, longestRun(lines.join("\n")) + 1));
      out.push(`**${esc(label(c))}**`, "", `${fence}diff`, ...lines, fence, "");
    }
    out.push("</details>");
  }
  return out.join("\n") + "\n";
}

/**
 * An invalid head as a pull-request comment: no plan, one table row per finding. File names and messages come from
 * the commit and are escaped like the plan's values.
 */
export function renderInvalidHeadMarkdown(head: Revision, findings: readonly Finding[]): string {
  const out = ["### VRSky plan", ""];
  out.push(`The head revision ${code(head.ref)} (${esc(short(head.revision))}) is invalid: no plan.`, "");
  out.push("| Where | Code | Error |", "| --- | --- | --- |");
  for (const f of findings) {
    out.push(`| ${code(`${f.file}:${f.line}:${f.column}`)} | ${code(f.code)} | ${esc(printable(f.message))} |`);
  }
  return out.join("\n") + "\n";
}

/** A code span that holds any one-line text: fenced with more backticks than the text contains in a row. */
export function code(s: string): string {
  const text = printable(s);
  if (text === "") return "(empty)";
  const fence = "`".repeat(longestRun(text) + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  // A `|` ends a table cell even inside a code span; escaped, it shows as itself.
  return `${fence}${pad}${text.replace(/\|/g, "\\|")}${pad}${fence}`;
}

function longestRun(s: string): number {
  return Math.max(0, ...(s.match(/`+/g) ?? []).map((m) => m.length));
}

/**
 * One line of text with every character Markdown (GitHub's) reads as inline syntax backslash-escaped: code spans,
 * emphasis and strikethrough, links and images, HTML and autolinks, table cells, entities, math and mentions.
 */
export function esc(s: string): string {
  return s.replace(/[\\`*_~[\]<>|&$!@]/g, (c) => `\\${c}`);
}
