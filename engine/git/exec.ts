import { spawn } from "node:child_process";
import { VrskyError } from "../errors/errors.js";

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/** Runs git with arguments (never through a shell), optionally feeding stdin; collects stdout as bytes. */
export function git(repo: string, args: string[], input?: string | Buffer): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", ["-C", repo, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new VrskyError("VRS_GIT_FAILED", `cannot run git: ${e.message}`, { cause: e })));
    child.on("close", (code) =>
      resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8"), code: code ?? 1 }),
    );
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });
}

/** Like git(), but a non-zero exit is an operational error. */
export async function gitOk(repo: string, args: string[], input?: string | Buffer): Promise<Buffer> {
  const r = await git(repo, args, input);
  if (r.code !== 0) {
    throw new VrskyError("VRS_GIT_FAILED", `git ${args[0]} failed in ${repo}: ${r.stderr.trim().split("\n")[0] ?? ""}`);
  }
  return r.stdout;
}
