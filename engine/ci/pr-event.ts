/**
 * Where `vrsky pr-check` reads its pull request in GitHub Actions (pure): the event payload of a `pull_request`
 * (or `pull_request_target`) event and the runner's environment. The check goes on `pull_request.head.sha`,
 * never on the merge commit Actions checks out.
 */
import type { PullRequest } from "./github.js";

export interface GitHubEnv {
  GITHUB_EVENT_PATH?: string;
  GITHUB_TOKEN?: string;
  GITHUB_API_URL?: string;
  GITHUB_REPOSITORY?: string;
  /** The job summary file: the report's summary is appended to it. */
  GITHUB_STEP_SUMMARY?: string;
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The pull request of an event payload; a string says what is wrong with it. */
export function pullRequestOf(event: unknown, repository: string | undefined): PullRequest | string {
  const e = event as {
    pull_request?: { number?: unknown; head?: { sha?: unknown }; base?: { sha?: unknown } };
    repository?: { full_name?: unknown };
  };
  const pr = e?.pull_request;
  if (!pr || typeof pr !== "object")
    return "the event is not a pull request's (run on `pull_request`, or use --no-github --base REF --head REF)";
  const headSha = pr.head?.sha;
  const baseSha = pr.base?.sha;
  if (typeof pr.number !== "number" || !Number.isInteger(pr.number) || pr.number < 1)
    return "the event's pull_request.number is missing";
  if (typeof headSha !== "string" || !SHA.test(headSha)) return "the event's pull_request.head.sha is not a commit id";
  if (typeof baseSha !== "string" || !SHA.test(baseSha)) return "the event's pull_request.base.sha is not a commit id";
  const full = repository || (typeof e.repository?.full_name === "string" ? e.repository.full_name : "");
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(full);
  if (!m) return "GITHUB_REPOSITORY (owner/name) is missing or malformed";
  return { owner: m[1]!, repo: m[2]!, number: pr.number, headSha, baseSha };
}
