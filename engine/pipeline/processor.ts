import type { Code } from "../errors/codes.js";
import { formatPath } from "../manifests/json-path.js";
import type { Integration } from "../model/resources.js";
import { compileCondition, failure, type Condition } from "./cel.js";
import { CompileError, MessageFailure } from "./failure.js";
import type { Message } from "./message.js";
import {
  DROPPED,
  ItemFailure,
  STEP_RUNTIMES,
  unavailableStep,
  type StepCompiler,
  type StepRuntime,
} from "./steps/index.js";

/** A step of the integration: its index in `spec.steps`, and its name when it has one. */
export interface StepRef {
  readonly role: "step";
  readonly index: number;
  readonly name?: string;
  readonly type: string;
}

export interface SinkRef {
  readonly role: "sink";
  readonly index: number;
  readonly name: string;
  readonly type: string;
}

/** One message after the steps, and the sinks whose `when` holds for it (in `spec.sinks` order). */
export interface Output {
  readonly message: Message;
  readonly sinks: readonly SinkRef[];
}

/** A message a step dropped: a filter, or a split of an empty list. */
export interface Drop {
  readonly messageId: string;
  readonly step: StepRef;
}

/** An item a step failed on by itself (a bad CSV row): it alone goes to the dead letters, the others go on. */
export interface Rejection {
  /** The item's id (`<message id>.<index>`). */
  readonly messageId: string;
  readonly step: StepRef;
  readonly code: Code;
  /** Names where in the input (`line 7: ...`). */
  readonly message: string;
}

export type ProcessResult =
  /**
   * At least one message left the steps. Split items that were dropped are listed in `filtered`, items a step
   * rejected by themselves in `rejected`.
   */
  | {
      readonly outcome: "routed";
      readonly outputs: readonly Output[];
      readonly filtered: readonly Drop[];
      readonly rejected: readonly Rejection[];
    }
  /** No message left the steps (each was dropped or rejected); nothing goes to a sink. */
  | { readonly outcome: "filtered"; readonly filtered: readonly Drop[]; readonly rejected: readonly Rejection[] }
  /**
   * A step or a sink condition failed on `messageId` (the input, or an item of a split): the whole input goes to
   * the dead letters, no item of it is delivered, so that a replay after the fix delivers all of them once.
   */
  | {
      readonly outcome: "dead";
      readonly at: StepRef | SinkRef;
      readonly messageId: string;
      readonly code: Code;
      readonly message: string;
    };

/** The compiled pipeline of one integration revision: reuse it for every message. */
export interface Processor {
  readonly steps: readonly StepRef[];
  readonly sinks: readonly SinkRef[];
  /** Steps whose type has no runtime yet (xml, csv): every message reaching one is dead (VRS_STEP_NOT_AVAILABLE). */
  readonly unavailable: readonly StepRef[];
  /** Runs the steps and routing on one input. Pure and deterministic; never throws. */
  process(input: Message): ProcessResult;
}

export interface CompileProblem {
  /** The field, e.g. `spec.steps[0].config.fields.id`. */
  path: string;
  code: Code;
  message: string;
}

export type CompileResult = { ok: true; processor: Processor } | { ok: false; problems: CompileProblem[] };

/** The most messages one input may become, across nested splits (each split also has its own maxItems). */
export const MAX_OUTPUTS = 100_000;

type Spec = Pick<Integration["spec"], "steps" | "sinks">;

interface CompiledStep {
  ref: StepRef;
  when?: Condition;
  run: StepRuntime;
}

interface CompiledSink {
  ref: SinkRef;
  when?: Condition;
}

/**
 * Compiles an integration's steps and sink conditions once per revision. `runtimes` maps step types to their
 * compilers (STEP_RUNTIMES by default); a type without one compiles to a step that fails every message.
 */
export function compileProcessor(
  spec: Spec,
  runtimes: Readonly<Record<string, StepCompiler>> = STEP_RUNTIMES,
): CompileResult {
  const problems: CompileProblem[] = [];
  const attempt = <T>(base: (string | number)[], make: () => T): T | undefined => {
    try {
      return make();
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      problems.push({ path: formatPath([...base, ...e.path]), code: e.code, message: e.message });
      return undefined;
    }
  };
  const steps: CompiledStep[] = [];
  const unavailable: StepRef[] = [];
  (spec.steps ?? []).forEach((s, index) => {
    const ref: StepRef =
      s.name === undefined
        ? { role: "step", index, type: s.type }
        : { role: "step", index, name: s.name, type: s.type };
    const base = ["spec", "steps", index];
    const when = s.when === undefined ? undefined : attempt(base, () => compileCondition(s.when!, ["when"]));
    const compiler = Object.hasOwn(runtimes, s.type) ? runtimes[s.type] : undefined;
    if (!compiler) unavailable.push(ref);
    const run = compiler
      ? attempt(base, () => compiler((s.config ?? {}) as Record<string, unknown>))
      : unavailableStep(s.type);
    if (run) steps.push(when ? { ref, when, run } : { ref, run });
  });
  const sinks: CompiledSink[] = spec.sinks.map((s, index) => {
    const ref: SinkRef = { role: "sink", index, name: s.name, type: s.type };
    const when =
      s.when === undefined ? undefined : attempt(["spec", "sinks", index], () => compileCondition(s.when!, ["when"]));
    return when ? { ref, when } : { ref };
  });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, processor: new CompiledProcessor(steps, sinks, unavailable) };
}

interface Run {
  outputs: Output[];
  filtered: Drop[];
  rejected: Rejection[];
  count: number;
  dead?: ProcessResult & { outcome: "dead" };
}

class CompiledProcessor implements Processor {
  readonly steps: readonly StepRef[];
  readonly sinks: readonly SinkRef[];
  /** Every sink, shared by all outputs when no sink has a condition. */
  private readonly always: readonly SinkRef[] | undefined;

  constructor(
    private readonly compiledSteps: readonly CompiledStep[],
    private readonly compiledSinks: readonly CompiledSink[],
    readonly unavailable: readonly StepRef[],
  ) {
    this.steps = compiledSteps.map((s) => s.ref);
    this.sinks = compiledSinks.map((s) => s.ref);
    this.always = compiledSinks.every((s) => !s.when) ? Object.freeze([...this.sinks]) : undefined;
  }

  process(input: Message): ProcessResult {
    const run: Run = { outputs: [], filtered: [], rejected: [], count: 1 };
    this.from(0, input, run);
    if (run.dead) return run.dead;
    const { filtered, rejected } = run;
    if (run.outputs.length === 0) return { outcome: "filtered", filtered, rejected };
    return { outcome: "routed", outputs: run.outputs, filtered, rejected };
  }

  /** Runs `message` through the steps from `first` on, then routes it. False when it failed (run.dead). */
  private from(first: number, message: Message, run: Run): boolean {
    const steps = this.compiledSteps;
    let i = first;
    try {
      for (; i < steps.length; i++) {
        const step = steps[i]!;
        if (step.when && !step.when(message)) continue;
        const out = step.run(message);
        if (out === DROPPED) {
          run.filtered.push({ messageId: message.id, step: step.ref });
          return true;
        }
        if (!Array.isArray(out)) {
          message = out as Message;
          continue;
        }
        const items = out as readonly (Message | ItemFailure)[];
        if (items.length === 0) {
          run.filtered.push({ messageId: message.id, step: step.ref });
          return true;
        }
        run.count += items.length - 1;
        if (run.count > MAX_OUTPUTS) {
          throw new MessageFailure(
            "VRS_MSG_TOO_MANY_ITEMS",
            `the message has become more than ${MAX_OUTPUTS} messages across its splits`,
          );
        }
        for (const item of items) {
          if (item instanceof ItemFailure) {
            run.rejected.push({ messageId: item.id, step: step.ref, code: item.code, message: item.message });
          } else if (!this.from(i + 1, item, run)) {
            return false;
          }
        }
        return true;
      }
    } catch (e) {
      this.fail(run, steps[i]!.ref, message.id, e);
      return false;
    }
    return this.route(message, run);
  }

  private route(message: Message, run: Run): boolean {
    if (this.always) {
      run.outputs.push({ message, sinks: this.always });
      return true;
    }
    const sinks = this.compiledSinks;
    const selected: SinkRef[] = [];
    let j = 0;
    try {
      for (; j < sinks.length; j++) {
        const sink = sinks[j]!;
        if (!sink.when || sink.when(message)) selected.push(sink.ref);
      }
    } catch (e) {
      this.fail(run, sinks[j]!.ref, message.id, e);
      return false;
    }
    run.outputs.push({ message, sinks: selected });
    return true;
  }

  private fail(run: Run, at: StepRef | SinkRef, messageId: string, e: unknown): void {
    const f = failure(e);
    run.dead = { outcome: "dead", at, messageId, code: f.code, message: f.message };
  }
}

/** `step 'shape' (map)`, `step 0 (csv)`, `sink 'archive' (nats)`: how results and reports name a step or sink. */
export function describeRef(ref: StepRef | SinkRef): string {
  const name = ref.name === undefined ? String(ref.index) : `'${ref.name}'`;
  return `${ref.role} ${name} (${ref.type})`;
}
