import { existsSync } from "node:fs";
import { lstat, readdir, readFile, realpath } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { isManifestPath, mayHideManifests, strayEntry, type ManifestFile } from "../manifests/load.js";
import { DEFAULT_LIMITS, type InputLimits } from "../manifests/limits.js";

/** The manifest files (or the files `select` picks) of a working tree, for editors (`vrsky validate --worktree`). Never used to apply. */
export async function readWorktree(
  root: string,
  options: { limits?: InputLimits; select?: (path: string) => boolean } = {},
): Promise<ManifestFile[]> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const select = options.select ?? isManifestPath;
  const realRoot = await realpath(root).catch((e: unknown) => {
    throw new VrskyError("VRS_WORKTREE_INVALID", `${root} does not exist`, { cause: e });
  });
  const folders = await Promise.all(
    ["tenants", "integrations"].map((f) =>
      lstat(join(root, f)).then(
        (s) => s.isDirectory(),
        () => false,
      ),
    ),
  );
  if (!folders.some(Boolean)) {
    throw new VrskyError("VRS_WORKTREE_INVALID", `${root} has neither tenants/ nor integrations/`);
  }
  const files: ManifestFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(join(root, dir))).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const rel = dir === "" ? name : `${dir}/${name}`;
      const abs = join(root, rel);
      const st = await lstat(abs);
      if (st.isDirectory()) {
        if (name.startsWith(".")) continue;
        // A submodule's work tree: its files are not part of the commit, so they are not read here either.
        if (existsSync(join(abs, ".git"))) {
          if (!options.select) files.push(strayEntry(rel, "submodule"));
        } else await walk(rel);
        continue;
      }
      if (!select(rel)) {
        if (!options.select && st.isSymbolicLink() && mayHideManifests(rel)) files.push(strayEntry(rel, "link"));
        continue;
      }
      const at = { line: 1, column: 1, path: "" } as const;
      let target = abs;
      if (st.isSymbolicLink()) {
        try {
          target = await realpath(abs);
        } catch {
          files.push({
            path: rel,
            problem: { ...at, code: "VRS_FILE_SYMLINK_BROKEN", message: "link points to nothing" },
          });
          continue;
        }
        const inside = relative(realRoot, target);
        if (inside.startsWith("..") || inside.startsWith(sep) || inside === "") {
          files.push({
            path: rel,
            problem: { ...at, code: "VRS_FILE_SYMLINK_OUTSIDE", message: "link leaves the repository" },
          });
          continue;
        }
      }
      const tst = await lstat(target);
      if (!tst.isFile()) {
        files.push({ path: rel, problem: { ...at, code: "VRS_FILE_UNSUPPORTED_TYPE", message: "not a regular file" } });
      } else if (tst.size > limits.maxFileBytes) {
        files.push({
          path: rel,
          problem: {
            ...at,
            code: "VRS_FILE_TOO_LARGE",
            message: `file is ${tst.size} bytes; the limit is ${limits.maxFileBytes} bytes`,
          },
        });
      } else {
        files.push({ path: rel, bytes: await readFile(target) });
      }
    }
  };
  try {
    for (const top of ["tenants", "integrations"]) {
      const st = await lstat(join(root, top)).catch(() => undefined);
      if (st?.isSymbolicLink() && !options.select) files.push(strayEntry(top, "link"));
      else if (existsSync(join(root, top, ".git"))) {
        if (!options.select) files.push(strayEntry(top, "submodule"));
      } else await walk(top);
    }
  } catch (e) {
    // A file that vanished or may not be read while we walk: the tree cannot be validated as it is.
    throw new VrskyError("VRS_WORKTREE_INVALID", `cannot read the working tree ${root}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  return files;
}

/**
 * The regular files under `secrets/` in a working tree (for `vrsky validate --worktree`), or undefined when it has
 * no `secrets/` folder. Links are left out, as in a commit (sealedSecretsAt).
 */
export async function sealedSecretsInWorktree(root: string): Promise<Set<string> | undefined> {
  const top = await lstat(join(root, "secrets")).catch(() => undefined);
  if (!top?.isDirectory()) return undefined;
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(join(root, dir))) {
      const rel = `${dir}/${name}`;
      const st = await lstat(join(root, rel));
      if (st.isDirectory()) await walk(rel);
      else if (st.isFile()) out.add(rel);
    }
  };
  try {
    await walk("secrets");
  } catch (e) {
    throw new VrskyError("VRS_WORKTREE_INVALID", `cannot read the working tree ${root}: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  return out;
}
