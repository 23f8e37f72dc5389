import type { RetryClass } from "./codes.js";

/**
 * How often and how long to retry: delays grow from `initialMs` by `multiplier` per failed attempt up to `maxMs`;
 * `jitter` (0–1) takes up to that share off each delay at random, so that many retriers that failed together do not
 * come back together. A `wait` error (someone else holds what we need) is retried after `initialMs` without growth.
 */
export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  jitter: number;
  /** Give up after this many attempts (undefined: never). */
  maxAttempts?: number;
}

export type RetryDecision =
  | { action: "retry"; delayMs: number }
  /** Do not retry: a human must act (`stall`), or the attempts are used up (`exhausted`). */
  | { action: "stop"; reason: "stall" | "exhausted" };

export interface RetryInput {
  /** The failed error's class, from the registry (engine/errors/codes.ts). */
  retry: RetryClass;
  /** Attempts made so far, the failed one included (1 after the first failure). */
  attempt: number;
  policy: RetryPolicy;
  /** A number in [0, 1), e.g. Math.random(): injected so that the decision is a pure function. */
  random: number;
  /** The other side's `Retry-After`, in ms: the delay is never shorter (nor longer than `maxMs`). */
  retryAfterMs?: number;
}

/** The one retry decision of the engine: what to do after a failed attempt. Pure and table-tested. */
export function decideRetry(i: RetryInput): RetryDecision {
  if (i.retry === "stall") return { action: "stop", reason: "stall" };
  if (i.policy.maxAttempts !== undefined && i.attempt >= i.policy.maxAttempts)
    return { action: "stop", reason: "exhausted" };
  const { initialMs, maxMs, multiplier } = i.policy;
  const growth = i.retry === "wait" ? 1 : multiplier ** Math.max(0, i.attempt - 1);
  const raw = Math.min(maxMs, initialMs * growth);
  const jitter = Math.min(1, Math.max(0, i.policy.jitter));
  const random = Math.min(1, Math.max(0, i.random));
  let delayMs = raw * (1 - jitter * random);
  if (i.retryAfterMs !== undefined && i.retryAfterMs > delayMs) delayMs = Math.min(maxMs, i.retryAfterMs);
  return { action: "retry", delayMs: Math.round(delayMs) };
}

/** Defaults of the control plane's own retries (a reconcile run, a placement, a replica start). */
export const RETRY = {
  /** A reconcile run that failed or met a conflict: 0.5 s, doubling, up to 30 s. */
  reconcile: { initialMs: 500, maxMs: 30_000, multiplier: 2, jitter: 0.2 },
  /** A placement run of the leader that failed. */
  placement: { initialMs: 500, maxMs: 10_000, multiplier: 2, jitter: 0.2 },
  /** A replica that failed to start or failed while running: 1 s, doubling, up to 30 s. */
  replicaStart: { initialMs: 1_000, maxMs: 30_000, multiplier: 2, jitter: 0.2 },
} as const satisfies Record<string, RetryPolicy>;
