import { existsSync, mkdirSync, watch, type FSWatcher } from "node:fs";
import { dirname, join } from "node:path";
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

/**
 * A local repository: `fs.watch` on the folders from the git folder down to the ref's, so a commit is seen at once
 * (no polling, no throttle). Git replaces a ref by renaming its lock file over it, writes packed-refs the same way,
 * and makes or removes the folders of a nested branch name (`refs/heads/team/x`) as refs come and go: each of these
 * is an event on a watched folder. A folder of the ref made later is watched when it appears (and the ref checked
 * then, as it may be written already); one removed is let go.
 */
export class LocalRefSource implements RefSource {
  readonly ref: string;
  private readonly watchers = new Map<string, FSWatcher>();
  private trailing: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly repo: string,
    branch: string,
  ) {
    this.ref = `refs/heads/${branch}`;
  }

  async start(onChange: (why: string) => void): Promise<void> {
    const gitDir = (await gitOk(this.repo, ["rev-parse", "--absolute-git-dir"])).toString("utf8").trim();
    const refFile = join(gitDir, this.ref);
    // The folders from the git folder down to the ref's: each is watched while it exists.
    const chain = [gitDir];
    for (const part of this.ref.split("/").slice(0, -1)) chain.push(join(chain[chain.length - 1]!, part));
    const fire = (why: string) => {
      onChange(why);
      // Two quick commits are two events; the re-check is for a ref read in the middle of a run that started on the
      // first one, and for platforms whose watch gives no file name.
      if (this.trailing) clearTimeout(this.trailing);
      this.trailing = setTimeout(() => onChange("re-check after ref change"), 75);
    };
    const arm = (): void => {
      for (const dir of chain) {
        if (this.watchers.has(dir)) continue;
        let w: FSWatcher;
        try {
          w = watch(dir, (_event, name) => event(dir, name === null ? undefined : String(name)));
        } catch {
          break; // not made yet: the watch of its parent arms it when it appears
        }
        w.on("error", () => forget(dir));
        this.watchers.set(dir, w);
      }
    };
    /** Lets go of the watches of this folder and those below it (removed, or replaced). */
    const forget = (dir: string) => {
      for (const d of chain.slice(chain.indexOf(dir))) {
        this.watchers.get(d)?.close();
        this.watchers.delete(d);
      }
    };
    const event = (dir: string, name: string | undefined) => {
      if (this.stopped) return;
      const path = name === undefined ? undefined : join(dir, name);
      if (path !== undefined && chain.includes(path)) {
        // A folder of the ref made or removed: watch it afresh, and look at the ref (it may be written already).
        forget(path);
        arm();
        fire(`ref folder ${path.slice(gitDir.length + 1)} changed`);
      } else if (
        path === undefined ||
        path === refFile ||
        (dir === gitDir && (name === "packed-refs" || name === "HEAD"))
      )
        fire(`ref ${path === undefined ? this.ref : path.slice(gitDir.length + 1)} changed`);
    };
    arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.trailing) clearTimeout(this.trailing);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
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
