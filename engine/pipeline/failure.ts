import type { Code } from "../errors/codes.js";
import type { PathSegment } from "../manifests/json-path.js";

/**
 * A step (or a sink condition) failed on one message. Thrown inside a step runtime and caught by the
 * processor, which turns it into a `dead` result naming the step; it never leaves the processor.
 */
export class MessageFailure extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
    this.name = "MessageFailure";
  }
}

/**
 * A step's config cannot be turned into a runtime (an expression that does not compile). Validation reports
 * the same problems as findings, so a valid revision never meets one.
 */
export class CompileError extends Error {
  constructor(
    readonly code: Code,
    /** The field, relative to the step or sink (`["config", "fields", "id"]`, `["when"]`). */
    readonly path: PathSegment[],
    message: string,
  ) {
    super(message);
    this.name = "CompileError";
  }
}
