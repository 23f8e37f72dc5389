/**
 * The bookkeeping of forced streams passes (start-up, resync, drift; integration-streams.ts): the tenants still due
 * to be checked, the pass's once-only checks, the accounts' stream listings taken for it, and when a check lets a
 * waiting run go first. A pass spans runs: the run that starts it stops checking as soon as another run waits (a
 * commit does not wait for the pass), and the runs after it check the tenants left, each at least `minimum` of
 * them whatever waits, so that every pass ends.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { StreamListing } from "../dataplane/streams.js";

/** What a run asks of the pass (the streams step's input, integration-streams.ts `StreamsPass`). */
export interface PassAsk {
  /** This run checks due tenants (false: only what changed, as a commit's run does). */
  checkDue: boolean;
  /**
   * True when another run waits that should go first: due tenants not begun (or waiting for their account's
   * listing) stay due; a run that does not start the pass checks its first `minimum` all the same.
   */
  yieldNow?: () => boolean;
}

/** One run's share of the pass. */
export interface PassRun extends PassAsk {
  /** Due tenants this run checks whatever waits (0 for the run that starts the pass). */
  minimum: number;
  /** Due tenants this run began to check. */
  begun: number;
}

/** What `yieldable` gives instead of the value when the run let another go first. */
export const YIELDED = Symbol("yielded");

/** How often a wait that may be cut short asks whether another run waits. */
const POLL_MS = 10;

export class ForcedPass {
  private readonly due = new Set<string>();
  /** The pass's end is to be done (the status records read again, the shared account's leftovers). */
  endDue = false;
  private readonly listings = new Map<NatsConnection, Promise<StreamListing | undefined>>();

  /** A pass begins: every tenant is due again; listings of the pass before are not used. */
  begin(tenants: Iterable<string>): void {
    for (const t of tenants) this.due.add(t);
    this.endDue = true;
    this.listings.clear();
  }

  /** Tenants that are no longer desired are not due. */
  retain(desired: (tenant: string) => boolean): void {
    for (const t of this.due) if (!desired(t)) this.due.delete(t);
  }

  get size(): number {
    return this.due.size;
  }

  tenants(): string[] {
    return [...this.due];
  }

  /**
   * True when the run checks `t` now (it is due, and the run has not begun its `minimum` or nothing waits): it
   * is no longer due. `mustFinish` tells whether the check may still be cut short (`yieldable`).
   */
  take(t: string, run: PassRun): { check: boolean; mustFinish: boolean } {
    if (!run.checkDue || !this.due.has(t)) return { check: false, mustFinish: false };
    const mustFinish = run.begun < run.minimum;
    if (!mustFinish && (run.yieldNow?.() ?? false)) return { check: false, mustFinish: false };
    run.begun++;
    this.due.delete(t);
    return { check: true, mustFinish };
  }

  /** A check cut short: the tenant is due again. */
  putBack(t: string, run: PassRun): void {
    this.due.add(t);
    run.begun--;
  }

  /** The pass ended (no tenant due): its listings go. */
  endIfDone(): void {
    if (this.due.size === 0) this.listings.clear();
  }

  /**
   * The account's listing for this pass, taken once (`list`) and shared by the runs of the pass. A stream deleted
   * by hand after the listing was taken is made again by the next pass; one deleted by a run meanwhile (an
   * integration removed) is deleted again harmlessly if a leftovers scan finds it in the listing.
   */
  listing(nc: NatsConnection, list: () => Promise<StreamListing | undefined>): Promise<StreamListing | undefined> {
    let p = this.listings.get(nc);
    if (!p) {
      p = list();
      this.listings.set(nc, p);
    }
    return p;
  }
}

/**
 * Waits for `p`, unless another run comes to wait meanwhile (`run.yieldNow`, asked every 10 ms) and the check may be
 * cut short: then YIELDED at once, and `p` goes on by itself (what it gets is kept by whoever holds it).
 */
export async function yieldable<T>(p: Promise<T>, run: PassRun, mustFinish: boolean): Promise<T | typeof YIELDED> {
  const yieldNow = run.yieldNow;
  if (mustFinish || !yieldNow) return p;
  if (yieldNow()) return YIELDED;
  let timer: NodeJS.Timeout | undefined;
  const waiting = new Promise<typeof YIELDED>((resolve) => {
    timer = setInterval(() => yieldNow() && resolve(YIELDED), POLL_MS);
  });
  try {
    return await Promise.race([p, waiting]);
  } finally {
    clearInterval(timer);
  }
}
