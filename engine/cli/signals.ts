/**
 * SIGINT and SIGTERM for the commands that stop gracefully (`worker` drains, `reconcile` gives up its lease,
 * `gateway` answers the requests in flight). The first signal asks the command to stop; a second exits at once.
 *
 * main.ts calls `captureSignalsEarly` on its first line, before the rest of the CLI loads (which takes a second or
 * more on a busy machine): a signal that arrives meanwhile is kept for the command's `watchSignals`, so even a
 * SIGTERM in the first milliseconds ends in a graceful stop rather than in the default kill.
 */

type Deliver = (sig: NodeJS.Signals) => void;

let early: { pending: NodeJS.Signals | undefined; deliver: Deliver | undefined } | undefined;

/** Keeps SIGINT and SIGTERM from killing the process until a command watches for them (main.ts only). */
export function captureSignalsEarly(): void {
  const e: NonNullable<typeof early> = { pending: undefined, deliver: undefined };
  early = e;
  const handler = (sig: NodeJS.Signals) => {
    if (e.deliver) e.deliver(sig);
    else if (e.pending)
      process.exit(sig === "SIGINT" ? 130 : 143); // a second one before the command watched
    else e.pending = sig;
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

export interface SignalWatch {
  /** The first signal, once one arrived. */
  received: NodeJS.Signals | undefined;
  /** Resolves with the first signal. */
  signal: Promise<NodeJS.Signals>;
  /** Stops watching (a signal that arrived is kept; a second one still exits at once). */
  stop(): void;
}

/**
 * Watches for SIGINT and SIGTERM from now on, and for one captured since main.ts started. Call it before any I/O,
 * and `stop()` it when the command ends.
 */
export function watchSignals(): SignalWatch {
  let resolveSignal!: (sig: NodeJS.Signals) => void;
  const watch: SignalWatch = {
    received: undefined,
    signal: new Promise((r) => (resolveSignal = r)),
    stop: () => undefined,
  };
  const fire = (sig: NodeJS.Signals) => {
    if (watch.received) return;
    watch.received = sig;
    watch.stop();
    process.once("SIGINT", () => process.exit(130));
    process.once("SIGTERM", () => process.exit(143));
    resolveSignal(sig);
  };
  if (early) {
    const e = early;
    e.deliver = fire;
    watch.stop = () => {
      if (e.deliver === fire) e.deliver = undefined;
    };
    if (e.pending) fire(e.pending);
  } else {
    process.on("SIGINT", fire);
    process.on("SIGTERM", fire);
    watch.stop = () => {
      process.off("SIGINT", fire);
      process.off("SIGTERM", fire);
    };
  }
  return watch;
}
