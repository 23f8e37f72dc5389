import { CODES, type Code, type RetryClass } from "./codes.js";

/** An operational error: the command could not do its work (exit code 2), as opposed to a finding. */
export class VrskyError extends Error {
  readonly code: Code;
  readonly retry: RetryClass;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(redactSeeds(message), options);
    this.name = "VrskyError";
    this.code = code;
    this.retry = CODES[code].retry;
  }
  /** The message with what to do about it. */
  explain(): string {
    return `${this.message} (${this.code}): ${CODES[this.code].hint}`;
  }
}

/** An nkey seed (S + role + base32) or a creds file's seed block: secrets no message may carry. */
const SEED = /\bS[OACUNXP][A-Z2-7]{56}\b/g;

/** The text with every nkey seed in it replaced: a safety net under "never echo a secret" for all messages. */
export function redactSeeds(text: string): string {
  return text.replace(SEED, "[seed redacted]");
}

export function isVrskyError(e: unknown): e is VrskyError {
  return e instanceof VrskyError;
}

/** The message of anything thrown, for logs and status (no stack: stacks are for bugs, not for users). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The retry class of anything thrown: a VrskyError's from the registry; anything else (a network error, a timeout,
 * a JetStream API error) is taken as transient.
 */
export function retryClassOf(e: unknown): RetryClass {
  return isVrskyError(e) ? e.retry : "transient";
}
