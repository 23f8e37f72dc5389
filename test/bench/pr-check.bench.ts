/**
 * `npm run bench:pr-check`: `vrsky pr-check` on a pull request that changes 1 of 10,000 manifests — its wall time
 * against `vrsky plan` of the same change measured in the same run, and the GitHub API requests it makes.
 *
 *   1. Generates (in a temporary folder) a git repository of 1,000 tenants and 9,000 integrations (10,000
 *      manifests, test/bench/validate-manifests.ts: deterministic, realistic), commits it, then commits a change
 *      to exactly one integration: the pull request's base and head.
 *   2. Starts the GitHub API stand-in (test/helpers/github-stand-in.ts: every request checked against GitHub's
 *      OpenAPI description, 100 comments a page as `per_page=100` asks) with a pull request whose head is that
 *      commit and `--others` comments by people already on it.
 *   3. Runs the real CLI as child processes, interleaved, several repetitions each (wall time from spawn to exit,
 *      Node start-up included; peak RSS as bench:validate measures it):
 *        plan     --repo R --base HEAD~1 --head HEAD --format markdown      (the baseline)
 *        pr-check --repo R --no-github --base HEAD~1 --head HEAD
 *        pr-check --repo R   (GitHub mode: GITHUB_EVENT_PATH, GITHUB_API_URL = the stand-in)
 *      The first GitHub run creates the plan comment, every later one updates it. The stand-in counts the
 *      requests of each run by operation.
 *
 * Goals: pr-check (GitHub) ≤ 2× plan (median wall time); requests per run = the fewest the API allows for what
 * pr-check does (docs/ci.md argues the number: 5 with no annotation, comments on one page).
 * Output: a table on stdout (JSON with --json); progress on stderr. Exit code: 0 goals met, 1 a goal missed,
 * 2 the benchmark itself failed. Options: --json, --reps N (3), --tenants N (1000, even), --per-tenant N (9),
 * --others N (comments by others on the pull request, 0), --keep (keep the generated repository).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { packageRoot } from "../../engine/util/package-root.js";
import { TestRepo } from "../helpers/git-repo.js";
import { GitHubStandIn } from "../helpers/github-stand-in.js";
import { intOption } from "./args.js";
import { benchHarness } from "./harness.js";
import { machine } from "./machine.js";
import {
  integrationCount,
  integrationManifest,
  integrationPath,
  tenantManifest,
  tenantPath,
} from "./validate-manifests.js";
import { ChildRunner, median, snapshotCli, type RunResult } from "./validate-run.js";

const argv = process.argv.slice(2);
const OPT = {
  json: argv.includes("--json"),
  keep: argv.includes("--keep"),
  reps: intOption(argv, "reps", 3, 1),
  tenants: intOption(argv, "tenants", 1_000, 2),
  perTenant: intOption(argv, "per-tenant", 9, 1),
  others: intOption(argv, "others", 0, 0),
};
if (OPT.tenants % 2 !== 0) throw new Error("--tenants must be even (integration counts are paired)");

const GOALS = { prCheckVsPlan: 2 };
/**
 * The fewest requests the API allows for a run that shows the check in progress while it works, completes it
 * with ≤ 50 annotations, finds the plan comment on one page of the listing, checks the head just before writing,
 * and writes the comment: docs/ci.md explains each.
 */
const FEWEST = 5;
const TOKEN = "ghs_benchStandInToken0123456789abcdef";
const CLI = "dist/engine/cli/main.js";

const h = benchHarness("bench:pr-check");

interface Generated {
  repo: TestRepo;
  manifests: number;
  head: string;
  base: string;
}

function generate(): Generated {
  const repo = new TestRepo("vrsky-bench-prcheck-");
  if (!OPT.keep) h.cleanups.push(() => repo.cleanup());
  const write = (path: string, text: string) => writeFileSync(join(repo.dir, path), text);
  mkdirSync(join(repo.dir, "tenants"), { recursive: true });
  let manifests = 0;
  for (let t = 0; t < OPT.tenants; t++) {
    write(tenantPath(t), tenantManifest(t, OPT.perTenant));
    manifests++;
    mkdirSync(dirname(join(repo.dir, integrationPath(t, 0))), { recursive: true });
    for (let i = 0; i < integrationCount(t, OPT.perTenant); i++) {
      write(integrationPath(t, i), integrationManifest(t, i));
      manifests++;
    }
  }
  repo.git("add", "--", "tenants", "integrations");
  repo.git("commit", "-q", "-m", `bench: ${manifests} manifests`);
  const t = Math.floor(OPT.tenants / 2) + 1;
  const i = 3 % integrationCount(t, OPT.perTenant);
  const changed = integrationPath(t, i);
  write(changed, integrationManifest(t, i, true));
  repo.git("add", "--", changed);
  repo.git("commit", "-q", "-m", `bench: change ${changed}`);
  const diff = repo.git("diff", "--name-only", "HEAD~1", "HEAD");
  if (diff !== changed) throw new Error(`the head commit should change only ${changed}, it changes: ${diff}`);
  h.progress(`generated ${manifests} manifests in ${repo.dir}; the head changes ${changed}`);
  return { repo, manifests, head: repo.git("rev-parse", "HEAD"), base: repo.git("rev-parse", "HEAD~1") };
}

type Name = "plan" | "prCheckText" | "prCheckGitHub";
const NAMES: Name[] = ["plan", "prCheckText", "prCheckGitHub"];

function args(name: Name, dir: string, out: string): string[] {
  const plan = join(out, `${name}.md`);
  switch (name) {
    case "plan":
      return ["plan", "--repo", dir, "--base", "HEAD~1", "--head", "HEAD", "--format", "markdown"];
    case "prCheckText":
      return ["pr-check", "--repo", dir, "--no-github", "--base", "HEAD~1", "--head", "HEAD", "--plan-file", plan];
    case "prCheckGitHub":
      return ["pr-check", "--repo", dir, "--plan-file", plan];
  }
}

function check(name: Name, r: RunResult): void {
  const ok =
    r.code === 0 &&
    (name === "prCheckGitHub"
      ? /comment (created|updated)/.test(r.stdout)
      : r.stdout.includes("1 to update, 0 to delete"));
  if (!ok)
    throw new Error(
      `${name}: unexpected result (exit ${r.code})\nstdout: ${r.stdout.slice(0, 1500)}\nstderr: ${r.stderr.slice(0, 1500)}`,
    );
}

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<number> {
  const m = machine({ git: true });
  h.progress(`machine: ${m.cores} cores, ${m.cpu}, load ${m.loadStart}, node ${m.node}, git ${m.git}`);
  const g = generate();
  const snapshot = snapshotCli(packageRoot(), []);
  h.cleanups.push(snapshot.cleanup);
  const runner = new ChildRunner(snapshot.dir);
  h.cleanups.push(() => runner.cleanup());
  const gh = await GitHubStandIn.start({ token: TOKEN });
  h.cleanups.push(() => gh.close());
  gh.perPage = 100;
  gh.pullHead = g.head;
  for (let k = 0; k < OPT.others; k++)
    gh.comments.push({ id: k + 1, body: `review note ${k}`, user: { login: "alice", type: "User" } });
  const tmp = mkdtempSync(join(tmpdir(), "vrsky-bench-prcheck-event-"));
  h.cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const event = join(tmp, "event.json");
  writeFileSync(event, JSON.stringify({ pull_request: { number: 7, head: { sha: g.head }, base: { sha: g.base } } }));
  // The children inherit these (ChildRunner passes process.env): plan and --no-github ignore them.
  Object.assign(process.env, {
    GITHUB_EVENT_PATH: event,
    GITHUB_TOKEN: TOKEN,
    GITHUB_API_URL: gh.url,
    GITHUB_REPOSITORY: "acme/manifests",
  });

  const results: Record<Name, RunResult[]> = { plan: [], prCheckText: [], prCheckGitHub: [] };
  const perRun: Array<Record<string, number>> = [];
  for (let rep = 0; rep <= OPT.reps; rep++) {
    for (const name of NAMES) {
      const before = gh.requests.length;
      const r = await runner.run(CLI, args(name, g.repo.dir, tmp));
      check(name, r);
      if (name === "prCheckGitHub") {
        const ops: Record<string, number> = {};
        for (const q of gh.requests.slice(before)) ops[q.operationId] = (ops[q.operationId] ?? 0) + 1;
        perRun.push(ops);
      }
      // Rep 0 warms the page cache and creates the comment; it is not timed.
      if (rep > 0) results[name].push(r);
      h.progress(`${rep === 0 ? "warm-up" : `run ${rep}/${OPT.reps}`} ${name.padEnd(13)} ${sec(r.ms)}`);
    }
  }
  if (gh.violations.length > 0) throw new Error(`the stand-in saw violations: ${gh.violations.join("; ")}`);

  const med = (n: Name) => median(results[n].map((r) => r.ms));
  const min = (n: Name) => Math.min(...results[n].map((r) => r.ms));
  const ratio = med("prCheckGitHub") / med("plan");
  const total = (ops: Record<string, number>) => Object.values(ops).reduce((a, b) => a + b, 0);
  const first = perRun[0]!;
  const later = perRun[perRun.length - 1]!;
  const fewest = total(first) <= FEWEST && total(later) <= FEWEST;
  const report = {
    machine: { ...m, loadEnd: Math.round(loadavg()[0]! * 100) / 100 },
    manifests: g.manifests,
    reps: OPT.reps,
    othersComments: OPT.others,
    wallMs: Object.fromEntries(
      NAMES.map((n) => [
        n,
        { median: Math.round(med(n)), min: Math.round(min(n)), samples: results[n].map((r) => Math.round(r.ms)) },
      ]),
    ),
    peakRssMB: Object.fromEntries(
      NAMES.map((n) => [n, Math.round(Math.max(...results[n].map((r) => r.rssBytes)) / 2 ** 20)]),
    ),
    prCheckVsPlan: {
      ratio: Math.round(ratio * 100) / 100,
      goal: GOALS.prCheckVsPlan,
      pass: ratio <= GOALS.prCheckVsPlan,
    },
    requests: {
      firstRun: first,
      laterRun: later,
      firstTotal: total(first),
      laterTotal: total(later),
      fewest: FEWEST,
      pass: fewest,
    },
  };
  if (OPT.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else {
    const lines = [
      `machine: ${m.cores} cores, ${m.cpu}; load ${m.loadStart} at start, ${report.machine.loadEnd} at end`,
      `repository: ${g.manifests} manifests, the pull request changes 1; ${OPT.reps} timed runs each (median, min)`,
      "",
      `plan HEAD~1..HEAD (baseline)      ${sec(med("plan"))}  ${sec(min("plan"))}`,
      `pr-check --no-github              ${sec(med("prCheckText"))}  ${sec(min("prCheckText"))}  ${(med("prCheckText") / med("plan")).toFixed(2)}×`,
      `pr-check, GitHub stand-in         ${sec(med("prCheckGitHub"))}  ${sec(min("prCheckGitHub"))}  ${ratio.toFixed(2)}×  goal ≤ ${GOALS.prCheckVsPlan}×  ${ratio <= GOALS.prCheckVsPlan ? "PASS" : "MISS"}`,
      `peak RSS: plan ${report.peakRssMB.plan} MB, pr-check ${report.peakRssMB.prCheckGitHub} MB`,
      "",
      `API requests, first run (creates the comment): ${total(first)}  ${JSON.stringify(first)}`,
      `API requests, later run (updates it):          ${total(later)}  ${JSON.stringify(later)}`,
      `fewest the API allows: ${FEWEST}  ${fewest ? "PASS" : "MISS"}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  }
  return report.prCheckVsPlan.pass && fewest ? 0 : 1;
}

main()
  .then(async (code) => {
    await h.cleanup();
    process.exit(code);
  })
  .catch(async (e: unknown) => {
    process.stderr.write(`bench:pr-check failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await h.cleanup();
    process.exit(2);
  });
