import type { Command } from "commander";
import { compareFindings } from "../../errors/finding.js";
import { loadCommitted, loadFixtures, loadWorktree, type LoadedRevision } from "../../git/load-revision.js";
import { isFixturePath } from "../../pipeline/fixtures/paths.js";
import { printable } from "../../text/printable.js";
import { Progress, renderFindings, useColor, paint } from "../output.js";
import { repoOption, formatOption, type CliContext } from "../context.js";
import { findingsGithub, findingsSarif } from "../finding-formats.js";
import { packageVersion } from "../../util/package-root.js";

export function registerValidate(program: Command, ctx: CliContext): void {
  program
    .command("validate")
    .description("Validate the manifests of a committed revision (uncommitted edits never count)")
    .addOption(repoOption())
    .option("--ref <ref>", "branch, tag or commit to validate", "HEAD")
    .option("--worktree", "validate the working tree as it is on disk instead (for editors)", false)
    .addOption(formatOption(["text", "json", "sarif", "github"]))
    .addHelpText("after", "\nExit codes: 0 valid, 1 invalid manifests, 2 usage or environment error.")
    .action(async (opts: { repo: string; ref: string; worktree: boolean; format: ValidateFormat }) => {
      const progress = new Progress(ctx.stderr);
      progress.step(`reading ${opts.worktree ? "working tree" : opts.ref}…`);
      const manifests = opts.worktree ? await loadWorktree(opts.repo) : await loadCommitted(opts.repo, opts.ref);
      // Fixture test files are validated too; their findings join the manifests' in one list.
      const fixtures = await loadFixtures(opts.repo, manifests);
      const findings = [...manifests.state.findings, ...fixtures.findings].sort(compareFindings);
      const loaded = { ...manifests, state: { ...manifests.state, findings } };
      progress.done();
      ctx.exitCode = loaded.state.findings.length === 0 ? 0 : 1;
      const { findings: all } = loaded.state;
      if (opts.format === "json") ctx.stdout.write(JSON.stringify(validationJson(loaded), null, 2) + "\n");
      else if (opts.format === "sarif") {
        const log = findingsSarif(all, { version: packageVersion(), revision: loaded.revision });
        ctx.stdout.write(JSON.stringify(log, null, 2) + "\n");
      } else if (opts.format === "github") {
        // The annotations, then the summary as a plain line of the log.
        ctx.stdout.write(findingsGithub(all) + summaryLine(loaded, false));
      } else ctx.stdout.write(validationText(loaded, useColor(ctx.stdout)));
    });
}

type ValidateFormat = "text" | "json" | "sarif" | "github";

export function validationJson(l: LoadedRevision) {
  return {
    valid: l.state.findings.length === 0,
    ref: l.ref,
    revision: l.revision,
    files: l.state.files,
    resources: {
      tenants: l.state.resources.filter((r) => r.kind === "Tenant").length,
      integrations: l.state.resources.filter((r) => r.kind === "Integration").length,
    },
    errors: l.state.findings,
  };
}

function validationText(l: LoadedRevision, color: boolean): string {
  return (l.state.findings.length > 0 ? renderFindings(l.state.findings, color) + "\n" : "") + summaryLine(l, color);
}

/** One line: valid with what it holds, or how many errors in how many files. */
function summaryLine(l: LoadedRevision, color: boolean): string {
  const j = validationJson(l);
  const at = l.revision === "worktree" ? "the working tree" : `${printable(l.ref)} (${l.revision.slice(0, 12)})`;
  if (j.valid) {
    return `${paint(color, 32, "✓")} ${j.files} manifest file${j.files === 1 ? "" : "s"} valid at ${at}: ${plural(j.resources.tenants, "tenant")}, ${plural(j.resources.integrations, "integration")}.\n`;
  }
  const files = new Set(j.errors.map((e) => e.file)).size;
  // Fixture tests are never applied: errors only in them leave the revision applicable.
  const onlyFixtures = j.errors.every((e) => isFixturePath(e.file));
  return `${paint(color, 31, "✗")} ${j.errors.length} error${j.errors.length === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"} at ${at}. ${onlyFixtures ? "The manifests are valid; the errors are in fixture tests." : "Nothing can be applied from this revision."}\n`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
