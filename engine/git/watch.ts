import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { git, gitOk } from "./exec.js";

/** Tells when the branch may have moved. Listeners re-resolve the ref; spurious calls are harmless. */
export interface RefSource {
  /** The repository to read revisions from (the local repository, or the mirror of a remote). */
  readonly repo: string;
  /** The ref to resolve, e.g. `refs/heads/main`. */
  readonly ref: string;
  start(onChange: (why: string) => void): Promise<void>;
  stop(): Promise<void>;
}

/** A local repository: chokidar on its refs, so a commit is seen at once (no polling). */
export class LocalRefSource implements RefSource {
  readonly ref: string;
  private watcher: FSWatcher | undefined;
  private trailing: NodeJS.Timeout | undefined;

  constructor(
    readonly repo: string,
    branch: string,
  ) {
    this.ref = `refs/heads/${branch}`;
  }

  async start(onChange: (why: string) => void): Promise<void> {
    const gitDir = (await gitOk(this.repo, ["rev-parse", "--absolute-git-dir"])).toString("utf8").trim();
    const refFile = join(gitDir, this.ref);
    // Watch the folders: git replaces ref files by rename, which a watch on the file itself can miss.
    const paths = [dirname(refFile), join(gitDir, "packed-refs"), gitDir];
    this.watcher = watch(paths, {
      ignoreInitial: true,
      depth: 0,
      ignored: (p: string) => p.endsWith(".lock") || p.includes("/objects/") || p.includes("/logs/"),
    });
    // chokidar drops a second `change` of the same path within 50 ms of the first (its throttle), so two
    // quick commits could lose the second: every event is followed by one trailing re-check after that window.
    const fire = (path: string) => {
      if (!(path === refFile || path.endsWith("packed-refs") || path.endsWith("/HEAD"))) return;
      onChange(`ref ${path.slice(gitDir.length + 1)} changed`);
      if (this.trailing) clearTimeout(this.trailing);
      this.trailing = setTimeout(() => onChange("re-check after ref change"), 75);
    };
    this.watcher.on("add", fire).on("change", fire).on("unlink", fire);
    await new Promise<void>((r) => this.watcher!.once("ready", () => r()));
  }

  async stop(): Promise<void> {
    if (this.trailing) clearTimeout(this.trailing);
    await this.watcher?.close();
  }
}

/** A remote repository: a bare mirror under the state folder, fetched periodically. */
export class RemoteRefSource implements RefSource {
  readonly ref: string;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly url: string,
    readonly repo: string,
    branch: string,
    private readonly intervalMs: number,
  ) {
    this.ref = `refs/heads/${branch}`;
  }

  async start(onChange: (why: string) => void): Promise<void> {
    if (!existsSync(join(this.repo, "HEAD"))) {
      try {
        mkdirSync(dirname(this.repo), { recursive: true });
      } catch (e) {
        throw new VrskyError("VRS_WRITE_FAILED", `cannot make the mirror's folder: ${errorMessage(e)}`, { cause: e });
      }
      await gitOk(dirname(this.repo), ["clone", "--quiet", "--mirror", "--", this.url, this.repo]);
    }
    const loop = async () => {
      if (this.stopped) return;
      const r = await git(this.repo, ["fetch", "--quiet", "--prune", "origin"]);
      if (r.code === 0) onChange("fetched");
      if (!this.stopped) this.timer = setTimeout(loop, this.intervalMs);
    };
    await loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
