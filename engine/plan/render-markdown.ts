import type { Plan } from "./model.js";
import { fieldLine, label, short, summaryLine } from "./render-text.js";

const ICON = { create: "➕ create", update: "✏️ update", delete: "🗑️ delete" } as const;

/** The plan as a pull-request comment. Rendered from the JSON form only. */
export function renderPlanMarkdown(plan: Plan): string {
  const out: string[] = [];
  const base = plan.base ? `\`${esc(plan.base.ref)}\` (${short(plan.base.revision)})` : "nothing";
  out.push("### VRSky plan", "", `${base} → \`${esc(plan.head.ref)}\` (${short(plan.head.revision)})`, "");
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

function esc(s: string): string {
  return s.replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`);
}
