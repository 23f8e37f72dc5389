/**
 * Where file connectors may read and write: under the tenant's root, `<--file-root>/<tenant>/`, set by the
 * operator. A configured path is taken from the root when relative, and must lie inside it when absolute; `..`
 * is refused outright, and the real path (links resolved) must stay inside the root's real path, so no link leads
 * out. Without a root, file connectors do not start (VRS_FILE_ROOT_MISSING).
 */
import { mkdir, realpath } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { VrskyError } from "../../errors/errors.js";

/** The tenant's root under the operator's file root, or undefined when the operator set none. */
export function tenantFileRoot(fileRoot: string | undefined, tenant: string): string | undefined {
  return fileRoot === undefined ? undefined : join(resolve(fileRoot), tenant);
}

/**
 * The path of `field` (e.g. `config.directory`) inside the root, or why not; pure (no file system). A relative
 * path is taken from the root; `..`, NUL and an absolute path elsewhere are refused.
 */
export function pathUnderRoot(root: string, value: string, field: string): string {
  if (value.includes("\0")) throw outside(field, value, "it holds a NUL character");
  if (value.split(/[\\/]/).includes("..")) throw outside(field, value, "'..' is not allowed");
  const full = isAbsolute(value) ? resolve(value) : resolve(root, value);
  if (!inside(root, full)) throw outside(field, value, `it is not under the tenant's root ${root}`);
  return full;
}

/** Whether `path` is `root` or below it (both absolute and normalised). */
export function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel) && !rel.startsWith(sep));
}

/**
 * Makes the directory of `field` (and the tenant's root) when missing and returns its real path, checked to be
 * inside the root's real path: a link anywhere on the way that leads out is refused.
 */
export async function directoryUnderRoot(root: string | undefined, value: string, field: string): Promise<string> {
  if (root === undefined) {
    throw new VrskyError(
      "VRS_FILE_ROOT_MISSING",
      `${field}: file connectors need a root directory for the tenant, and the operator has set none (vrsky worker --file-root DIR)`,
    );
  }
  await mkdir(root, { recursive: true });
  const realRoot = await realpath(root);
  // A path written with the root's real name (a root under a linked /tmp) is taken as under the root too.
  const lexical = isAbsolute(value) && inside(realRoot, resolve(value)) ? resolve(value) : undefined;
  const full = lexical ?? pathUnderRoot(root, value, field);
  // Each existing part on the way is checked before anything is made under it.
  const rel = relative(inside(realRoot, full) ? realRoot : root, full);
  let at = inside(realRoot, full) ? realRoot : root;
  for (const part of rel === "" ? [] : rel.split(sep)) {
    at = join(at, part);
    await mkdir(at).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e;
    });
    const real = await realpath(at);
    if (!inside(realRoot, real)) throw outside(field, value, `a link on the way leads to ${real}, outside the root`);
    at = real;
  }
  return at;
}

function outside(field: string, value: string, why: string): VrskyError {
  return new VrskyError("VRS_FILE_PATH_OUTSIDE_ROOT", `${field}: ${JSON.stringify(value)} is refused: ${why}`);
}
