import { spawn } from "node:child_process";
import { accessSync, constants, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";

/**
 * Runs a Node script as a child process and measures it from the outside: wall time from spawn to exit
 * (Node start-up included, as a user sees it) and peak resident memory.
 *
 * Peak memory comes from GNU time: the child runs as `/usr/bin/time -v -o <file> node ...`, and the
 * "Maximum resident set size" line is the kernel's ru_maxrss of the Node process (the largest process of
 * the tree; git's own processes are smaller and are not added). When /usr/bin/time is missing, the child
 * runs under a small preload instead (`--import` of a module that writes process.resourceUsage().maxRSS to
 * a file on exit), which measures the same counter from inside.
 */

export interface RunResult {
  ms: number;
  rssBytes: number;
  code: number;
  stdout: string;
  stderr: string;
}

export type RssMethod = "gnu-time" | "resource-usage";

const GNU_TIME = "/usr/bin/time";

export function rssMethod(): RssMethod {
  try {
    accessSync(GNU_TIME, constants.X_OK);
    return "gnu-time";
  } catch {
    return "resource-usage";
  }
}

/** Preload for the fallback: records maxRSS (KiB on Linux) when the process exits. */
const PRELOAD = `data:text/javascript,${encodeURIComponent(
  "import{writeFileSync}from'node:fs';process.on('exit',()=>writeFileSync(process.env.VRSKY_BENCH_RSS_FILE,String(process.resourceUsage().maxRSS)));",
)}`;

export class ChildRunner {
  readonly method = rssMethod();
  private readonly dir = mkdtempSync(join(tmpdir(), "vrsky-bench-rss-"));
  private n = 0;

  constructor(private readonly cwd: string) {}

  /** `node [nodeArgs] script args`; resolves when the child has exited. */
  run(script: string, args: string[], nodeArgs: string[] = []): Promise<RunResult> {
    const rssFile = join(this.dir, `rss-${++this.n}.txt`);
    const node = [process.execPath, ...nodeArgs];
    const argv =
      this.method === "gnu-time"
        ? [GNU_TIME, "-v", "-o", rssFile, ...node, script, ...args]
        : [...node, "--import", PRELOAD, script, ...args];
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: this.cwd,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, NO_COLOR: "1", VRSKY_BENCH_RSS_FILE: rssFile },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (b: Buffer) => out.push(b));
      child.stderr.on("data", (b: Buffer) => err.push(b));
      child.on("error", reject);
      child.on("close", (code) => {
        const ms = performance.now() - started;
        try {
          resolve({
            ms,
            rssBytes: readRss(rssFile, this.method),
            code: code ?? 1,
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(err).toString("utf8"),
          });
        } catch (e) {
          reject(e);
        } finally {
          rmSync(rssFile, { force: true });
        }
      });
    });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readRss(file: string, method: RssMethod): number {
  const text = readFileSync(file, "utf8");
  if (method === "resource-usage") return Number(text.trim()) * 1024;
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
  if (!m) throw new Error(`no "Maximum resident set size" in the output of ${GNU_TIME}:\n${text}`);
  return Number(m[1]) * 1024;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * A private copy of the compiled CLI (dist/engine, the baseline script, schemas/, package.json; node_modules
 * linked), taken right after the build. Other work in the same checkout may rebuild dist/ while the benchmark
 * runs for minutes; the copy keeps every run on the same code, and a half-written dist/ from never being run.
 */
export function snapshotCli(root: string, files: string[]): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "vrsky-bench-cli-"));
  for (const f of ["package.json", "schemas", "dist/engine", ...files]) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(root, f), join(dir, f), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
