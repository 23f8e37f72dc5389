import type { Command } from "commander";
import { appendFile, readFile, writeFile } from "node:fs/promises";
import {
  abortCheck,
  createClient,
  finishCheck,
  GitHubApiError,
  redact,
  startCheck,
  upsertComment,
  type PullRequest,
} from "../../ci/github.js";
import { pullRequestOf, type GitHubEnv } from "../../ci/pr-event.js";
import { buildPrReport, type PrReport } from "../../ci/pr-report.js";
import { errorMessage, isVrskyError, VrskyError } from "../../errors/errors.js";
import { compareFindings } from "../../errors/finding.js";
import { loadCommitted, loadFixtures } from "../../git/load-revision.js";
import { ParseCache } from "../../manifests/load.js";
import { overDeletionLimits, type GuardedWrite } from "../../plan/deletion-guard.js";
import { allowsPrune } from "../../git/revision.js";
import { checkReadOnlyCreds } from "../../accounts/reader-user.js";
import { liveImpact } from "../../ci/live-impact.js";
import type { LiveSection } from "../../ci/live-report.js";
import { closeNats, connectNats } from "../../nats/connect.js";
import { readLiveState, type LiveState } from "../../state/live-state.js";
import { buildPlan } from "../../plan/diff.js";
import type { Plan } from "../../plan/model.js";
import { runFixtures } from "../../pipeline/fixtures/run.js";
import { Progress } from "../output.js";
import { repoOption, type CliContext } from "../context.js";

interface Opts {
  repo: string;
  base?: string;
  head?: string;
  github: boolean;
  planFile: string;
  checkName: string;
  commentAuthor?: string;
  maxDeleteShare: string;
  maxDeleteIntegrationShare: string;
  nats?: string;
  creds?: string;
}

/** Where the live state is read from (`--nats`, `--creds`), if anywhere. */
interface LiveSource {
  url: string;
  creds?: string;
}

/** The longest the live state's read may take before the check reports without it. */
const LIVE_READ_TIMEOUT_MS = 30_000;

export function registerPrCheck(program: Command, ctx: CliContext, env: GitHubEnv = process.env): void {
  program
    .command("pr-check")
    .description(
      "Check a pull request: validate the head, run the fixture tests, plan head against base; report as a GitHub check run and one sticky comment",
    )
    .addOption(repoOption())
    .option("--base <ref>", "without GitHub: the revision to compare against (e.g. origin/main)")
    .option("--head <ref>", "without GitHub: the proposed revision (default HEAD)")
    .option("--no-github", "print the report as Markdown instead of reporting to GitHub (also when GITHUB_* is unset)")
    .option("--plan-file <path>", "where to write the full report, for a workflow artifact", "vrsky-plan.md")
    .option("--check-name <name>", "the check run's name", "vrsky")
    .option("--comment-author <login>", "the login that writes the comment (default: any bot, as the workflow token)")
    .option("--max-delete-share <fraction>", "the deletion guard's tenant share, as `reconcile`'s", "0.5")
    .option("--max-delete-integration-share <fraction>", "the deletion guard's integration share", "0.5")
    .option("--nats <url>", "also plan the head against the live state of this NATS (read-only: see --creds)")
    .option(
      "--creds <file>",
      "read-only platform credentials for --nats, from `vrsky creds --reader` (creds that can write are refused)",
    )
    .addHelpText(
      "after",
      "\nIn GitHub Actions (GITHUB_EVENT_PATH set) it reads the pull request from the event and needs GITHUB_TOKEN" +
        "\nwith `checks: write` and `pull-requests: write`. See docs/ci.md." +
        "\nExit codes: 0 valid and every fixture test passed, 1 invalid manifests or a failing fixture test," +
        "\n2 usage, environment or GitHub API error.",
    )
    .action(async (opts: Opts) => {
      const limits = { tenants: share(opts.maxDeleteShare), integrations: share(opts.maxDeleteIntegrationShare) };
      const live = liveSource(ctx, opts);
      const github = opts.github && !!env.GITHUB_EVENT_PATH;
      if (!github) {
        if (!opts.base)
          throw new VrskyError(
            "VRS_USAGE",
            "--base <ref> is required without GitHub (GITHUB_EVENT_PATH unset or --no-github)",
          );
        const report = await check(ctx, opts.repo, opts.base, opts.head ?? "HEAD", limits, live);
        await writeFile(opts.planFile, report.markdown);
        ctx.stdout.write(report.markdown);
        ctx.exitCode = report.conclusion === "success" ? 0 : 1;
        return;
      }
      if (opts.base || opts.head)
        throw new VrskyError(
          "VRS_USAGE",
          "--base and --head come from the pull-request event in GitHub mode; use --no-github to pass them",
        );
      const token = env.GITHUB_TOKEN ?? "";
      if (token === "")
        throw new VrskyError(
          "VRS_USAGE",
          "GITHUB_TOKEN is not set: pass `env: GITHUB_TOKEN: ${{ github.token }}` (docs/ci.md), or use --no-github",
        );
      const pr = await readEvent(env);
      const octokit = createClient({
        token,
        apiUrl: env.GITHUB_API_URL || "https://api.github.com",
        onWait: (ms, what) => ctx.stderr.write(`GitHub rate limit on ${what}: retrying in ${Math.ceil(ms / 1000)}s\n`),
      });
      try {
        const run = await startCheck(octokit, token, pr, opts.checkName);
        let report: PrReport;
        try {
          report = await check(ctx, opts.repo, pr.baseSha, pr.headSha, limits, live);
        } catch (e) {
          // The run must not stay "in progress": fail it with the reason, then report the error as usual.
          const why = isVrskyError(e) ? e.explain() : e instanceof Error ? e.message : String(e);
          await abortCheck(octokit, token, pr, run, why).catch(() => undefined);
          throw e;
        }
        await writeFile(opts.planFile, report.markdown);
        const batches = await finishCheck(octokit, token, pr, run, report, opts.planFile);
        const comment = await upsertComment(octokit, token, pr, report, opts.planFile, opts.commentAuthor);
        ctx.stdout.write(`vrsky pr-check: ${report.title} (${report.conclusion})\n`);
        ctx.stdout.write(
          `check run ${run.id} on ${pr.headSha.slice(0, 12)}: ${report.annotations.length} annotation(s) in ${batches} request(s)${run.url ? ` ${run.url}` : ""}\n`,
        );
        ctx.stdout.write(
          comment.result === "stale"
            ? `comment not written: the pull request's head is no longer ${pr.headSha.slice(0, 12)} (a newer run reports on it)\n`
            : `comment ${comment.result}${comment.url ? ` ${comment.url}` : ""}\n`,
        );
        ctx.stdout.write(`full report: ${opts.planFile}\n`);
        if (env.GITHUB_STEP_SUMMARY) await appendFile(env.GITHUB_STEP_SUMMARY, report.summary);
        ctx.exitCode = report.conclusion === "success" ? 0 : 1;
      } catch (e) {
        if (isVrskyError(e)) throw e;
        if (!(e instanceof GitHubApiError)) throw new Error(redact(e instanceof Error ? e.message : String(e), token));
        ctx.stderr.write(`vrsky: ${redact(e.message, token)}\n`);
        ctx.exitCode = 2;
      }
    });
}

function share(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new VrskyError("VRS_USAGE", `a deletion share must be between 0 and 1, not '${v}'`);
  return n;
}

/** The live state's source, its creds checked to be read-only before anything else is done. */
function liveSource(ctx: CliContext, opts: Opts): LiveSource | undefined {
  if (opts.nats === undefined) {
    if (opts.creds !== undefined)
      throw new VrskyError("VRS_USAGE", "--creds is for --nats (the live state): give --nats <url> as well");
    return undefined;
  }
  if (opts.creds !== undefined) checkReadOnlyCreds(opts.creds);
  else
    ctx.stderr.write(
      "warning: --nats without --creds: the connection is not known to be read-only; in operator mode pass the creds of `vrsky creds --reader`\n",
    );
  return { url: opts.nats, creds: opts.creds };
}

/** The live state, or why it cannot be read now (NATS away, no state there, a refused permission, a timeout). */
async function readLive(source: LiveSource): Promise<LiveState | { unavailable: string }> {
  let timer: NodeJS.Timeout | undefined;
  let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${LIVE_READ_TIMEOUT_MS / 1000}s`)),
      LIVE_READ_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([
      (async () => {
        nc = await connectNats({ url: source.url, creds: source.creds, name: "vrsky-pr-check" });
        return await readLiveState(nc);
      })(),
      timeout,
    ]);
  } catch (e) {
    return { unavailable: errorMessage(e) };
  } finally {
    clearTimeout(timer);
    if (nc) await closeNats(nc);
  }
}

async function readEvent(env: GitHubEnv): Promise<PullRequest> {
  let event: unknown;
  try {
    event = JSON.parse(await readFile(env.GITHUB_EVENT_PATH!, "utf8"));
  } catch (e) {
    throw new VrskyError("VRS_USAGE", `cannot read the event file GITHUB_EVENT_PATH: ${(e as Error).message}`);
  }
  const pr = pullRequestOf(event, env.GITHUB_REPOSITORY);
  if (typeof pr === "string") throw new VrskyError("VRS_USAGE", pr);
  return pr;
}

/** Validates the head, runs its fixture tests and plans it against the base, as `validate`, `test` and `plan` do. */
async function check(
  ctx: CliContext,
  repo: string,
  baseRef: string,
  headRef: string,
  limits: { tenants: number; integrations: number },
  liveFrom?: LiveSource,
): Promise<PrReport> {
  // Read while the commits are read: the two wait on different things.
  const liveRead = liveFrom ? readLive(liveFrom) : undefined;
  const progress = new Progress(ctx.stderr);
  const cache = new ParseCache();
  progress.step(`reading ${headRef}…`);
  const head = await committed(repo, headRef, cache);
  const fixtures = await loadFixtures(repo, head);
  const tests = runFixtures(fixtures, { ref: head.ref, revision: head.revision, findings: head.state.findings });
  tests.errors.sort(compareFindings);
  progress.step(`reading ${baseRef}…`);
  const base = await committed(repo, baseRef, cache);
  progress.done();
  let plan: Plan | null = null;
  let guard: ReturnType<typeof overDeletionLimits> = [];
  if (head.state.findings.length === 0) {
    plan = buildPlan(
      { ref: base.ref, revision: base.revision },
      { ref: head.ref, revision: head.revision },
      base.state.resources,
      head.state.resources,
    );
    const writes: GuardedWrite[] = plan.changes.map((c) =>
      c.kind === "Tenant"
        ? { action: c.action, bucket: "tenants", key: c.name }
        : { action: c.action, bucket: "integrations", key: `${c.tenant}.${c.name}` },
    );
    const live = {
      tenants: base.state.resources.filter((r) => r.kind === "Tenant").length,
      integrations: base.state.resources.filter((r) => r.kind === "Integration").length,
    };
    guard = overDeletionLimits(writes, live, limits);
  }
  const pruneTrailer = plan !== null && (guard.length > 0 || !!liveRead) && (await allowsPrune(repo, head.revision));
  let live: LiveSection;
  if (liveRead) {
    progress.step("reading the live state…");
    const read = await liveRead;
    progress.done();
    live =
      "unavailable" in read
        ? { state: "unavailable", reason: read.unavailable }
        : {
            state: "planned",
            impact: liveImpact({
              headRevision: head.revision,
              desired: head.state.resources,
              findings: head.state.findings,
              trailer: pruneTrailer,
              limits,
              live: read,
            }),
          };
  }
  return buildPrReport({ head, base, tests, plan, guard, pruneTrailer, live });
}

async function committed(repo: string, ref: string, cache: ParseCache) {
  try {
    return await loadCommitted(repo, ref, { cache });
  } catch (e) {
    if (isVrskyError(e) && e.code === "VRS_GIT_BAD_REF")
      throw new VrskyError(
        "VRS_GIT_BAD_REF",
        `${e.message}; in GitHub Actions, check out with \`fetch-depth: 0\` so that both the base and the head commit are present`,
      );
    throw e;
  }
}
