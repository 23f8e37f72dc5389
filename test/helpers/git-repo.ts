import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** git's environment for tests: a fixed author and committer, no system or user configuration. */
export const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "VRSky Test",
  GIT_AUTHOR_EMAIL: "test@vrsky.invalid",
  GIT_COMMITTER_NAME: "VRSky Test",
  GIT_COMMITTER_EMAIL: "test@vrsky.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
  HOME: tmpdir(),
};

/** A real git repository in a temporary folder, for tests. */
export class TestRepo {
  readonly dir: string;

  constructor(prefix = "vrsky-repo-") {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.git("init", "-q", "-b", "main");
  }

  git(...args: string[]): string {
    return execFileSync("git", ["-C", this.dir, ...args], { env: GIT_ENV, encoding: "utf8" }).trim();
  }

  write(path: string, content: string | Uint8Array): this {
    const abs = join(this.dir, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
    return this;
  }

  link(path: string, target: string): this {
    const abs = join(this.dir, path);
    mkdirSync(dirname(abs), { recursive: true });
    symlinkSync(target, abs);
    return this;
  }

  remove(path: string): this {
    unlinkSync(join(this.dir, path));
    return this;
  }

  /** Stages everything and commits; returns the commit id. */
  commit(message = "change"): string {
    this.git("add", "-A");
    this.git("commit", "-q", "--allow-empty", "-m", message);
    return this.git("rev-parse", "HEAD");
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// The manifest builders live in manifests.ts; these names stay importable from here.
export { integrationYaml, tenantYaml } from "./manifests.js";
