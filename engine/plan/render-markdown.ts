import type { Plan } from "./model.js";
import { fieldLine, label, short, summaryLine } from "./render-text.js";

const ICON = { create: "➕ create", update: "✏️ update", delete: "🗑️ delete" } as const;

/** The plan as a pull-request comment. Rendered from the JSON form only. */
export function renderPlanMarkdown(plan: Plan): string {
  const out: string[] = [];
  const base = plan.base ? `${code(plan.base.ref)} (${short(plan.base.revision)})` : "nothing";
  out.push("### VRSky plan", "", `${base} → ${code(plan.head.ref)} (${short(plan.head.revision)})`, "");
  out.push(`**${summaryLine(plan)}**`, "");
  if (plan.changes.length === 0) return out.join("\n") + "\n";
  out.push("| Action | Resource | Reason |", "| --- | --- | --- |");
  for (const c of plan.changes) out.push(`| ${ICON[c.action]} | ${esc(label(c))} | ${esc(c.reason)} |`);
  const updates = plan.changes.filter((c) => c.values.length > 0);
  if (updates.length > 0) {
    out.push("", "<details><summary>Changed fields</summary>", "");
    for (const c of updates) {
      out.push(`**${esc(label(c))}**`, "", "```diff");
      for (const v of c.values) out.push(`! ${fieldLine(v).replace(/```/g, "` ` `")}`);
      out.push("```", "");
    }
    out.push("</details>");
  }
  return out.join("\n") + "\n";
}

/** A code span that holds any text: fenced with more backticks than the text contains in a row. */
function code(s: string): string {
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((m) => m.length));
  const fence = "`".repeat(longest + 1);
  const pad = s.startsWith("`") || s.endsWith("`") ? " " : "";
  return `${fence}${pad}${s.replace(/\n/g, " ")}${pad}${fence}`;
}

function esc(s: string): string {
  return s.replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`);
}
