/**
 * The GitHub side of `vrsky pr-check` (I/O, through @octokit/rest): a check run on the pull request's head with
 * its annotations sent in batches that append, and one sticky comment found by its hidden marker and updated in
 * place, never with a result for an older head. Secondary rate limits are waited out a bounded number of times; a
 * 403 for a missing permission becomes a message naming the permission. The token is never printed.
 */
import { Octokit } from "@octokit/rest";
import { setTimeout as delay } from "node:timers/promises";
import { annotationBatches, checkOutput, commentBody, markerSha, type PrReport } from "./pr-report.js";

export interface PullRequest {
  owner: string;
  repo: string;
  number: number;
  headSha: string;
  baseSha: string;
}

export interface ClientOptions {
  token: string;
  apiUrl: string;
  /** Retries of one request after a rate limit (default 3). */
  retries?: number;
  /** The longest wait for one retry, in ms (default 5 minutes); a longer `retry-after` fails at once. */
  maxWaitMs?: number;
  /** Told of each wait, for the log. */
  onWait?: (ms: number, what: string) => void;
}

/** A GitHub API failure, described without the token; `permission` names what a 403 lacks. */
export class GitHubApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly permission?: string,
  ) {
    super(message);
    this.name = "GitHubApiError";
  }
}

interface HttpErrorLike {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined> };
}

/** The wait before retrying a rate-limited request, in ms, or null when the error is not a rate limit. */
export function rateLimitWait(e: unknown, now: number): number | null {
  const err = e as HttpErrorLike;
  if (err?.status !== 403 && err?.status !== 429) return null;
  const h = err.response?.headers ?? {};
  const retryAfter = Number(h["retry-after"]);
  if (h["retry-after"] !== undefined && Number.isFinite(retryAfter)) return Math.max(0, retryAfter * 1000);
  if (String(h["x-ratelimit-remaining"]) === "0" && h["x-ratelimit-reset"] !== undefined) {
    return Math.max(0, Number(h["x-ratelimit-reset"]) * 1000 - now) + 1000;
  }
  // GitHub: without a header, wait at least a minute after a secondary rate limit.
  if (err.status === 429 || /secondary rate limit/i.test(err.message ?? "")) return 60_000;
  return null;
}

export function createClient(o: ClientOptions): Octokit {
  const quiet = () => {};
  const octokit = new Octokit({
    auth: o.token,
    baseUrl: o.apiUrl.replace(/\/+$/, ""),
    userAgent: "vrsky-pr-check",
    log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    request: { retries: 0 },
  });
  const retries = o.retries ?? 3;
  const maxWaitMs = o.maxWaitMs ?? 300_000;
  octokit.hook.wrap("request", async (request, options) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(options);
      } catch (e) {
        const wait = rateLimitWait(e, Date.now());
        if (wait === null || attempt >= retries || wait > maxWaitMs) throw e;
        o.onWait?.(wait, `${String(options.method)} ${String(options.url)}`);
        await delay(wait);
      }
    }
  });
  return octokit;
}

/** The permission a workflow token needs for a request (GitHub answers 403 without it). */
export function permissionFor(method: string, url: string): string {
  if (url.includes("/check-runs")) return "checks: write";
  if (url.includes("/comments")) return method === "GET" ? "pull-requests: read" : "pull-requests: write";
  return "pull-requests: read";
}

/** Any error of a request as a GitHubApiError whose message names the request, the status and what to do. */
export function describe(e: unknown, what: { method: string; url: string }, token: string): GitHubApiError {
  const err = e as HttpErrorLike;
  const status = typeof err?.status === "number" ? err.status : undefined;
  const raw = (err?.message ?? String(e)).split("\n")[0]!.slice(0, 300);
  const said = redact(raw, token);
  const req = `${what.method} ${what.url}`;
  if (status === 403 && rateLimitWait(e, Date.now()) === null) {
    const permission = permissionFor(what.method, what.url);
    const alt = permission === "pull-requests: write" ? " (or `issues: write`)" : "";
    return new GitHubApiError(
      `GitHub refused ${req} (403: ${said}): the token lacks the permission \`${permission}\`${alt}. ` +
        `Grant it in the workflow's \`permissions:\` (docs/ci.md).`,
      status,
      permission,
    );
  }
  if (status === 403 || status === 429)
    return new GitHubApiError(`GitHub rate-limited ${req} (${status}) beyond the retries: ${said}`, status);
  if (status === 401)
    return new GitHubApiError(`GitHub did not accept the token for ${req} (401): check GITHUB_TOKEN`, status);
  if (status !== undefined) return new GitHubApiError(`GitHub answered ${req} with ${status}: ${said}`, status);
  return new GitHubApiError(`GitHub API request ${req} failed: ${said}`, undefined);
}

/** The text with the token (and anything after `token `/`Bearer ` in an echoed header) replaced. */
export function redact(text: string, token: string): string {
  let s = token.length > 0 ? text.split(token).join("[token redacted]") : text;
  s = s.replace(/\b(token|bearer)\s+[A-Za-z0-9_.\-]{8,}/gi, "$1 [redacted]");
  return s;
}

async function call<T>(token: string, what: { method: string; url: string }, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw describe(e, what, token);
  }
}

export interface Published {
  checkRunId: number;
  checkRunUrl: string | undefined;
  /** Annotation requests made (each ≤ 50). */
  batches: number;
  comment: "created" | "updated" | "stale";
  commentUrl: string | undefined;
  requests: number;
}

export interface StartedCheck {
  id: number;
  url: string | undefined;
}

/** Creates the check run on the head, in progress, before the work starts: the pull request shows it running. */
export async function startCheck(
  octokit: Octokit,
  token: string,
  pr: PullRequest,
  name: string,
): Promise<StartedCheck> {
  const { owner, repo } = pr;
  const created = await call(token, { method: "POST", url: `/repos/${owner}/${repo}/check-runs` }, () =>
    octokit.rest.checks.create({ owner, repo, name, head_sha: pr.headSha, status: "in_progress" }),
  );
  return { id: created.data.id, url: created.data.html_url ?? undefined };
}

/**
 * Sends the check run's output in PATCHes of at most 50 annotations each (they append); the last one completes
 * the run with the conclusion. Returns the number of requests.
 */
export async function finishCheck(
  octokit: Octokit,
  token: string,
  pr: PullRequest,
  run: StartedCheck,
  report: PrReport,
  planFile: string,
): Promise<number> {
  const { owner, repo } = pr;
  const output = checkOutput(report, planFile);
  const batches = annotationBatches(report.annotations);
  for (let i = 0; i < batches.length; i++) {
    const last = i === batches.length - 1;
    await call(token, { method: "PATCH", url: `/repos/${owner}/${repo}/check-runs/${run.id}` }, () =>
      octokit.rest.checks.update({
        owner,
        repo,
        check_run_id: run.id,
        output: { ...output, annotations: batches[i]! },
        ...(last ? { status: "completed" as const, conclusion: report.conclusion } : {}),
      }),
    );
  }
  return batches.length;
}

/** Completes a started check run whose work could not be done (a missing commit, say) as failed, saying why. */
export async function abortCheck(
  octokit: Octokit,
  token: string,
  pr: PullRequest,
  run: StartedCheck,
  why: string,
): Promise<void> {
  const { owner, repo } = pr;
  const summary = redact(why, token).slice(0, 60_000);
  await call(token, { method: "PATCH", url: `/repos/${owner}/${repo}/check-runs/${run.id}` }, () =>
    octokit.rest.checks.update({
      owner,
      repo,
      check_run_id: run.id,
      status: "completed",
      conclusion: "failure",
      output: { title: "vrsky pr-check could not run", summary },
    }),
  );
}

/**
 * Creates or updates the sticky comment. Just before writing it reads the pull request: when its head is no
 * longer the sha this run checked, nothing is written ("stale"): a newer push has its own run, and an older run
 * never overwrites a newer result. The marker carries the sha the comment reports on. The comment is one with the
 * marker written by `author` (a login) or, without one, by a bot (the workflow token's github-actions[bot]).
 */
export async function upsertComment(
  octokit: Octokit,
  token: string,
  pr: PullRequest,
  report: PrReport,
  planFile: string,
  author?: string,
): Promise<{ result: "created" | "updated" | "stale"; url: string | undefined }> {
  const { owner, repo, number } = pr;
  const list = `/repos/${owner}/${repo}/issues/${number}/comments`;
  const existing = await call(token, { method: "GET", url: list }, async () => {
    for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, {
      owner,
      repo,
      issue_number: number,
      per_page: 100,
    })) {
      // Only a comment written by this tool's identity counts: anyone can type the marker into a comment.
      const found = page.data.find(
        (c) => markerSha(c.body) !== null && (author ? c.user?.login === author : c.user?.type === "Bot"),
      );
      if (found) return found;
    }
    return undefined;
  });
  const current = await call(token, { method: "GET", url: `/repos/${owner}/${repo}/pulls/${number}` }, () =>
    octokit.rest.pulls.get({ owner, repo, pull_number: number }),
  );
  const currentHead = current.data.head.sha;
  if (currentHead !== pr.headSha) {
    return { result: "stale", url: existing?.html_url };
  }
  const body = commentBody(report, pr.headSha, planFile);
  if (existing) {
    const url = `/repos/${owner}/${repo}/issues/comments/${existing.id}`;
    const r = await call(token, { method: "PATCH", url }, () =>
      octokit.rest.issues.updateComment({ owner, repo, comment_id: existing.id, body }),
    );
    return { result: "updated", url: r.data.html_url };
  }
  const r = await call(token, { method: "POST", url: list }, () =>
    octokit.rest.issues.createComment({ owner, repo, issue_number: number, body }),
  );
  return { result: "created", url: r.data.html_url };
}
