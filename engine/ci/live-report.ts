/**
 * The live part of `vrsky pr-check`'s report (pure): what the head would really change against the live state
 * (live-impact.ts) — a summary line, the destructive changes for the top, and a section beside the plan of head
 * against base — or, when the live state could not be read, a line that says so (the check does not fail for it).
 */
import { code, esc } from "../plan/render-markdown.js";
import { short } from "../plan/render-text.js";
import { printable } from "../text/printable.js";
import type { LiveImpact } from "./live-impact.js";

/** Not asked (no `--nats`), planned, or asked but the live state could not be read. */
export type LiveSection =
  { state: "planned"; impact: LiveImpact } | { state: "unavailable"; reason: string } | undefined;

/** Most replica moves listed one by one; the rest are counted. */
const MOVES_LISTED = 50;

export function liveSummaryLine(live: LiveSection): string | undefined {
  if (!live) return undefined;
  if (live.state === "unavailable")
    return `- ⚠️ **Live state:** unavailable (${esc(printable(live.reason))}); the plan compares head and base only`;
  const i = live.impact;
  if (!i.plan.valid) return undefined;
  const s = i.plan.summary;
  const n = s.create + s.update + s.delete;
  const effects = effectsOf(i);
  return `- 🛰️ **Live state:** ${n} change${n === 1 ? "" : "s"} (${s.create} to create, ${s.update} to update, ${s.delete} to delete)${effects.length > 0 ? `: ${effects.join(", ")}` : ""}`;
}

function effectsOf(i: LiveImpact): string[] {
  const p = i.placement;
  const out: string[] = [];
  const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
  if (i.accountsCreated.length > 0) out.push(`${n(i.accountsCreated.length, "account")} created`);
  if (i.accountsDeleted.length > 0) out.push(`${n(i.accountsDeleted.length, "account")} deleted`);
  if (i.accountKeysRotated.length > 0) out.push(`${n(i.accountKeysRotated.length, "account key")} rotated`);
  if (i.instancesScaled.length > 0) out.push(`NATS instances of ${n(i.instancesScaled.length, "tenant")} scaled`);
  if (i.replicasScaled.length > 0) out.push(`replicas of ${n(i.replicasScaled.length, "integration")} scaled`);
  if (p.moved.length > 0) out.push(`${n(p.moved.length, "replica")} moved`);
  if (p.started > 0) out.push(`${n(p.started, "replica")} started`);
  if (p.stopped > 0) out.push(`${n(p.stopped, "replica")} stopped`);
  if (p.restarted > 0) out.push(`${n(p.restarted, "replica")} restarted`);
  if (p.unplaced.length > 0) out.push(`${n(p.unplaced.length, "replica")} unplaced`);
  const streams = i.streamsDeleted.reduce((k, d) => k + d.streams.length, 0);
  if (streams > 0) out.push(`${n(streams, "stream")} deleted`);
  return out;
}

/** The live plan's destructive changes, for the caution block at the top. */
export function liveDestructiveLines(live: LiveSection): string[] {
  if (live?.state !== "planned" || !live.impact.plan.valid) return [];
  const i = live.impact;
  const out: string[] = [];
  for (const t of i.accountsDeleted)
    out.push(`🗑️ live: deletes the NATS account of tenant ${code(t)} (its users are disconnected)`);
  for (const r of i.accountKeysRotated)
    out.push(
      `🔑 live: rotates the account key of tenant ${code(r.tenant)} (generation ${r.from} → ${r.to}): every user of its account is cut off`,
    );
  const streams = i.streamsDeleted.reduce((k, d) => k + d.streams.length, 0);
  if (streams > 0)
    out.push(
      `🗑️ live: deletes ${streams} stream${streams === 1 ? "" : "s"} of ${i.streamsDeleted.length} integration${i.streamsDeleted.length === 1 ? "" : "s"} and their payload stores, with their messages and traces`,
    );
  const g = i.plan.deletionGuard;
  for (const o of g.over) {
    const what = o.what === "tenants" ? "tenants" : "integrations of tenants that stay";
    out.push(
      `⛔ **live deletion guard:** deletes ${o.deletes} of ${o.live} live ${what}; the guard allows ${o.allowed} (share ${o.share})${g.allowedByTrailer ? "; the head commit's trailer permits it" : ""}`,
    );
  }
  return out;
}

/** The section beside the plan of head against base. */
export function renderLiveMarkdown(live: LiveSection): string {
  if (!live) return "";
  const out = ["### Against the live state", ""];
  if (live.state === "unavailable") {
    out.push(
      `The live state could not be read: ${esc(printable(live.reason))}. The plan above compares the head with the base only; the check does not fail for this.`,
    );
    return out.join("\n") + "\n";
  }
  const i = live.impact;
  const applied = i.appliedRevision
    ? `applied from ${esc(short(i.appliedRevision))}`
    : "(no applied revision recorded)";
  out.push(`The live state (${applied}) → the head (${esc(short(i.plan.revision))})`, "");
  if (!i.plan.valid) {
    out.push("The head is invalid: the reconciler would apply nothing of it.");
    return out.join("\n") + "\n";
  }
  const s = i.plan.summary;
  out.push(
    `**${s.create + s.update + s.delete} changes to the live records: ${s.create} to create, ${s.update} to update, ${s.delete} to delete (${s.unchanged} unchanged).**`,
    "",
  );
  const p = i.placement;
  const bullets: string[] = [];
  if (i.operator || i.accountsDeleted.length > 0)
    bullets.push(
      `**Accounts:** ${names("created", i.accountsCreated)}; ${names("deleted", i.accountsDeleted)}${i.accountKeysRotated.length > 0 ? `; key rotated: ${i.accountKeysRotated.map((r) => code(r.tenant)).join(", ")}` : ""}`,
    );
  bullets.push(
    i.instancesScaled.length === 0
      ? "**NATS instances:** none scaled"
      : `**NATS instances scaled:** ${i.instancesScaled.map((c) => `${code(c.tenant)} ${c.from} → ${c.to}`).join(", ")}`,
  );
  if (i.replicasScaled.length > 0)
    bullets.push(
      `**Replicas scaled:** ${i.replicasScaled.map((c) => `${code(c.key)} ${c.from} → ${c.to}`).join(", ")}`,
    );
  bullets.push(
    `**Replicas** (placed over ${p.workers} live worker${p.workers === 1 ? "" : "s"}): ${p.moved.length} moved, ${p.started} started, ${p.stopped} stopped, ${p.restarted} restarted with a new spec${p.unplaced.length > 0 ? `, ${p.unplaced.length} unplaced (${esc(printable(p.unplaced[0]!.reason))})` : ""}`,
  );
  bullets.push(
    i.streamsDeleted.length === 0
      ? "**Streams:** none deleted"
      : `**Streams deleted:** ${i.streamsDeleted.map((d) => `${[...d.streams, d.objectStore].map(code).join(", ")} (traces purged from ${code(d.tracesPurgedFrom)})`).join("; ")}`,
  );
  out.push(...bullets.map((b) => `- ${b}`), "");
  if (i.plan.changes.length > 0) {
    out.push("| Action | Resource | Changed fields |", "| --- | --- | --- |");
    for (const c of i.plan.changes)
      out.push(`| ${c.action} | ${c.kind} ${code(c.key)} | ${c.fields.map(code).join(", ") || "—"} |`);
    out.push("");
  }
  if (p.moved.length > 0) {
    out.push("<details><summary>Replicas moved</summary>", "");
    for (const m of p.moved.slice(0, MOVES_LISTED)) out.push(`- ${code(m.replica)}: ${code(m.from)} → ${code(m.to)}`);
    if (p.moved.length > MOVES_LISTED) out.push(`- … and ${p.moved.length - MOVES_LISTED} more`);
    out.push("", "</details>", "");
  }
  return out.join("\n");
}

function names(what: string, list: readonly string[]): string {
  return list.length === 0 ? `none ${what}` : `${what} ${list.map(code).join(", ")}`;
}
