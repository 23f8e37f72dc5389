import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * `mkdir -p` one level at a time. Node's recursive mkdirSync loops for ever, at full CPU, on a path whose parent
 * exists but refuses new entries with ENOENT (`/proc/x`); here every level is one plain mkdir, and its error
 * (ENOENT, EACCES, ENOTDIR, EROFS) is thrown as it is.
 */
export function makeDirectory(dir: string, mode = 0o777): void {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    try {
      statSync(at);
      break;
    } catch {
      missing.push(at);
      const up = dirname(at);
      if (up === at) break;
      at = up;
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}
