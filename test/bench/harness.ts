/** What every long-running benchmark needs: progress on stderr, and cleanup that also runs on Ctrl-C. */
import { performance } from "node:perf_hooks";

export interface Harness {
  progress(msg: string): void;
  /** Undo steps, run in reverse order; a step done early can be taken out again. */
  readonly cleanups: Array<() => Promise<void> | void>;
  cleanup(): Promise<void>;
  /** Set once SIGINT or SIGTERM arrived. */
  readonly interrupted: boolean;
}

export function benchHarness(name: string): Harness {
  const began = performance.now();
  const steps: Array<() => Promise<void> | void> = [];
  let cleaning: Promise<void> | undefined;
  const h = {
    interrupted: false,
    progress: (msg: string) =>
      process.stderr.write(`[${name} ${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`),
    cleanups: steps,
    cleanup: () =>
      (cleaning ??= (async () => {
        for (const c of steps.splice(0).reverse()) {
          try {
            await c();
          } catch (e) {
            process.stderr.write(`cleanup: ${e instanceof Error ? e.message : String(e)}\n`);
          }
        }
      })()),
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      h.interrupted = true;
      h.progress(`${sig}: cleaning up`);
      void h.cleanup().finally(() => process.exit(130));
    });
  }
  return h;
}

/**
 * The connection option of the engine's own connections (engine/nats/connect.ts `connectNats`) that changes their
 * cost: no Error with a stack trace built for each request. Benchmarks connect with it, reconcilers, workers and
 * floors alike, so that they measure what `vrsky reconcile` and `vrsky worker` pay.
 */
export const ENGINE_CONNECTION = { noAsyncTraces: true } as const;
