import type { Command } from "commander";
import { loadCommitted, loadFixtures, loadWorktree } from "../../git/load-revision.js";
import { runFixtures, type CaseResult, type TestReport } from "../../pipeline/fixtures/run.js";
import type { Difference } from "../../pipeline/fixtures/compare.js";
import { paint, Progress, renderFindings, useColor } from "../output.js";
import { formatOption, repoOption, type CliContext } from "../context.js";

export function registerTest(program: Command, ctx: CliContext): void {
  program
    .command("test")
    .description("Run the integrations' fixture tests (*.test.yaml) offline through the steps and routing")
    .addOption(repoOption())
    .option("--ref <ref>", "branch, tag or commit to test", "HEAD")
    .option("--worktree", "test the working tree as it is on disk instead (for editing tests)", false)
    .addOption(formatOption(["text", "json"]))
    .addHelpText(
      "after",
      "\nExit codes: 0 every case passed, 1 a case failed or a file has errors, 2 usage or environment error.",
    )
    .action(async (opts: { repo: string; ref: string; worktree: boolean; format: "text" | "json" }) => {
      const progress = new Progress(ctx.stderr);
      progress.step(`reading ${opts.worktree ? "working tree" : opts.ref}…`);
      const loaded = opts.worktree ? await loadWorktree(opts.repo) : await loadCommitted(opts.repo, opts.ref);
      const fixtures = await loadFixtures(opts.repo, loaded);
      progress.done();
      const report = runFixtures(fixtures, {
        ref: loaded.ref,
        revision: loaded.revision,
        findings: loaded.state.findings,
      });
      ctx.exitCode = report.passed ? 0 : 1;
      if (opts.format === "json") ctx.stdout.write(JSON.stringify(report, null, 2) + "\n");
      else ctx.stdout.write(reportText(report, useColor(ctx.stdout)));
    });
}

/** The text view of the JSON report: findings, then each file's cases, a diff under each failed one, a summary. */
export function reportText(r: TestReport, color: boolean): string {
  const lines: string[] = [];
  if (r.errors.length > 0) lines.push(renderFindings(r.errors, color));
  let file = "";
  for (const c of r.results) {
    if (c.file !== file) {
      file = c.file;
      lines.push(`${paint(color, 1, c.file)}  ${paint(color, 2, c.integration)}`);
    }
    lines.push(...caseLines(c, color));
  }
  if (r.results.length > 0) lines.push("");
  lines.push(summaryLine(r, color));
  return lines.join("\n") + "\n";
}

function caseLines(c: CaseResult, color: boolean): string[] {
  if (c.status === "passed") return [`  ${paint(color, 32, "✓")} ${c.case}`];
  if (c.status === "skipped")
    return [`  ${paint(color, 2, `- ${c.case} (skipped: the integration's manifest has errors)`)}`];
  const out = [`  ${paint(color, 31, "✗")} ${c.case}  ${paint(color, 2, `(${c.file}:${c.line})`)}`];
  for (const d of c.differences) {
    out.push(`      ${paint(color, 1, d.path || "(the integration)")}`);
    out.push(`        ${paint(color, 32, "expected:")} ${value(d, "expected")}`);
    out.push(`        ${paint(color, 31, "actual:  ")} ${value(d, "actual")}`);
  }
  return out;
}

const MAX_VALUE = 300;

/** Data (bodies, headers, ids) as JSON; the descriptions of outcomes, steps and codes as they are. */
function value(d: Difference, side: "expected" | "actual"): string {
  const v = d[side];
  if (v === undefined) return "nothing";
  const described = d.path === "" || d.path === "outcome" || /^(dead|filtered)\./.test(d.path);
  const text = described && typeof v === "string" ? v : JSON.stringify(v);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

function summaryLine(r: TestReport, color: boolean): string {
  const at = r.revision === "worktree" ? "the working tree" : `${r.ref} (${r.revision.slice(0, 12)})`;
  const s = r.summary;
  const errors = r.errors.length === 0 ? "" : `, ${r.errors.length} error${r.errors.length === 1 ? "" : "s"}`;
  if (s.files === 0)
    return `${r.passed ? "✓" : paint(color, 31, "✗")} No fixture tests at ${at}${errors}: add integrations/<tenant>/<name>.test.yaml (docs/testing.md).`;
  const counts = `${s.passed} passed, ${s.failed} failed${s.skipped ? `, ${s.skipped} skipped` : ""}`;
  const files = `${s.files} fixture file${s.files === 1 ? "" : "s"}`;
  return r.passed
    ? `${paint(color, 32, "✓")} ${s.cases} case${s.cases === 1 ? "" : "s"} passed in ${files} at ${at}.`
    : `${paint(color, 31, "✗")} ${counts}${errors} in ${files} at ${at}.`;
}
