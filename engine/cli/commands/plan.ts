import type { Command } from "commander";
import { loadCommitted } from "../../git/load-revision.js";
import { ParseCache } from "../../manifests/load.js";
import { buildPlan } from "../../plan/diff.js";
import { renderInvalidHeadMarkdown, renderPlanMarkdown } from "../../plan/render-markdown.js";
import { renderPlanText } from "../../plan/render-text.js";
import { printable } from "../../text/printable.js";
import { Progress, renderFindings, useColor } from "../output.js";
import { formatOption, repoOption, type CliContext } from "../context.js";

export function registerPlan(program: Command, ctx: CliContext): void {
  program
    .command("plan")
    .description("Show what would change between two committed revisions")
    .addOption(repoOption())
    .requiredOption("--base <ref>", "the revision to compare against (e.g. main)")
    .option("--head <ref>", "the proposed revision", "HEAD")
    .addOption(formatOption(["text", "json", "markdown"]))
    .option(
      "--detailed-exitcode",
      "exit 0 when nothing changes, 1 on an error, 2 when something changes (as Terraform)",
      false,
    )
    .addHelpText(
      "after",
      "\nExit codes: 0 plan shown, 1 the head revision is invalid (its errors are shown, no plan), 2 usage or environment error." +
        "\nWith --detailed-exitcode: 0 no changes, 1 an error (an invalid head, usage or environment), 2 changes.",
    )
    .action(
      async (opts: {
        repo: string;
        base: string;
        head: string;
        format: "text" | "json" | "markdown";
        detailedExitcode: boolean;
      }) => {
        const progress = new Progress(ctx.stderr);
        const cache = new ParseCache();
        progress.step(`reading ${opts.head}…`);
        const head = await loadCommitted(opts.repo, opts.head, { cache });
        if (head.state.findings.length > 0) {
          progress.done();
          ctx.exitCode = 1;
          if (opts.format === "json") {
            ctx.stdout.write(
              JSON.stringify(
                { valid: false, ref: head.ref, revision: head.revision, errors: head.state.findings },
                null,
                2,
              ) + "\n",
            );
          } else if (opts.format === "markdown") {
            ctx.stdout.write(renderInvalidHeadMarkdown(head, head.state.findings));
          } else {
            ctx.stdout.write(renderFindings(head.state.findings, useColor(ctx.stdout)));
            ctx.stdout.write(
              `\nThe head revision ${printable(head.ref)} (${head.revision.slice(0, 12)}) is invalid: no plan.\n`,
            );
          }
          return;
        }
        progress.step(`reading ${opts.base}…`);
        const base = await loadCommitted(opts.repo, opts.base, { cache });
        progress.done();
        // An invalid base still yields a plan, against its valid resources; say so, since the reconciler
        // would not have applied that base at all.
        if (base.state.findings.length > 0) {
          ctx.stderr.write(
            `warning: the base revision ${printable(base.ref)} (${base.revision.slice(0, 12)}) has ${base.state.findings.length} validation error(s); the plan compares against its valid resources only\n`,
          );
        }
        const plan = buildPlan(
          { ref: base.ref, revision: base.revision },
          { ref: head.ref, revision: head.revision },
          base.state.resources,
          head.state.resources,
        );
        const changes = plan.summary.create + plan.summary.update + plan.summary.delete;
        ctx.exitCode = opts.detailedExitcode && changes > 0 ? 2 : 0;
        if (opts.format === "json") ctx.stdout.write(JSON.stringify(plan, null, 2) + "\n");
        else if (opts.format === "markdown") ctx.stdout.write(renderPlanMarkdown(plan));
        else ctx.stdout.write(renderPlanText(plan, { color: useColor(ctx.stdout) }));
      },
    );
}
