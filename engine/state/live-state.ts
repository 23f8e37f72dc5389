/**
 * One read of what a plan against the live state needs (`vrsky pr-check --nats`): the applied tenants and
 * integrations, the fleet's mode and accounts, and the workers, assignments and claims placement starts from.
 * Read-only (read-only.ts): every bucket once, by a watch that stops at the end of its snapshot, so creds of
 * `vrsky creds --reader` suffice.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { AccountRecord } from "../contract/accounts.js";
import type { RecordRejection } from "../contract/decode.js";
import { MODE_KEY, STATUS_KEYS } from "../contract/keys.js";
import type { ModeRecord } from "../contract/mode.js";
import {
  decodeAccount,
  decodeAssignment,
  decodeMode,
  decodeReplica,
  decodeState,
  decodeSyncStatus,
  decodeWorker,
} from "../contract/record-checks.js";
import type { StateRecord } from "../contract/state.js";
import type { SyncStatus } from "../contract/status.js";
import type { AssignmentRecord, ReplicaRecord, WorkerRecord } from "../contract/workers.js";
import { byReplica } from "./assignments.js";
import { openStateReader, readRecord, readRecords } from "./read-only.js";

export interface LiveState {
  /** `vrsky-status` key `sync`: the revision the live state was applied from; null before the first run. */
  sync: SyncStatus | null;
  /** `vrsky-locks` key `mode`: null before a reconciler led. */
  mode: ModeRecord | null;
  tenants: Array<{ key: string; value: StateRecord }>;
  integrations: Array<{ key: string; value: StateRecord }>;
  accounts: Array<{ key: string; value: AccountRecord }>;
  workers: Array<{ key: string; value: WorkerRecord }>;
  /** By replica key (either key layout). */
  assignments: Array<{ key: string; value: AssignmentRecord }>;
  replicas: Array<{ key: string; value: ReplicaRecord }>;
  /** Values that are not records of their bucket's contract: left out. */
  invalid: RecordRejection[];
}

export async function readLiveState(nc: NatsConnection): Promise<LiveState> {
  const state = await openStateReader(nc);
  const invalid: RecordRejection[] = [];
  const [sync, mode, tenants, integrations, accounts, workers, assignments, replicas] = await Promise.all([
    readRecord(state.status, STATUS_KEYS.sync, decodeSyncStatus, invalid),
    readRecord(state.locks, MODE_KEY, decodeMode, invalid),
    readRecords(state.tenants, decodeState, invalid),
    readRecords(state.integrations, decodeState, invalid),
    readRecords(state.accounts, decodeAccount, invalid),
    readRecords(state.workers, decodeWorker, invalid),
    readRecords(state.assignments, decodeAssignment, invalid),
    readRecords(state.replicas, decodeReplica, invalid),
  ]);
  return {
    sync,
    mode,
    tenants,
    integrations,
    accounts,
    workers,
    assignments: byReplica(assignments),
    replicas,
    invalid,
  };
}
