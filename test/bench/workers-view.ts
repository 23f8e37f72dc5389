/**
 * The benchmark's own view of workers, assignments and claims (`npm run bench:workers`): one KV watch per bucket
 * on the bench's connection, with the local arrival time of every entry, and awaitable conditions. Nothing polls:
 * a condition is checked when an entry arrives.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeReplica, decodeWorker } from "../../engine/contract/record-checks.js";
import { AssignmentIndex } from "../../engine/state/assignments.js";
import { KvMirror, type MirrorEntry } from "../../engine/state/mirror.js";
import { openState } from "../../engine/state/open.js";
import type { ReplicaRecord, WorkerRecord } from "../../engine/contract/workers.js";
import { preciseNow } from "../../engine/worker/worker.js";

export type Bucket = "workers" | "assignments" | "replicas";
export type Change = { bucket: Bucket; key: string; entry: MirrorEntry<unknown> | undefined; at: number };

interface Waiter {
  check: (c: Change | undefined) => boolean;
  resolve: (at: number) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class ClusterView {
  workers!: KvMirror<WorkerRecord>;
  /** By replica key, whichever worker's key a record is stored under (a move: a put, then a delete that changes nothing here). */
  assignments!: AssignmentIndex;
  replicas!: KvMirror<ReplicaRecord>;
  private waiters = new Set<Waiter>();
  /** Optional recorder of every change (the hand-over timeline of one trial). */
  recorder: ((c: Change) => void) | undefined;

  async start(nc: NatsConnection): Promise<this> {
    const s = await openState(nc);
    this.workers = new KvMirror(s.workers, decodeWorker);
    this.assignments = new AssignmentIndex(s.assignments);
    this.replicas = new KvMirror(s.replicas, decodeReplica);
    for (const [bucket, m] of [
      ["workers", this.workers],
      ["assignments", this.assignments],
      ["replicas", this.replicas],
    ] as const) {
      (m as Pick<KvMirror<unknown>, "onChange">).onChange((key, entry) =>
        this.changed({ bucket, key, entry, at: preciseNow() }),
      );
    }
    await Promise.all([this.workers.start(), this.assignments.start(), this.replicas.start()]);
    return this;
  }

  private changed(c: Change): void {
    this.recorder?.(c);
    for (const w of [...this.waiters]) {
      if (!w.check(c)) continue;
      clearTimeout(w.timer);
      this.waiters.delete(w);
      w.resolve(c.at);
    }
  }

  /**
   * Resolves with the arrival time of the change after which `check` returns true (at once, with now, if it is
   * true already: it is then called with `undefined`). `check` may keep incremental state.
   */
  until(check: (c: Change | undefined) => boolean, timeoutMs: number, what: string): Promise<number> {
    if (check(undefined)) return Promise.resolve(preciseNow());
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        check,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** Every wanted replica is assigned to a worker, and its claim is that worker's, at that epoch, running. */
  settled(total: number): boolean {
    if (this.assignments.entries.size !== total) return false;
    for (const [key, a] of this.assignments.entries) {
      const c = this.replicas.get(key)?.value;
      if (
        a.value.worker === null ||
        !c ||
        c.worker !== a.value.worker ||
        c.epoch !== a.value.epoch ||
        c.state !== "running"
      )
        return false;
    }
    return true;
  }

  /** What keeps `settled` false, for an error message: counts by reason and a few examples. */
  unsettled(total: number): string {
    const reasons = new Map<string, string[]>();
    const add = (why: string, key: string) => reasons.set(why, [...(reasons.get(why) ?? []), key]);
    for (const [key, a] of this.assignments.entries) {
      const c = this.replicas.get(key)?.value;
      if (a.value.worker === null) add(`unplaced (${a.value.reason})`, key);
      else if (!c) add("no claim", key);
      else if (c.worker === null)
        add(`claim released at epoch ${c.epoch <= a.value.epoch ? "≤" : ">"} the assignment's`, key);
      else if (c.worker !== a.value.worker) {
        const holder = this.workers.get(c.worker)?.value;
        const reg = !holder
          ? "not registered"
          : holder.session === c.session
            ? "registered, same session"
            : "registered, another session";
        add(
          `claim held by another worker (state ${c.state}; holder ${reg}; claim epoch ${c.epoch} vs assignment ${a.value.epoch})`,
          key,
        );
      } else if (c.epoch !== a.value.epoch) add("claim at another epoch", key);
      else if (c.state !== "running") add(`claim ${c.state}${c.reason ? `: ${c.reason}` : ""}`, key);
    }
    const parts = [...reasons].map(([why, keys]) => `${keys.length} × ${why} (e.g. ${keys.slice(0, 3).join(", ")})`);
    return `${this.assignments.entries.size}/${total} assignments; ${parts.join("; ") || "all settled"}`;
  }

  assignedTo(worker: string): string[] {
    return [...this.assignments.entries].filter(([, a]) => a.value.worker === worker).map(([k]) => k);
  }

  stop(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error("view stopped"));
    }
    this.waiters.clear();
    this.workers?.stop();
    this.assignments?.stop();
    this.replicas?.stop();
  }
}
