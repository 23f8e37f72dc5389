import { printable } from "../text/printable.js";
import type { Change, FieldChange, Plan } from "./model.js";

export interface TextStyle {
  color: boolean;
}

const SYMBOL = { create: "+", update: "~", delete: "-" } as const;
const COLOR = { create: 32, update: 33, delete: 31 } as const;

/**
 * The plan for a terminal. Rendered from the JSON form only, so it cannot say what the JSON does not. Every text
 * that comes from a commit (refs, names, field paths and values, reasons) is printed through `printable`: a commit
 * cannot move the cursor, clear the screen or fake lines of the plan.
 */
export function renderPlanText(plan: Plan, style: TextStyle = { color: false }): string {
  const paint = (code: number, s: string) => (style.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const lines: string[] = [];
  const base = plan.base ? `${printable(plan.base.ref)} (${short(plan.base.revision)})` : "nothing";
  lines.push(`Plan: ${base} → ${printable(plan.head.ref)} (${short(plan.head.revision)})`, "");
  if (plan.changes.length === 0) {
    lines.push("No changes. The head revision matches the base.");
  } else {
    const width = Math.min(60, Math.max(...plan.changes.map((c) => label(c).length)));
    for (const c of plan.changes) {
      lines.push(
        `  ${paint(COLOR[c.action], `${SYMBOL[c.action]} ${label(c).padEnd(width)}`)}  ${printable(c.reason)}`,
      );
      for (const v of c.values) lines.push(`      ${fieldLine(v)}`);
    }
  }
  lines.push("", summaryLine(plan));
  return lines.join("\n") + "\n";
}

export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const n = s.create + s.update + s.delete;
  return `${n} change${n === 1 ? "" : "s"}: ${s.create} to create, ${s.update} to update, ${s.delete} to delete (${s.unchanged} unchanged).`;
}

/** `Tenant <name>` or `Integration <tenant>/<name>`, control characters escaped. */
export function label(c: Change): string {
  return printable(c.kind === "Tenant" ? `Tenant ${c.name}` : `Integration ${c.tenant}/${c.name}`);
}

/** `path: before → after` on one line, control characters escaped. */
export function fieldLine(v: FieldChange): string {
  if (!("before" in v)) return printable(`${v.path}: (none) → ${show(v.after)}`);
  if (!("after" in v)) return printable(`${v.path}: ${show(v.before)} → (removed)`);
  return printable(`${v.path}: ${show(v.before)} → ${show(v.after)}`);
}

/** One line, never cut mid-character: long values are shortened with an ellipsis. */
export function show(v: unknown): string {
  const s = JSON.stringify(v) ?? "null";
  return s.length > 80 ? `${[...s].slice(0, 77).join("")}...` : s;
}

export function short(revision: string): string {
  return printable(revision.slice(0, 12));
}
