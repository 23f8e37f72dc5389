/**
 * One replica as this worker holds it (`LocalReplica`), and starting and ending its runs: the tenant session, the
 * runner (runner.ts), the start timeout, the drain deadline. Decisions about when to do either are the
 * lifecycle's (lifecycle.ts).
 */
import { errorMessage, VrskyError } from "../errors/errors.js";
import type { IntegrationResource } from "../model/resources.js";
import type { HeldState } from "./claims.js";
import type { ReplicaRunner, RunningReplica } from "./runner.js";
import type { TenantSession, TenantSessions } from "./tenant-sessions.js";

/** The integration a replica runs: its applied record's resource, hash and revision. */
export interface AppliedSpec {
  resource: IntegrationResource;
  specHash: string;
  revision: string;
}

export interface LocalReplica {
  key: string;
  tenant: string;
  integration: string;
  replica: number;
  epoch: number;
  state: HeldState;
  /** KV revision of our last write of the claim. */
  claimRev: number;
  /** Hash of the spec it runs, or last tried to start. */
  specHash: string | undefined;
  session?: TenantSession;
  /** Removes the listener for the session's `lost` event. */
  offLost?: () => void;
  run?: RunningReplica;
  /** Raised when a run starts or ends: a failure reported by a run that has ended is ignored. */
  runGen: number;
  /** When the current run started (performance.now), 0 while none runs. */
  runningSince: number;
  /** Failures in a row. */
  failures: number;
  /** When to try again after a failure (Infinity: not until the spec or the assignment changes). */
  retryAt: number;
}

/** A wall-clock time in ms with sub-ms precision, comparable across processes on one machine (test logs). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface ReplicaRunsOptions {
  worker: string;
  sessions: TenantSessions;
  runner: ReplicaRunner;
  /** A replica that has not started within this time is failed (and retried later). */
  startTimeoutMs: number;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** A run failed after its start: it reported a failure, or its tenant connection was lost. */
  onFailure: (l: LocalReplica, error: unknown) => void;
}

export class ReplicaRuns {
  constructor(private readonly o: ReplicaRunsOptions) {}

  /**
   * Connects to the tenant and starts a run of `l` with `spec` (sets `run`, `session`, `offLost`). Throws when it
   * cannot, or did not within the start timeout, with nothing left open; a start that completes after its timeout
   * is stopped then.
   */
  async start(l: LocalReplica, spec: AppliedSpec): Promise<void> {
    const starting = this.startRun(l, spec);
    try {
      Object.assign(l, await withTimeout(starting, this.o.startTimeoutMs));
    } catch (e) {
      void starting.then(
        async (late) => {
          late.offLost();
          await late.run.stop().catch(() => undefined);
          await this.o.sessions.release(late.session).catch(() => undefined);
        },
        () => undefined,
      );
      throw e;
    }
  }

  private async startRun(
    l: LocalReplica,
    spec: AppliedSpec,
  ): Promise<{ run: RunningReplica; session: TenantSession; offLost: () => void }> {
    const session = await this.o.sessions.acquire(l.tenant);
    const onLost = (why: string) => this.o.onFailure(l, new VrskyError("VRS_WORKER_TENANT_UNREACHABLE", why));
    session.on("lost", onLost);
    const offLost = () => session.off("lost", onLost);
    const gen = ++l.runGen;
    try {
      const run = await this.o.runner({
        tenant: l.tenant,
        integration: l.integration,
        replica: l.replica,
        epoch: l.epoch,
        worker: this.o.worker,
        resource: spec.resource,
        specHash: spec.specHash,
        revision: spec.revision,
        session,
        reportFailure: (error) => {
          if (l.runGen === gen) this.o.onFailure(l, error);
        },
      });
      return { run, session, offLost };
    } catch (e) {
      offLost();
      await this.o.sessions.release(session).catch(() => undefined);
      throw e;
    }
  }

  /** Ends the run: drains it for up to `graceMs` first (0: no drain), then stops it. */
  async end(l: LocalReplica, graceMs: number): Promise<void> {
    const run = l.run;
    l.runGen++;
    l.runningSince = 0;
    if (!run) return;
    if (graceMs > 0) {
      const drained = run.drain(graceMs).catch((e: unknown) => {
        this.o.log("replica-drain-failed", { key: l.key, epoch: l.epoch, error: errorMessage(e) });
      });
      await withDeadline(drained, graceMs);
    }
    await run.stop().catch(() => undefined);
    if (l.run === run) l.run = undefined;
  }

  /**
   * Stops the run without waiting and lets go of the session (a fence: nothing may keep running). The session goes
   * only after the stop handed its messages back: closed first, the connection would drop the naks, and every
   * message the run held would wait out its ack wait (~30 s) before another replica could take it.
   */
  stopNow(l: LocalReplica): void {
    l.runGen++;
    const run = l.run;
    const release = this.detachSession(l);
    void (async () => {
      await run?.stop().catch(() => undefined);
      await release();
    })();
  }

  async dropSession(l: LocalReplica): Promise<void> {
    await this.detachSession(l)();
  }

  /** Takes the session off `l` (a new run takes its own reference); returns what lets go of it. */
  detachSession(l: LocalReplica): () => Promise<void> {
    const { session, offLost } = l;
    l.session = undefined;
    l.offLost = undefined;
    return async () => {
      offLost?.();
      if (session) await this.o.sessions.release(session).catch(() => undefined);
    };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new VrskyError("VRS_WORKER_START_TIMEOUT", `did not start within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves when `p` settles or after `ms`, whichever comes first. */
function withDeadline(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
}
