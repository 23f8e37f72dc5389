import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { LocalRefSource } from "../../engine/git/watch.js";
import { GIT_ENV, TestRepo } from "../helpers/git-repo.js";

const run = promisify(execFile);
/** git without blocking the event loop (the watch's events arrive while it runs, as they do in production). */
const git = async (dir: string, ...args: string[]) =>
  (await run("git", ["-C", dir, ...args], { env: GIT_ENV, encoding: "utf8" })).stdout.trim();

/** The events of a LocalRefSource, awaitable. */
class Events {
  readonly whys: string[] = [];
  private waiters: Array<{ from: number; pred: (why: string) => boolean; resolve: () => void }> = [];
  readonly on = (why: string): void => {
    this.whys.push(why);
    this.waiters = this.waiters.filter((w) => !this.check(w));
  };
  private check(w: { from: number; pred: (why: string) => boolean; resolve: () => void }): boolean {
    if (!this.whys.slice(w.from).some(w.pred)) return false;
    w.resolve();
    return true;
  }
  /** An event since index `from` that passes `pred` (already there, or to come within `ms`). */
  expect(from: number, pred: (why: string) => boolean, what: string, ms = 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no event for ${what}; saw ${JSON.stringify(this.whys.slice(from))}`)),
        ms,
      );
      const w = {
        from,
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      if (!this.check(w)) this.waiters.push(w);
    });
  }
}

const isRefEvent = (why: string) => !why.startsWith("re-check");

describe("the local ref watcher (engine/git/watch.ts)", () => {
  let repo: TestRepo;
  let source: LocalRefSource | undefined;
  let other: string | undefined;

  beforeEach(async () => {
    repo = new TestRepo("vrsky-refwatch-");
    repo.write("a.txt", "0\n").commit("initial");
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    repo.cleanup();
    if (other) rmSync(other, { recursive: true, force: true });
    other = undefined;
  });

  const watchBranch = async (branch: string): Promise<Events> => {
    const events = new Events();
    source = new LocalRefSource(repo.dir, branch);
    await source.start(events.on);
    return events;
  };

  it("sees each of several quick commits by an event of its own, not only a trailing re-check", async () => {
    const events = await watchBranch("main");
    for (let k = 1; k <= 6; k++) {
      const from = events.whys.length;
      repo.write("a.txt", `${k}\n`);
      await git(repo.dir, "add", "a.txt");
      await git(repo.dir, "commit", "-q", "-m", `quick ${k}`);
      await events.expect(from, (w) => w === "ref refs/heads/main changed", `commit ${k}`);
    }
  });

  it("sees a branch created in a folder that did not exist, commits to it, and it packed and written again", async () => {
    const events = await watchBranch("team/feature");
    let from = events.whys.length;
    await git(repo.dir, "branch", "team/feature");
    await events.expect(from, isRefEvent, "the branch created");

    from = events.whys.length;
    await git(repo.dir, "pack-refs", "--all", "--prune");
    await events.expect(from, (w) => w === "ref packed-refs changed", "packed-refs written");

    // Its folder went with the loose ref: the next write makes it again, and is seen.
    repo.write("a.txt", "next\n").commit("next on main");
    from = events.whys.length;
    await git(repo.dir, "update-ref", "refs/heads/team/feature", "main");
    await events.expect(from, isRefEvent, "the branch written after packing");
    from = events.whys.length;
    await git(repo.dir, "update-ref", "refs/heads/team/feature", "main~1");
    await events.expect(from, (w) => w === "ref refs/heads/team/feature changed", "the next write of the branch");
  });

  it("sees a force push that moves the branch back", async () => {
    const first = repo.git("rev-parse", "HEAD");
    await git(repo.dir, "branch", "deploy");
    const events = await watchBranch("deploy");
    other = mkdtempSync(join(tmpdir(), "vrsky-refwatch-clone-"));
    await git(other, "clone", "-q", repo.dir, ".");
    await git(other, "commit", "-q", "--allow-empty", "-m", "ahead");
    let from = events.whys.length;
    await git(other, "push", "-q", "origin", "HEAD:deploy");
    await events.expect(from, (w) => w === "ref refs/heads/deploy changed", "the push");
    from = events.whys.length;
    await git(other, "push", "-q", "--force", "origin", `${first}:deploy`);
    await events.expect(from, (w) => w === "ref refs/heads/deploy changed", "the force push");
    expect(repo.git("rev-parse", "deploy")).to.equal(first);
  });

  it("sees a change of packed-refs and stops seeing anything once stopped", async () => {
    const events = await watchBranch("main");
    let from = events.whys.length;
    await git(repo.dir, "pack-refs", "--all");
    await events.expect(from, (w) => w === "ref packed-refs changed", "packed-refs written");
    await source!.stop();
    from = events.whys.length;
    await git(repo.dir, "commit", "-q", "--allow-empty", "-m", "after stop");
    await git(repo.dir, "pack-refs", "--all");
    // The trailing re-check timer is cleared by stop too: nothing at all arrives.
    await new Promise((r) => setTimeout(r, 150));
    expect(events.whys.slice(from)).to.deep.equal([]);
  });
});
