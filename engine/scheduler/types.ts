/** Input and output of `place` (engine/scheduler/placement.ts). Plain data: the caller reads KV, we never do. */

export interface PlacementIntegration {
  /** "<tenant>.<name>", unique. */
  key: string;
  tenant: string;
  /** How many replicas to run; replicas are numbered 0 .. replicas-1. */
  replicas: number;
  /** A suspended integration (or one of a suspended tenant) gets no assignment. */
  suspended: boolean;
  /** Dedicated tenants may be pinned: only workers whose labels contain every pair may run the integration. */
  pinLabels?: Record<string, string>;
}

export interface PlacementWorker {
  /** Unique. */
  id: string;
  /** Most replicas the worker runs at once; also its weight for balancing. */
  capacity: number;
  labels: Record<string, string>;
  /** A draining worker keeps nothing: its assignments move, it gets no new ones. */
  draining?: boolean;
}

export interface Assignment {
  key: string;
  replica: number;
  worker: string;
  /** Fencing epoch: a worker runs a replica only while its assignment's epoch is the newest it has seen. */
  epoch: number;
}

export interface Unplaced {
  key: string;
  replica: number;
  /** Starts with "no live worker", "no worker with matching labels" or "no capacity". */
  reason: string;
}

export interface PlacementInput {
  integrations: readonly PlacementIntegration[];
  workers: readonly PlacementWorker[];
  /** The assignments in force now (from the previous placement). Entries for unknown replicas are ignored. */
  current: readonly Assignment[];
}

export interface PlacementResult {
  /** Sorted by key, then replica. */
  assignments: Assignment[];
  /** Sorted by key, then replica. */
  unplaced: Unplaced[];
  /** Replicas that had an assignment in `current` and now have one on a different worker. */
  moves: number;
}
