/**
 * The log of the reconcile step that is running, for components that outlive a step and were handed a log when
 * they were made (tenant accounts and discovery, integrations' streams). No context manager is registered (spans
 * are passed explicitly, never "active"), so the step's runner routes their lines through its own log — the one
 * that carries the step span's `trace_id` and `span_id` — while the step runs, and through the base log otherwise.
 * Steps run one at a time, so one current log is enough.
 */
type LogFn = (event: string, fields?: Record<string, unknown>) => void;

export class StepLog {
  private current: LogFn;

  constructor(private readonly base: LogFn) {
    this.current = base;
  }

  /** The log to hand to the components: it writes through whichever log is current. */
  readonly log: LogFn = (event, fields) => this.current(event, fields);

  /** Runs `fn` with `log` current; the base log again once it settles. */
  async within<T>(log: LogFn, fn: () => Promise<T>): Promise<T> {
    this.current = log;
    try {
      return await fn();
    } finally {
      this.current = this.base;
    }
  }
}
