/**
 * The report of `vrsky pr-check` (pure, no I/O): from a head's findings, its fixture tests and the plan of head
 * against base, the Markdown for the pull request (destructive changes first), the check run's conclusion, title,
 * summary and line annotations, and the sticky comment's body. docs/ci.md describes it.
 */
import { CODES } from "../errors/codes.js";
import type { Finding } from "../errors/finding.js";
import type { TestReport, CaseResult } from "../pipeline/fixtures/run.js";
import type { OverLimit } from "../plan/deletion-guard.js";
import type { Change, Plan, Revision } from "../plan/model.js";
import { code, esc, renderInvalidHeadMarkdown, renderPlanMarkdown } from "../plan/render-markdown.js";
import { label, short, summaryLine } from "../plan/render-text.js";
import { printable } from "../text/printable.js";
import { CHECK_OUTPUT_LIMIT, COMMENT_LIMIT, fitMarkdown } from "./fit.js";
import { liveDestructiveLines, liveSummaryLine, renderLiveMarkdown, type LiveSection } from "./live-report.js";

/** GitHub accepts at most 50 annotations per check-run request; more are sent in batches that append. */
export const ANNOTATIONS_PER_REQUEST = 50;
/** Annotation messages are cut to this many characters (GitHub's limit is 64 KiB). */
const ANNOTATION_MESSAGE_MAX = 4_000;
/** The start of the hidden marker that identifies the sticky comment; the full marker carries the head sha. */
export const MARKER_PREFIX = "<!-- vrsky-plan";

export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: "failure";
  title: string;
  message: string;
}

export interface PrInput {
  head: Revision;
  base: Revision;
  /** The fixture test report of the head: its `errors` are every finding of the manifests and fixture files. */
  tests: TestReport;
  /** The plan of head against base; null when the head is invalid. */
  plan: Plan | null;
  /** Deletion-guard limits the plan exceeds (computed against the base as the live state). */
  guard: readonly OverLimit[];
  /** The head commit's message has the `Vrsky-Allow-Prune: true` trailer. */
  pruneTrailer?: boolean;
  /** The head against the live state (`--nats`): absent when not asked. */
  live?: LiveSection;
}

export interface PrReport {
  conclusion: "success" | "failure";
  /** The check run's title: one line. */
  title: string;
  /** The verdict, destructive changes and counts: the top of the comment and the check run's summary. */
  summary: string;
  /** The whole report (summary, failing tests, plan): the plan file's content. */
  markdown: string;
  annotations: Annotation[];
}

export function buildPrReport(input: PrInput): PrReport {
  const { tests, plan } = input;
  const failing = tests.results.filter((r) => r.status === "failed");
  const conclusion = tests.passed ? "success" : "failure";
  const summary = summaryMarkdown(input, failing.length);
  const details: string[] = [];
  if (failing.length > 0) details.push(failingMarkdown(failing));
  details.push(plan ? renderPlanMarkdown(plan) : renderInvalidHeadMarkdown(input.head, tests.errors));
  if (plan && input.live) details.push(renderLiveMarkdown(input.live));
  return {
    conclusion,
    title: title(input, failing.length),
    summary,
    markdown: [summary, ...details].join("\n"),
    annotations: [...tests.errors.filter((f) => f.file !== "").map(findingAnnotation), ...failing.map(caseAnnotation)],
  };
}

function title(input: PrInput, failed: number): string {
  const errors = input.tests.errors.length;
  if (errors > 0 || failed > 0) {
    const parts = [];
    if (errors > 0) parts.push(`${errors} error${errors === 1 ? "" : "s"}`);
    if (failed > 0) parts.push(`${failed} failing fixture test${failed === 1 ? "" : "s"}`);
    return parts.join(", ");
  }
  const p = input.plan!;
  const n = p.summary.create + p.summary.update + p.summary.delete;
  const destructive =
    destructiveLines(p, input.guard, input.pruneTrailer).length + liveDestructiveLines(input.live).length;
  return `Valid: ${n} change${n === 1 ? "" : "s"}${destructive > 0 ? ` (${destructive} destructive)` : ""}`;
}

function summaryMarkdown(input: PrInput, failed: number): string {
  const { tests, plan } = input;
  const out = ["## VRSky pull-request check", ""];
  out.push(
    `${code(input.base.ref)} (${esc(short(input.base.revision))}) → ${code(input.head.ref)} (${esc(short(input.head.revision))})`,
    "",
  );
  const destructive = plan
    ? [...destructiveLines(plan, input.guard, input.pruneTrailer), ...liveDestructiveLines(input.live)]
    : [];
  if (destructive.length > 0) {
    out.push("> [!CAUTION]", "> **Destructive changes**", ">");
    for (const line of destructive) out.push(`> - ${line}`);
    out.push("");
  }
  const errors = tests.errors.length;
  out.push(
    errors === 0
      ? "- ✅ **Manifests:** valid"
      : `- ❌ **Manifests:** ${errors} error${errors === 1 ? "" : "s"} (annotated on their lines)`,
  );
  const s = tests.summary;
  if (s.cases === 0) out.push("- ➖ **Fixture tests:** none");
  else if (failed === 0 && s.skipped === 0)
    out.push(`- ✅ **Fixture tests:** ${s.passed} passed in ${s.files} file${s.files === 1 ? "" : "s"}`);
  else
    out.push(
      `- ${failed > 0 ? "❌" : "➖"} **Fixture tests:** ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped in ${s.files} file${s.files === 1 ? "" : "s"}`,
    );
  out.push(plan ? `- 📋 **Plan:** ${summaryLine(plan)}` : "- 📋 **Plan:** none (the head is invalid)");
  const live = plan ? liveSummaryLine(input.live) : undefined;
  if (live) out.push(live);
  return out.join("\n") + "\n";
}

/**
 * The destructive changes of a plan, one Markdown line each: tenants and integrations deleted (an integration
 * that goes with its tenant is counted under the tenant), then the deletion guard's verdict when it would stop
 * the reconciler. An account key rotation is not visible in a plan of two revisions.
 */
export function destructiveLines(plan: Plan, guard: readonly OverLimit[], pruneTrailer = false): string[] {
  const deletes = plan.changes.filter((c) => c.action === "delete");
  const goneTenants = new Set(deletes.filter((c) => c.kind === "Tenant").map((c) => c.name));
  const out: string[] = [];
  for (const c of deletes) {
    if (c.kind === "Integration" && goneTenants.has(c.tenant ?? "")) continue;
    out.push(`🗑️ deletes ${esc(label(c))}${c.kind === "Tenant" ? withIntegrations(c, deletes) : ""}`);
  }
  for (const o of guard) {
    const what = o.what === "tenants" ? "tenants" : "integrations of tenants that stay";
    const verdict = pruneTrailer
      ? "The head commit has the trailer `Vrsky-Allow-Prune: true`; the reconciler reads it from the commit it applies (keep it in the merge or squash commit's message)."
      : "The reconciler applies nothing of this revision unless its commit has the trailer `Vrsky-Allow-Prune: true`.";
    out.push(
      `⛔ **deletion guard:** deletes ${o.deletes} of ${o.live} ${what}; the guard allows ${o.allowed} (share ${o.share}). ${verdict}`,
    );
  }
  return out;
}

function withIntegrations(tenant: Change, deletes: readonly Change[]): string {
  const n = deletes.filter((c) => c.kind === "Integration" && c.tenant === tenant.name).length;
  return n === 0 ? "" : ` and its ${n} integration${n === 1 ? "" : "s"}`;
}

function failingMarkdown(failing: readonly CaseResult[]): string {
  const out = [
    "### Failing fixture tests",
    "",
    "| Where | Integration | Case | First difference |",
    "| --- | --- | --- | --- |",
  ];
  for (const c of failing) {
    const d = c.differences[0];
    const diff = d ? `${d.path || "(the integration)"}: expected ${show(d.expected)}, got ${show(d.actual)}` : "";
    out.push(
      `| ${code(`${c.file}:${c.line}`)} | ${esc(printable(c.integration))} | ${esc(printable(c.case))} | ${esc(printable(diff))} |`,
    );
  }
  return out.join("\n") + "\n";
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = typeof v === "string" ? v : (JSON.stringify(v) ?? "null");
  return s.length > 120 ? `${s.slice(0, 119)}…` : s;
}

function findingAnnotation(f: Finding): Annotation {
  const line = Math.max(1, f.line);
  const a: Annotation = {
    path: f.file,
    start_line: line,
    end_line: line,
    annotation_level: "failure",
    title: `${f.code}: ${CODES[f.code].title}`,
    message: cut(printable(f.path ? `${f.path}: ${f.message}` : f.message)),
  };
  // Columns only on a one-line annotation, as GitHub asks.
  if (f.line >= 1 && f.column >= 1) {
    a.start_column = f.column;
    a.end_column = f.column;
  }
  return a;
}

function caseAnnotation(c: CaseResult): Annotation {
  const lines = c.differences.map(
    (d) => `${d.path || "(the integration)"}: expected ${show(d.expected)}, actual ${show(d.actual)}`,
  );
  return {
    path: c.file,
    start_line: Math.max(1, c.line),
    end_line: Math.max(1, c.line),
    annotation_level: "failure",
    title: cut(printable(`fixture test failed: ${c.case}`)),
    message: cut(printable(lines.join("\n")) || "the case failed"),
  };
}

function cut(s: string): string {
  return s.length > ANNOTATION_MESSAGE_MAX ? `${s.slice(0, ANNOTATION_MESSAGE_MAX - 1)}…` : s;
}

/** The annotations in requests of at most 50; always at least one request (the one that completes the run). */
export function annotationBatches(annotations: readonly Annotation[], size = ANNOTATIONS_PER_REQUEST): Annotation[][] {
  const out: Annotation[][] = [];
  for (let i = 0; i < annotations.length; i += size) out.push(annotations.slice(i, i + size));
  return out.length > 0 ? out : [[]];
}

/** The hidden marker of the sticky comment, with the head sha the comment reports on. */
export function marker(headSha: string): string {
  return `${MARKER_PREFIX} head=${headSha} -->`;
}

/** The head sha in a comment's marker, or null when the body is not the sticky comment. */
export function markerSha(body: string | null | undefined): string | null {
  const m = /^<!-- vrsky-plan head=([0-9a-f]{7,64}) -->/.exec(body ?? "");
  return m ? m[1]! : null;
}

/** The sticky comment: the marker, then the report cut between lines to fit GitHub's limit, the cut said. */
export function commentBody(report: PrReport, headSha: string, planFile: string): string {
  const head = marker(headSha) + "\n";
  return head + fitMarkdown(report.markdown, COMMENT_LIMIT - head.length, cutNote(planFile));
}

/** The check run's summary and text, each within GitHub's limit. */
export function checkOutput(report: PrReport, planFile: string): { title: string; summary: string; text: string } {
  const note = cutNote(planFile);
  return {
    title: report.title,
    summary: fitMarkdown(report.summary, CHECK_OUTPUT_LIMIT, note),
    text: fitMarkdown(report.markdown, CHECK_OUTPUT_LIMIT, note),
  };
}

function cutNote(planFile: string): (shown: number, total: number) => string {
  return (shown, total) =>
    `\n---\n\n✂️ **The report is too long for one comment: ${shown} of ${total} lines shown.** The full report is the file ${code(planFile)} (the workflow run's artifact).\n`;
}
