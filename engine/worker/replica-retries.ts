/**
 * When the lifecycle (lifecycle.ts) steps a replica again by itself: after a failed start or run (the claim reads
 * `failed`; the delay is the error class's), and after a step that threw (a claim read or write without an answer).
 * One timer per replica key; a new one replaces the old.
 */
import { decideRetry, RETRY } from "../errors/retry.js";

export class ReplicaRetries {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Steps that threw in a row, by key. */
  private readonly stepFailures = new Map<string, number>();

  constructor(
    private readonly step: (key: string) => void,
    private readonly random: () => number,
  ) {}

  /** Steps `key` again in `ms`. */
  later(key: string, ms: number): void {
    this.cancel(key);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.step(key);
      }, ms),
    );
  }

  pending(key: string): boolean {
    return this.timers.has(key);
  }

  cancel(key: string): void {
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.delete(key);
  }

  cancelAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** A step of `key` threw: steps it again after a backoff that grows with the failures in a row; returns it. */
  stepFailed(key: string): number {
    const attempt = (this.stepFailures.get(key) ?? 0) + 1;
    this.stepFailures.set(key, attempt);
    const d = decideRetry({ retry: "transient", attempt, policy: RETRY.replicaStart, random: this.random() });
    const ms = d.action === "retry" ? d.delayMs : RETRY.replicaStart.maxMs;
    this.later(key, ms);
    return ms;
  }

  stepSucceeded(key: string): void {
    this.stepFailures.delete(key);
  }
}
