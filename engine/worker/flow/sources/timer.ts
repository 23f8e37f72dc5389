/**
 * The `timer` source at run time. Time is cut into ticks of `interval` since the epoch: tick `n` starts at
 * `n * interval` (UTC), so every replica, on every worker, agrees on the ticks without talking to the others. At
 * each tick boundary every replica writes the message `tick-<n>` (body: `payload` as JSON; attributes: source
 * `timer`, `tick`, `receivedAt` = the tick's start); the ingest stream's de-duplication stores exactly one per
 * tick, and a tick is emitted while at least one replica runs.
 *
 * The timer is set to the next boundary each time (no drift). A tick whose write fails is retried, with backoff,
 * until the next tick is due. A replica that starts mid-tick waits for the next boundary: it never emits the current
 * tick late (a restart would otherwise emit it again after the de-duplication window of long intervals).
 */
import { parseDuration } from "../../../manifests/durations.js";
import { errorMessage } from "../../../errors/errors.js";
import type { SourceEnv, SourceFactory, SourceRuntime } from "../types.js";
import { WakeablePauses } from "../../../util/wakeable-pauses.js";

/** setTimeout's largest delay; longer waits are cut into pieces. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;

export const timerSource: SourceFactory = async (config, env) => {
  const intervalMs = typeof config.interval === "string" ? parseDuration(config.interval) : undefined;
  if (intervalMs === undefined || intervalMs <= 0) throw new Error("the timer source has no valid interval");
  const body = new TextEncoder().encode(JSON.stringify(config.payload ?? {}));
  const timer = new TimerSource(intervalMs, body, env);
  timer.start();
  return timer;
};

/** The tick that `now` (ms since the epoch) falls in. */
export function tickOf(now: number, intervalMs: number): number {
  return Math.floor(now / intervalMs);
}

export class TimerSource implements SourceRuntime {
  /** Ticks this replica wrote (stored or found a duplicate: another replica was first). */
  readonly written: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastTick: number;
  private readonly writing = new Set<Promise<void>>();
  private readonly pauses = new WakeablePauses();

  constructor(
    readonly intervalMs: number,
    private readonly body: Uint8Array,
    private readonly env: SourceEnv,
    private readonly now: () => number = Date.now,
  ) {
    this.lastTick = tickOf(this.now(), intervalMs);
  }

  start(): void {
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.pauses.wakeAll();
    await Promise.all(this.writing);
  }

  private schedule(): void {
    if (this.stopped) return;
    const next = (this.lastTick + 1) * this.intervalMs;
    const delay = Math.max(0, Math.min(next - this.now(), MAX_TIMER_MS));
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    if (this.stopped) return;
    const n = tickOf(this.now(), this.intervalMs);
    // Early by a millisecond (timer rounding) or a long wait cut in pieces: not there yet.
    if (n <= this.lastTick) return this.schedule();
    this.lastTick = n;
    const write = this.emit(n).finally(() => this.writing.delete(write));
    this.writing.add(write);
    this.schedule();
  }

  /** Writes tick `n`, retrying until it is stored, the next tick is due, or the source stops. */
  private async emit(n: number): Promise<void> {
    const at = n * this.intervalMs;
    const id = `tick-${n}`;
    const envelope = {
      id,
      contentType: "application/json",
      headers: {},
      attributes: { source: "timer", tick: n, receivedAt: new Date(at).toISOString() },
      body: this.body,
    };
    const deadline = at + this.intervalMs;
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      const writer = this.env.ingest();
      let error = "no connection to the ingest stream";
      if (writer) {
        try {
          await writer.write(envelope);
          this.written.push(n);
          return;
        } catch (e) {
          error = errorMessage(e);
        }
      }
      if (this.stopped || this.now() + delay >= deadline) {
        this.env.log("timer-tick-lost", { tick: n, error });
        return;
      }
      await this.pause(delay);
    }
  }

  private pause(ms: number): Promise<void> {
    return this.pauses.pause(ms);
  }
}
