/**
 * Folders the engine writes secrets and state into (the key folder, `vrsky up`'s data folder) kept out of git: a
 * `.gitignore` holding `*` in each, and a check that no file in the key folder is tracked already (an ignore file
 * does not stop a tracked file from being committed again).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { printable } from "../text/printable.js";
import { git } from "./exec.js";

export const IGNORE_ALL = "*\n";

/** Makes `dir` (with its parents) and writes `.gitignore` holding `*` into it unless it has one. */
export function ensureIgnoredFolder(dir: string): void {
  const file = resolve(dir, ".gitignore");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!existsSync(file)) writeFileSync(file, IGNORE_ALL, { mode: 0o600, flag: "wx" });
  } catch (e) {
    throw new VrskyError("VRS_WRITE_FAILED", `cannot write ${file}: ${errorMessage(e)}`, { cause: e });
  }
}

/**
 * The files under `path` that git tracks, in whatever repository holds `path` (none when it is in no repository).
 * Asked from the nearest folder that exists, so that files tracked but deleted from the disk count too.
 */
export async function trackedFiles(path: string): Promise<string[]> {
  const target = resolve(path);
  let base = target;
  while (!existsSync(base) && dirname(base) !== base) base = dirname(base);
  const r = await git(base, ["ls-files", "-z", "--full-name", "--", relative(base, target) || "."]);
  if (r.code !== 0) return [];
  return r.stdout
    .toString("utf8")
    .split("\0")
    .filter((f) => f !== "");
}

/** Refuses (VRS_KEYS_TRACKED) a key folder that holds a file git tracks: its secrets are, or are about to be, in git. */
export async function refuseTrackedKeys(keysDir: string): Promise<void> {
  const tracked = await trackedFiles(keysDir);
  if (tracked.length === 0) return;
  const shown = tracked.slice(0, 3).map(printable).join(", ");
  throw new VrskyError(
    "VRS_KEYS_TRACKED",
    `the key folder ${printable(resolve(keysDir))} holds ${tracked.length} file(s) tracked by git (${shown}${tracked.length > 3 ? ", ..." : ""}); refusing to start`,
  );
}
