/**
 * A watchdog for reading an iterator that may stall: `arm()` on the start and on every item; when no item came for
 * `ms`, it calls `onIdle` (stop the iterator) and `fired` says so afterwards. `clear()` when done.
 */
export interface IdleWatchdog {
  arm(): void;
  clear(): void;
  readonly fired: boolean;
}

export function idleWatchdog(ms: number, onIdle: () => void): IdleWatchdog {
  let timer: NodeJS.Timeout | undefined;
  let fired = false;
  return {
    arm() {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fired = true;
        onIdle();
      }, ms);
    },
    clear: () => clearTimeout(timer),
    get fired() {
      return fired;
    },
  };
}
