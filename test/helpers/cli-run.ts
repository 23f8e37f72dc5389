import { spawn } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../../engine/util/package-root.js";
import { childEnv } from "./process.js";

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const MAIN = join(packageRoot(), "dist/engine/cli/main.js");

/** Single quotes for bash, whatever the text holds. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function collect(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: childEnv(env) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${args.join(" ")} did not exit within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the real `vrsky` CLI (the compiled main.js) as a user does, until it exits; `env` goes over `childEnv`'s. */
export function runVrsky(args: string[], timeoutMs = 20_000, env?: NodeJS.ProcessEnv): Promise<ProcessResult> {
  return collect(process.execPath, [MAIN, ...args], timeoutMs, env);
}

/**
 * Runs `vrsky <args> | <reader>` in `bash -o pipefail`: the pipeline's exit code is the CLI's unless the reader
 * failed. `reader` is shell text, e.g. `head -c 10 >/dev/null`; `stderrToo` pipes stderr into the reader as well.
 */
export function runVrskyPiped(
  args: string[],
  reader: string,
  o: { stderrToo?: boolean; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  const cli = [process.execPath, MAIN, ...args].map(quote).join(" ");
  return collect(
    "bash",
    ["-o", "pipefail", "-c", `${cli} ${o.stderrToo ? "2>&1 " : ""}| ${reader}`],
    o.timeoutMs ?? 20_000,
  );
}
