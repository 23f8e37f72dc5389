import { CODES, type Code, type RetryClass } from "./codes.js";

/** An operational error: the command could not do its work (exit code 2), as opposed to a finding. */
export class VrskyError extends Error {
  readonly code: Code;
  readonly retry: RetryClass;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VrskyError";
    this.code = code;
    this.retry = CODES[code].retry;
  }
  /** The message with what to do about it. */
  explain(): string {
    return `${this.message} (${this.code}): ${CODES[this.code].hint}`;
  }
}

export function isVrskyError(e: unknown): e is VrskyError {
  return e instanceof VrskyError;
}
