import { writeSync } from "node:fs";

/**
 * Deterministic crash points for the crash-safety tests, TEST ONLY and inert unless the environment variable
 * VRSKY_TEST_CRASH_AFTER is set. With it, the process kills itself with SIGKILL (nothing runs after: no status
 * write, no lease release, no cleanup) exactly where the value says:
 *   apply-write:<N>     right after the Nth acknowledged KV write of the apply step (in this process)
 *   tenancy:<point>     at a named point of the tenancy step (TENANCY_POINTS)
 * Before dying it prints one JSON line on stderr, `{"event":"crash-point","point":...}`, so that a test can tell
 * that the kill landed where it asked.
 */
export const CRASH_ENV = "VRSKY_TEST_CRASH_AFTER";

export const TENANCY_POINTS = [
  /** The inventory records of new resources are written; nothing is created yet. */
  "inventory-written",
  /** Accounts are pushed to the resolvers; instances and discovery entries are not written yet. */
  "accounts-pushed",
  /** A removed tenant's discovery entry is deleted; its instances and account are not. */
  "discovery-removed",
  /** A removed tenant's instances are stopped; its account is not deleted. */
  "instances-removed",
  /** A removed tenant's account is deleted; its inventory record is not. */
  "account-removed",
] as const;
export type TenancyPoint = (typeof TENANCY_POINTS)[number];

type Plan = { kind: "apply-write"; n: number } | { kind: "tenancy"; point: TenancyPoint } | undefined;

let plan: Plan | null = null;
let applyWrites = 0;

function planned(): Plan {
  if (plan !== null) return plan;
  const value = process.env[CRASH_ENV];
  plan = undefined;
  if (!value) return plan;
  const write = /^apply-write:([1-9][0-9]*)$/.exec(value);
  const tenancy = /^tenancy:(.+)$/.exec(value);
  if (write) plan = { kind: "apply-write", n: Number(write[1]) };
  else if (tenancy && (TENANCY_POINTS as readonly string[]).includes(tenancy[1]!))
    plan = { kind: "tenancy", point: tenancy[1] as TenancyPoint };
  // A mistyped value must not make a test pass by never crashing.
  else die(`invalid ${CRASH_ENV}=${value}`);
  return plan;
}

/** Counts one acknowledged write of the apply step; dies after the planned one. */
export function afterApplyWrite(): void {
  const p = planned();
  if (p?.kind === "apply-write" && ++applyWrites === p.n) die(`apply-write:${p.n}`);
}

/** Dies here if this is the planned tenancy point. */
export function atTenancyPoint(point: TenancyPoint): void {
  const p = planned();
  if (p?.kind === "tenancy" && p.point === point) die(`tenancy:${point}`);
}

function die(point: string): never {
  // Synchronous: the line is out before the signal, whatever stderr is connected to.
  writeSync(2, JSON.stringify({ time: new Date().toISOString(), event: "crash-point", point }) + "\n");
  process.kill(process.pid, "SIGKILL");
  return process.exit(137); // not reached: SIGKILL to oneself is delivered before kill() returns
}
