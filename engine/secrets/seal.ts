import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { git } from "../git/exec.js";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { seal, sealedPath } from "./git-age.js";

export interface SealResult {
  /** Path inside the repository, `secrets/<tenant>/<name>.age`. */
  path: string;
  file: string;
  bytes: number;
}

/**
 * Seals a value into the repository's working tree for the user to review and commit (nothing is committed here:
 * a secret counts once it is committed, like a manifest). An existing file is replaced: that is how a secret is
 * rotated.
 */
export async function sealSecret(o: {
  repo: string;
  tenant: string;
  name: string;
  recipients: string[];
  value: Uint8Array;
}): Promise<SealResult> {
  const path = sealedPath(o.tenant, o.name);
  const repo = resolve(o.repo);
  const top = await git(repo, ["rev-parse", "--show-toplevel"]);
  if (top.code !== 0) throw new VrskyError("VRS_GIT_NOT_A_REPO", `${repo} is not a git repository`);
  const text = await seal(o.value, o.recipients);
  // --repo may name a folder inside the working tree: the path is relative to its top
  const file = join(top.stdout.toString("utf8").trim(), path);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, text, { flag: "wx" });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new VrskyError("VRS_WRITE_FAILED", `cannot write ${file}: ${errorMessage(e)}`);
  }
  return { path, file, bytes: Buffer.byteLength(text) };
}
