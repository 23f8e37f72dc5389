/**
 * `npm run bench:validate`: how fast `vrsky validate` and `vrsky plan` are on a large repository, against a
 * floor measured in the same run on the same files.
 *
 *   1. Generates (in a temporary folder) a git repository with 1,000 tenants and 10,000 integrations
 *      (test/bench/validate-manifests.ts: deterministic, realistic manifests), commits it, then commits a
 *      change to exactly one integration.
 *   2. Baseline: a script that reads the same files from the checked-out working tree and YAML-parses each
 *      with `yaml`'s `parse`, nothing else (test/bench/validate-baseline.ts).
 *   3. Runs the real CLI as child processes, interleaved, several repetitions each:
 *        node dist/engine/cli/main.js validate --repo R --ref HEAD --format json
 *        node dist/engine/cli/main.js plan --repo R --base HEAD~1 --head HEAD --format json
 *      Wall time is spawn to exit (Node start-up included). Peak memory is the child's maximum RSS from
 *      `/usr/bin/time -v` (fallback: process.resourceUsage().maxRSS reported by a preload), see validate-run.ts.
 *      The children run a private copy of the freshly built dist/ (snapshotCli), so a rebuild of the checkout
 *      during the run changes nothing.
 *
 * Goals: validate ≤ 3× baseline; plan of a one-file change ≤ 2× validate; peak memory < 500 MB.
 * Output: a table with PASS/MISS per goal on stdout (JSON with --json); progress on stderr.
 * Exit code: 0 all goals met, 1 a goal missed, 2 the benchmark itself failed.
 * Options: --json, --reps N (5), --tenants N (1000), --per-tenant N (10), --profile (one more run of each
 * command under `node --cpu-prof`, summarised on stderr), --keep (keep the generated repository).
 */
import { machine } from "./machine.js";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { packageRoot } from "../../engine/util/package-root.js";
import { TestRepo } from "../helpers/git-repo.js";
import {
  integrationCount,
  integrationManifest,
  integrationPath,
  tenantManifest,
  tenantPath,
} from "./validate-manifests.js";
import { renderSummary, summarise, type ProfileSummary } from "./validate-profile.js";
import { ChildRunner, median, snapshotCli, type RunResult } from "./validate-run.js";
import { intOption } from "./args.js";

// ---------------------------------------------------------------------------------------------- options
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const num = (name: string, dflt: number) => intOption(argv, name, dflt, 1);
const OPT = {
  json: flag("json"),
  profile: flag("profile"),
  keep: flag("keep"),
  reps: num("reps", 5),
  tenants: num("tenants", 1_000),
  perTenant: num("per-tenant", 10),
};
if (OPT.tenants % 2 !== 0) throw new Error("--tenants must be even (integration counts are paired)");

const GOALS = { validateVsBaseline: 3, planVsValidate: 2, peakRssBytes: 500 * 1024 * 1024 };

const began = performance.now();
const progress = (msg: string) =>
  process.stderr.write(`[bench:validate ${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);

const root = packageRoot();
const CLI = "dist/engine/cli/main.js";
const BASELINE = "dist/test/bench/validate-baseline.js";

// ---------------------------------------------------------------------------------------------- cleanup
const cleanups: Array<() => void> = [];
function cleanup(): void {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      // best effort: a temporary folder that is already gone
    }
  }
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    cleanup();
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------- machine

// ---------------------------------------------------------------------------------------------- repository
interface Generated {
  repo: TestRepo;
  files: number;
  bytes: number;
  tenants: number;
  integrations: number;
  changed: string;
}

function generate(): Generated {
  const repo = new TestRepo("vrsky-bench-validate-");
  if (!OPT.keep) cleanups.push(() => repo.cleanup());
  progress(`generating ${OPT.tenants} tenants and ${OPT.tenants * OPT.perTenant} integrations in ${repo.dir}`);
  const write = (path: string, text: string) => {
    const abs = join(repo.dir, path);
    writeFileSync(abs, text);
    return Buffer.byteLength(text);
  };
  mkdirSync(join(repo.dir, "tenants"), { recursive: true });
  let files = 0;
  let bytes = 0;
  let integrations = 0;
  for (let t = 0; t < OPT.tenants; t++) {
    bytes += write(tenantPath(t), tenantManifest(t, OPT.perTenant));
    files++;
    const n = integrationCount(t, OPT.perTenant);
    mkdirSync(dirname(join(repo.dir, integrationPath(t, 0))), { recursive: true });
    for (let i = 0; i < n; i++) {
      bytes += write(integrationPath(t, i), integrationManifest(t, i));
      files++;
      integrations++;
    }
    if ((t + 1) % 200 === 0)
      progress(`  wrote ${t + 1} tenants, ${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
  }
  progress("  git add + commit (base revision)");
  repo.git("add", "--", "tenants", "integrations");
  repo.git("commit", "-q", "-m", `bench: ${OPT.tenants} tenants, ${integrations} integrations`);
  // The head revision: one integration changed (two values), nothing else.
  const t = Math.floor(OPT.tenants / 2) + 1;
  const i = 3 % integrationCount(t, OPT.perTenant);
  const changed = integrationPath(t, i);
  write(changed, integrationManifest(t, i, true));
  repo.git("add", "--", changed);
  repo.git("commit", "-q", "-m", `bench: change ${changed}`);
  const diff = repo.git("diff", "--name-only", "HEAD~1", "HEAD");
  if (diff !== changed) throw new Error(`the head commit should change only ${changed}, it changes: ${diff}`);
  progress(`  committed: ${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB; head changes ${changed}`);
  return { repo, files, bytes, tenants: OPT.tenants, integrations, changed };
}

// ---------------------------------------------------------------------------------------------- commands
type Name = "baseline" | "validate" | "plan";

function command(name: Name, dir: string): { script: string; args: string[] } {
  switch (name) {
    case "baseline":
      return { script: BASELINE, args: [dir] };
    case "validate":
      return { script: CLI, args: ["validate", "--repo", dir, "--ref", "HEAD", "--format", "json"] };
    case "plan":
      return { script: CLI, args: ["plan", "--repo", dir, "--base", "HEAD~1", "--head", "HEAD", "--format", "json"] };
  }
}

/** Checks that a run did what it should: otherwise its time means nothing. */
function check(name: Name, r: RunResult, g: Generated): void {
  const fail = (why: string) => {
    throw new Error(
      `${name}: ${why} (exit ${r.code})\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`,
    );
  };
  if (r.code !== 0) fail("non-zero exit");
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  if (name === "baseline") {
    if (out.files !== g.files || out.documents !== g.files)
      fail(`parsed ${String(out.files)} files / ${String(out.documents)} documents, expected ${g.files}`);
  } else if (name === "validate") {
    const res = out.resources as { tenants: number; integrations: number };
    if (out.valid !== true) fail("the generated revision is not valid");
    if (out.files !== g.files || res.tenants !== g.tenants || res.integrations !== g.integrations)
      fail("unexpected counts");
  } else {
    const s = out.summary as Record<string, number>;
    if (s.create !== 0 || s.delete !== 0 || s.update !== 1 || s.unchanged !== g.files - 1)
      fail(`unexpected summary ${JSON.stringify(s)}`);
  }
}

interface Stats {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  peakRssBytes: number;
  samplesMs: number[];
}

function stats(rs: RunResult[]): Stats {
  const ms = rs.map((r) => r.ms);
  return {
    runs: rs.length,
    medianMs: Math.round(median(ms) * 10) / 10,
    minMs: Math.round(Math.min(...ms) * 10) / 10,
    maxMs: Math.round(Math.max(...ms) * 10) / 10,
    peakRssBytes: Math.max(...rs.map((r) => r.rssBytes)),
    samplesMs: ms.map((x) => Math.round(x)),
  };
}

// ---------------------------------------------------------------------------------------------- report
interface Row {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  goal: string;
  verdict: "PASS" | "MISS" | "";
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function table(rows: Row[]): string {
  const head: Row = {
    figure: "figure",
    value: "value",
    baseline: "baseline",
    ratio: "ratio",
    goal: "goal",
    verdict: "",
  };
  const cols = ["figure", "value", "baseline", "ratio", "goal", "verdict"] as const;
  const width = cols.map((c) => Math.max(...[head, ...rows].map((r) => r[c].length)));
  const line = (r: Row) =>
    cols
      .map((c, i) => (i === 0 ? r[c].padEnd(width[i]!) : r[c].padStart(width[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), width.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------- main
async function main(): Promise<number> {
  const m = machine({ git: true });
  progress(`machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB, node ${m.node}, git ${m.git}`);
  const g = generate();
  // Children run from a copy of the compiled code (see snapshotCli); script paths are relative to it.
  const snapshot = snapshotCli(root, [BASELINE]);
  cleanups.push(snapshot.cleanup);
  const runner = new ChildRunner(snapshot.dir);
  cleanups.push(() => runner.cleanup());
  progress(
    `peak memory method: ${runner.method === "gnu-time" ? "/usr/bin/time -v (ru_maxrss of the child)" : "process.resourceUsage().maxRSS via --import preload"}`,
  );

  const names: Name[] = ["baseline", "validate", "plan"];
  // One untimed run of each first: warms the page cache and checks that each command does its job.
  for (const name of names) {
    const c = command(name, g.repo.dir);
    const r = await runner.run(c.script, c.args);
    check(name, r, g);
    progress(`warm-up ${name}: ${sec(r.ms)}, ${mb(r.rssBytes)}`);
  }
  const results: Record<Name, RunResult[]> = { baseline: [], validate: [], plan: [] };
  for (let rep = 1; rep <= OPT.reps; rep++) {
    // Interleaved, so that drift of the machine (other load, thermal) hits all three alike.
    for (const name of names) {
      const c = command(name, g.repo.dir);
      const r = await runner.run(c.script, c.args);
      check(name, r, g);
      results[name].push(r);
      progress(`run ${rep}/${OPT.reps} ${name.padEnd(8)} ${sec(r.ms)}  ${mb(r.rssBytes)}`);
    }
  }
  const s = { baseline: stats(results.baseline), validate: stats(results.validate), plan: stats(results.plan) };

  let profiles: Record<"validate" | "plan", ProfileSummary> | undefined;
  if (OPT.profile) {
    const dir = mkdtempSync(join(tmpdir(), "vrsky-bench-prof-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    profiles = {} as Record<"validate" | "plan", ProfileSummary>;
    for (const name of ["validate", "plan"] as const) {
      const sub = join(dir, name);
      const c = command(name, g.repo.dir);
      const r = await runner.run(c.script, c.args, ["--cpu-prof", `--cpu-prof-dir=${sub}`]);
      check(name, r, g);
      const file = readdirSync(sub).find((f) => f.endsWith(".cpuprofile"));
      if (!file) throw new Error(`no .cpuprofile in ${sub}`);
      profiles[name] = summarise(join(sub, file));
      process.stderr.write(renderSummary(`profile of ${name} (${sec(r.ms)} wall)`, profiles[name]));
    }
  }

  const vRatio = s.validate.medianMs / s.baseline.medianMs;
  const vMinRatio = s.validate.minMs / s.baseline.minMs;
  const pRatio = s.plan.medianMs / s.validate.medianMs;
  const pMinRatio = s.plan.minMs / s.validate.minMs;
  const peak = Math.max(s.validate.peakRssBytes, s.plan.peakRssBytes);
  const goals = {
    validate: { ratio: vRatio, goal: GOALS.validateVsBaseline, pass: vRatio <= GOALS.validateVsBaseline },
    plan: { ratio: pRatio, goal: GOALS.planVsValidate, pass: pRatio <= GOALS.planVsValidate },
    memory: { peakRssBytes: peak, goal: GOALS.peakRssBytes, pass: peak < GOALS.peakRssBytes },
  };
  const v = (b: boolean) => (b ? "PASS" : "MISS");
  const rows: Row[] = [
    {
      figure: "baseline: read + yaml.parse (median)",
      value: sec(s.baseline.medianMs),
      baseline: "",
      ratio: "",
      goal: "",
      verdict: "",
    },
    {
      figure: "baseline: read + yaml.parse (min)",
      value: sec(s.baseline.minMs),
      baseline: "",
      ratio: "",
      goal: "",
      verdict: "",
    },
    {
      figure: "validate HEAD (median)",
      value: sec(s.validate.medianMs),
      baseline: sec(s.baseline.medianMs),
      ratio: `${vRatio.toFixed(2)}×`,
      goal: `≤ ${GOALS.validateVsBaseline}×`,
      verdict: v(goals.validate.pass),
    },
    {
      figure: "validate HEAD (min)",
      value: sec(s.validate.minMs),
      baseline: sec(s.baseline.minMs),
      ratio: `${vMinRatio.toFixed(2)}×`,
      goal: "",
      verdict: "",
    },
    {
      figure: "plan HEAD~1..HEAD, 1 file (median)",
      value: sec(s.plan.medianMs),
      baseline: `validate ${sec(s.validate.medianMs)}`,
      ratio: `${pRatio.toFixed(2)}×`,
      goal: `≤ ${GOALS.planVsValidate}×`,
      verdict: v(goals.plan.pass),
    },
    {
      figure: "plan HEAD~1..HEAD, 1 file (min)",
      value: sec(s.plan.minMs),
      baseline: `validate ${sec(s.validate.minMs)}`,
      ratio: `${pMinRatio.toFixed(2)}×`,
      goal: "",
      verdict: "",
    },
    { figure: "peak RSS baseline", value: mb(s.baseline.peakRssBytes), baseline: "", ratio: "", goal: "", verdict: "" },
    {
      figure: "peak RSS validate",
      value: mb(s.validate.peakRssBytes),
      baseline: mb(s.baseline.peakRssBytes),
      ratio: `${(s.validate.peakRssBytes / s.baseline.peakRssBytes).toFixed(2)}×`,
      goal: `< ${mb(GOALS.peakRssBytes)}`,
      verdict: v(s.validate.peakRssBytes < GOALS.peakRssBytes),
    },
    {
      figure: "peak RSS plan",
      value: mb(s.plan.peakRssBytes),
      baseline: mb(s.baseline.peakRssBytes),
      ratio: `${(s.plan.peakRssBytes / s.baseline.peakRssBytes).toFixed(2)}×`,
      goal: `< ${mb(GOALS.peakRssBytes)}`,
      verdict: v(s.plan.peakRssBytes < GOALS.peakRssBytes),
    },
  ];
  const allPass = goals.validate.pass && goals.plan.pass && goals.memory.pass;
  if (OPT.json) {
    const report = {
      machine: { ...m, loadEnd: Math.round(loadavg()[0]! * 100) / 100 },
      repository: {
        tenants: g.tenants,
        integrations: g.integrations,
        files: g.files,
        bytes: g.bytes,
        changed: g.changed,
      },
      repetitions: OPT.reps,
      rssMethod: runner.method,
      commands: Object.fromEntries(
        names.map((n) => [n, ["node", command(n, "<repo>").script, ...command(n, "<repo>").args].join(" ")]),
      ),
      results: s,
      goals,
      pass: allPass,
      ...(profiles ? { profiles } : {}),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  } else {
    process.stdout.write(
      [
        `vrsky bench:validate: ${g.tenants} tenants, ${g.integrations} integrations (${g.files} files, ${(g.bytes / 1024 / 1024).toFixed(1)} MiB), head changes 1 integration`,
        `machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGiB} GiB RAM, node ${m.node}, git ${m.git}, ${m.platform}; load average ${m.loadStart} at start, ${loadavg()[0]!.toFixed(2)} at end`,
        `${OPT.reps} interleaved runs of each command as a child process; wall time spawn to exit; peak RSS via ${runner.method === "gnu-time" ? "/usr/bin/time -v" : "process.resourceUsage().maxRSS"}`,
        "",
        table(rows),
        "",
        `validate ≤ ${GOALS.validateVsBaseline}× baseline: ${v(goals.validate.pass)}   plan ≤ ${GOALS.planVsValidate}× validate: ${v(goals.plan.pass)}   peak memory < ${mb(GOALS.peakRssBytes)}: ${v(goals.memory.pass)}`,
        "",
      ].join("\n"),
    );
  }
  if (OPT.keep) progress(`kept the repository at ${g.repo.dir}`);
  return allPass ? 0 : 1;
}

main().then(
  (code) => {
    cleanup();
    progress("done");
    process.exitCode = code;
  },
  (e: unknown) => {
    cleanup();
    process.stderr.write(`bench:validate failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  },
);
