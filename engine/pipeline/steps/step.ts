import type { Code } from "../../errors/codes.js";
import type { Message } from "../message.js";

/**
 * The runtime side of a step type, in the shape a connector module can register later
 * (`runtime: compile` in engine/connectors): `compile(config)` runs once per revision and does all parsing
 * (CEL programs, paths, template parts); the function it returns runs once per message.
 *
 * A runtime returns the next message, several (a split), or DROPPED (a filter). It may throw a
 * MessageFailure or a CEL evaluation error; the processor catches either and dead-letters the message,
 * naming the step. Among several, an ItemFailure is one item that failed on its own (a bad CSV row): it goes to
 * the dead letters by itself while the other items go on. `compile` throws a CompileError for a config it cannot
 * run.
 */
export type StepRuntime = (message: Message) => StepOutput;
export type StepOutput = Message | readonly (Message | ItemFailure)[] | typeof DROPPED;
export type StepCompiler = (config: StepConfig) => StepRuntime;

/** A step's validated `config`, defaults filled in. */
export type StepConfig = Readonly<Record<string, unknown>>;

export const DROPPED: unique symbol = Symbol("dropped");

/** One item of a step's output that failed by itself (a CSV row that cannot be read): dead-lettered alone. */
export class ItemFailure {
  constructor(
    /** The item's id, as it would have been had it not failed (`<message id>.<index>`). */
    readonly id: string,
    readonly code: Code,
    /** What went wrong, naming where in the input (`line 7: ...`). */
    readonly message: string,
  ) {}
}
