/**
 * The plan behind `GET /api/v1/plan` (plan-body.ts): the head of the branch read from the repository, planned
 * against the live records the API's copies hold. One plan per (head commit, live-state version): the head is
 * resolved on each request (one `git rev-parse`, shared by the requests that arrive while it runs), and the plan is made again only when the branch moved or a
 * tenant or integration record was written; the head's files are read and validated once per commit. Requests that
 * arrive while a plan is being made wait for that one.
 */
import { errorMessage } from "../errors/errors.js";
import type { Finding } from "../errors/finding.js";
import type { Resource } from "../model/resources.js";
import { loadCommitted } from "../git/load-revision.js";
import { allowsPrune, resolveCommit } from "../git/revision.js";
import { ParseCache } from "../manifests/load.js";
import type { DeletionLimits } from "../plan/deletion-guard.js";
import { makePlan, type FullPlan } from "../plan/live.js";
import type { LiveRecords } from "./state.js";

interface LoadedHead {
  desired: Resource[];
  findings: Finding[];
  trailer: boolean;
}

export interface PlanSourceOptions {
  repo: string;
  branch: string;
  /** The reconciler's deletion limits (default: its defaults, 0.5 and 0.5). */
  limits?: DeletionLimits;
  live: () => LiveRecords;
  /** Hears whether a request got a plan made before (`hit`) or a new one (`miss`). */
  onLookup?: (result: "hit" | "miss") => void;
}

/** The branch cannot be read: the plan answers 503 with this message (the details are logged). */
export class PlanUnavailable extends Error {}

export class PlanSource {
  private last: { revision: string; version: number; plan: Promise<FullPlan> } | undefined;
  private head: { revision: string; loaded: Promise<LoadedHead> } | undefined;
  /** The head being resolved: requests that arrive meanwhile share its `git rev-parse`. */
  private resolving: Promise<string> | undefined;

  constructor(private readonly o: PlanSourceOptions) {}

  get branch(): string {
    return this.o.branch;
  }

  async current(): Promise<FullPlan> {
    let revision: string;
    try {
      revision = await (this.resolving ??= resolveCommit(this.o.repo, `refs/heads/${this.o.branch}`).finally(
        () => (this.resolving = undefined),
      ));
    } catch (e) {
      throw new PlanUnavailable(`branch '${this.o.branch}' cannot be read: ${errorMessage(e)}`);
    }
    const live = this.o.live();
    const last = this.last;
    if (last && last.revision === revision && last.version === live.version) {
      this.o.onLookup?.("hit");
      return last.plan;
    }
    this.o.onLookup?.("miss");
    const plan = this.make(revision, live);
    this.last = { revision, version: live.version, plan };
    plan.catch(() => {
      if (this.last?.plan === plan) this.last = undefined;
    });
    return plan;
  }

  private async make(revision: string, live: LiveRecords): Promise<FullPlan> {
    const head = await this.load(revision);
    return makePlan({
      branch: this.o.branch,
      revision,
      ...head,
      live,
      limits: this.o.limits ?? { tenants: 0.5, integrations: 0.5 },
    });
  }

  /** The head's desired state, validated, and whether its message permits pruning: read once per commit. */
  private load(revision: string): Promise<LoadedHead> {
    if (this.head?.revision === revision) return this.head.loaded;
    const loaded = (async () => {
      const [head, trailer] = await Promise.all([
        loadCommitted(this.o.repo, revision, { cache: new ParseCache() }),
        allowsPrune(this.o.repo, revision),
      ]);
      return { desired: head.state.resources, findings: head.state.findings, trailer };
    })();
    this.head = { revision, loaded };
    loaded.catch(() => {
      if (this.head?.loaded === loaded) this.head = undefined;
    });
    return loaded;
  }
}
