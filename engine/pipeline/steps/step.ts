import type { Message } from "../message.js";

/**
 * The runtime side of a step type, in the shape a connector module can register later
 * (`runtime: compile` in engine/connectors): `compile(config)` runs once per revision and does all parsing
 * (CEL programs, paths, template parts); the function it returns runs once per message.
 *
 * A runtime returns the next message, several (a split), or DROPPED (a filter). It may throw a
 * MessageFailure or a CEL evaluation error; the processor catches either and dead-letters the message,
 * naming the step. `compile` throws a CompileError for a config it cannot run.
 */
export type StepRuntime = (message: Message) => StepOutput;
export type StepOutput = Message | readonly Message[] | typeof DROPPED;
export type StepCompiler = (config: StepConfig) => StepRuntime;

/** A step's validated `config`, defaults filled in. */
export type StepConfig = Readonly<Record<string, unknown>>;

export const DROPPED: unique symbol = Symbol("dropped");
