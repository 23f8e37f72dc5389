/**
 * The fleet's mode (bucket `vrsky-locks`, key `mode`): whether its tenants have NATS accounts signed with operator
 * keys, and with which operator. The first reconciler to lead writes it (compare-and-set, once); a reconciler whose
 * mode differs never leads, so that a reconciler started without `--keys` (or with another key directory) cannot
 * blank the fleet's accounts, create tenants without one, or leave removed tenants' accounts running.
 */
export const MODE_FORMAT = "vrsky.io/mode/v1";

export type FleetModeName = "operator" | "plain";

export interface ModeRecord {
  format: typeof MODE_FORMAT;
  /** `operator`: every tenant has its own NATS account (`--keys`); `plain`: no operator keys, one shared account. */
  mode: FleetModeName;
  /** Operator mode: the public key of the operator whose keys sign the tenants' accounts. */
  operatorPublicKey?: string;
  /** Id of the reconciler that wrote it. */
  setBy: string;
  setAt: string;
}

/** What a reconciler would write: its own mode. */
export interface ModeWanted {
  mode: FleetModeName;
  operatorPublicKey?: string;
}

/** Why a reconciler of mode `want` may not lead a fleet of mode `fleet` (one line); undefined when it may. */
export function modeMismatch(fleet: ModeRecord, want: ModeWanted): string | undefined {
  const set = `set by ${fleet.setBy} at ${fleet.setAt}`;
  if (fleet.mode !== want.mode) {
    const fleetSays =
      fleet.mode === "operator"
        ? `operator mode (tenant accounts signed by operator ${fleet.operatorPublicKey ?? "?"})`
        : "plain mode (no operator keys)";
    const fix = fleet.mode === "operator" ? "start it with the fleet's --keys" : "start it without --keys";
    return `the fleet runs in ${fleetSays}, ${set}, and this reconciler runs ${want.mode === "operator" ? "with" : "without"} --keys: ${fix}`;
  }
  if (fleet.mode === "operator" && fleet.operatorPublicKey !== want.operatorPublicKey)
    return `the fleet's tenant accounts are signed by operator ${fleet.operatorPublicKey ?? "?"} (${set}), and this reconciler's --keys hold operator ${want.operatorPublicKey ?? "?"}: start it with the fleet's key directory`;
  return undefined;
}
