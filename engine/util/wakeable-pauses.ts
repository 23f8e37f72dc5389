/**
 * Pauses that a stop cuts short: `pause(ms)` resolves after `ms`, or at once when `wakeAll()` is called (a source's
 * poll or retry loop waits with it, and its stop wakes it instead of waiting the pause out).
 */
export class WakeablePauses {
  private readonly wakers = new Set<() => void>();

  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  /** Ends every pause now. */
  wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }
}
