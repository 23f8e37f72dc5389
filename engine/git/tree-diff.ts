import { spawn } from "node:child_process";
import { VrskyError } from "../errors/errors.js";
import { git, gitOk } from "./exec.js";

/** One path that differs between two commits (`git diff-tree -r --raw`, renames as a delete and an add). */
export interface TreeChange {
  status: "A" | "M" | "D" | "T";
  path: string;
  /** Mode and blob id after the change ("000000" and zeros for a delete). */
  mode: string;
  oid: string;
  /** Mode before the change ("000000" for an add). */
  oldMode: string;
  oldOid: string;
}

/** The files that differ between two commits, whole tree, renames and copies not detected. */
export async function diffTrees(repo: string, from: string, to: string): Promise<TreeChange[]> {
  const out = await gitOk(repo, ["diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-commit-id", from, to]);
  const parts = out.toString("utf8").split("\0");
  const changes: TreeChange[] = [];
  // -z --raw: ":<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0" per file.
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const meta = parts[i]!;
    if (!meta.startsWith(":")) break;
    const [oldMode, mode, oldOid, oid, status] = meta.slice(1).split(" ");
    changes.push({
      status: status![0] as TreeChange["status"],
      path: parts[i + 1]!,
      mode: mode!,
      oid: oid!,
      oldMode: oldMode!,
      oldOid: oldOid!,
    });
  }
  return changes;
}

/** Whether `ancestor` is `commit` or one of its ancestors (a fast-forward from it). */
export async function isAncestor(repo: string, ancestor: string, commit: string): Promise<boolean> {
  const r = await git(repo, ["merge-base", "--is-ancestor", ancestor, commit]);
  if (r.code > 1)
    throw new VrskyError("VRS_GIT_FAILED", `git merge-base failed in ${repo}: ${r.stderr.trim().split("\n")[0] ?? ""}`);
  return r.code === 0;
}

/** A blob as `readBlobsWithin` returns it: its bytes, or only its size when it is over the limit. */
export type SizedBlob = { size: number; bytes?: Buffer };

/**
 * Reads blobs through one `git cat-file --batch-command` process: first the size of each, then the contents of
 * those of at most `maxBytes` only, so that an oversized blob is never read into memory.
 */
export function readBlobsWithin(repo: string, oids: string[], maxBytes: number): Promise<Map<string, SizedBlob>> {
  const result = new Map<string, SizedBlob>();
  if (oids.length === 0) return Promise.resolve(result);
  return new Promise((resolve, reject) => {
    const child = spawn("git", ["-C", repo, "cat-file", "--batch-command", "--buffer"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
    });
    let buf: Buffer = Buffer.alloc(0);
    let infos = 0;
    let wanted: string[] = [];
    let next = 0;
    let failure: VrskyError | undefined;
    const err: Buffer[] = [];
    const fail = (message: string) => {
      failure ??= new VrskyError("VRS_GIT_FAILED", message);
      child.kill();
    };
    const consume = () => {
      for (;;) {
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        const [oid, type, size] = buf.subarray(0, nl).toString("utf8").split(" ");
        if (type === "missing" || type === undefined) return fail(`object ${oid} is missing from ${repo}`);
        const n = Number(size);
        if (infos < oids.length) {
          buf = buf.subarray(nl + 1);
          result.set(oid!, { size: n });
          if (++infos === oids.length) {
            wanted = oids.filter((o) => result.get(o)!.size <= maxBytes);
            child.stdin.end(wanted.map((o) => `contents ${o}\n`).join("") + "flush\n");
          }
          continue;
        }
        if (buf.length < nl + 1 + n + 1) return;
        result.get(oid!)!.bytes = Buffer.from(buf.subarray(nl + 1, nl + 1 + n));
        buf = buf.subarray(nl + 1 + n + 1);
        next++;
      }
    };
    child.stdout.on("data", (b: Buffer) => {
      buf = buf.length === 0 ? b : Buffer.concat([buf, b]);
      consume();
    });
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => undefined);
    child.on("error", (e) => reject(new VrskyError("VRS_GIT_FAILED", `cannot run git: ${e.message}`, { cause: e })));
    child.on("close", (code) => {
      if (failure) return reject(failure);
      if (code !== 0 || next !== wanted.length || infos !== oids.length) {
        const why = Buffer.concat(err).toString("utf8").trim().split("\n")[0] ?? "";
        return reject(new VrskyError("VRS_GIT_FAILED", `git cat-file failed in ${repo}: ${why}`));
      }
      resolve(result);
    });
    child.stdin.write(oids.map((o) => `info ${o}\n`).join("") + "flush\n");
  });
}
