/**
 * What a placement run of the leader's AssignmentController (controller.ts) reads: the whole applied state for a
 * full run, or the changes since the last run (`PlacementChanges`) for a run that places only them
 * (incremental.ts).
 */
import type { IntegrationResource, TenantResource } from "../../model/resources.js";
import type { ObservedBucket } from "../../state/observed.js";
import type { AssignmentEntry } from "../../state/assignments.js";
import type { AssignmentRecord, WorkerRecord } from "../../contract/workers.js";
import type { AssignmentIndex } from "../../state/assignments.js";
import type { KvMirror, MirrorEntry } from "../../state/mirror.js";
import type { ReplicaRecord } from "../../contract/workers.js";
import { canonicalJson } from "../../plan/canonical.js";
import { assignReplicas, type AppliedIntegration, type AssignOutput } from "./assign.js";
import { assignChanged, memoOf, workersSignature, type PlacementMemo } from "./incremental.js";

/** How a run placed: the world (`full`) or only the changed integrations (`changed`). */
export type PlacementMode = "full" | "changed";

export function appliedTenants(tenants: ObservedBucket): Map<string, TenantResource> {
  const out = new Map<string, TenantResource>();
  for (const [name, e] of tenants.entries) if (e.record.resource) out.set(name, e.record.resource as TenantResource);
  return out;
}

export function appliedIntegrations(integrations: ObservedBucket): AppliedIntegration[] {
  const out: AppliedIntegration[] = [];
  for (const { record } of integrations.entries.values())
    if (record.resource) out.push({ resource: record.resource as IntegrationResource, revision: record.revision });
  return out;
}

export function valuesOf<V>(entries: Iterable<[string, { value: V }]>): Map<string, V> {
  const out = new Map<string, V>();
  for (const [k, e] of entries) out.set(k, e.value);
  return out;
}

/** One applied integration or tenant by key, read from its observed bucket. */
export function appliedLookup(integrations: ObservedBucket): { get(key: string): AppliedIntegration | undefined } {
  return {
    get: (key) => {
      const r = integrations.entries.get(key)?.record;
      return r?.resource ? { resource: r.resource as IntegrationResource, revision: r.revision } : undefined;
    },
  };
}

export function tenantLookup(tenants: ObservedBucket): { get(name: string): TenantResource | undefined } {
  return { get: (name) => (tenants.entries.get(name)?.record.resource as TenantResource | null) ?? undefined };
}

/** The changes a run starts from: what changed since the last run, and the memo when it may place only those. */
export interface TakenChanges {
  memo: PlacementMemo | undefined;
  integrations: Set<string>;
  tenants: Set<string>;
  claims: Set<string>;
}

/**
 * The changes seen since the last placement run, and whether the next one may place only them. Any doubt makes the
 * next run a full one: a trigger other than a commit (membership, expiry, drift, retry, a conflict), a current
 * assignment that changed (a replica moved, by this leader or anyone), a failed run, no memo yet.
 */
export class PlacementChanges {
  /** The last full run's memo, built when a run first wants it (a full run followed by another never does). */
  private memo: { workers: string; get: () => PlacementMemo } | undefined;
  private integrations = new Set<string>();
  private tenants = new Set<string>();
  private claims = new Set<string>();
  private fullNeeded = true;

  readonly onIntegration = (key: string): void => void this.integrations.add(key);
  readonly onTenant = (name: string): void => void this.tenants.add(name);
  readonly onClaim = (replicaKey: string): void => void this.claims.add(replicaKey);

  /** An assignment changed: a change of where a replica runs (worker, epoch) is one a memo does not know. */
  onAssignment(e: AssignmentEntry | undefined, previous: AssignmentEntry | undefined): void {
    if (placedAs(e?.value) !== placedAs(previous?.value)) this.fullNeeded = true;
  }

  /** The next run places the world. */
  full(): void {
    this.fullNeeded = true;
  }

  /**
   * Starts a run (call it right before reading the state, with no await in between): the changes so far, and the
   * memo if the run may reuse it (`ok`: nothing else in the controller's state stands against it).
   */
  take(live: readonly WorkerRecord[], ok: boolean): TakenChanges {
    const usable = this.memo && !this.fullNeeded && ok && this.memo.workers === workersSignature(live);
    const taken = {
      memo: usable ? this.memo!.get() : undefined,
      integrations: this.integrations,
      tenants: this.tenants,
      claims: this.claims,
    };
    this.integrations = new Set();
    this.tenants = new Set();
    this.claims = new Set();
    this.fullNeeded = false;
    if (!usable) this.memo = undefined;
    return taken;
  }

  /** A full run's memo, for the runs after it: its live workers, and how to build the rest when wanted. */
  remember(live: readonly WorkerRecord[], build: () => PlacementMemo): void {
    let memo: PlacementMemo | undefined;
    this.memo = { workers: workersSignature(live), get: () => (memo ??= build()) };
  }

  /** A run failed or was cut short: the next one places the world. */
  fail(): void {
    this.memo = undefined;
    this.fullNeeded = true;
  }
}

function placedAs(a: AssignmentRecord | undefined): string {
  return a && a.worker !== null ? `${a.worker}|${a.epoch}` : "";
}

/** The stored keys of the given replicas only (a run that rebuilt only theirs lays out only theirs). */
export function storedOf(
  stored: ReadonlyMap<string, ReadonlySet<string>>,
  replicaKeys: Iterable<string>,
): Map<string, ReadonlySet<string>> {
  const out = new Map<string, ReadonlySet<string>>();
  for (const rk of replicaKeys) {
    const s = stored.get(rk);
    if (s) out.set(rk, s);
  }
  return out;
}

/** The workers' registrations as far as they call for a placement run (`membership`). */
export function membershipKey(workers: Iterable<[string, MirrorEntry<WorkerRecord>]>): string {
  const parts: string[] = [];
  for (const [id, { value: w }] of workers)
    parts.push(`${id}|${w.session}|${w.capacity}|${w.state}|${canonicalJson(w.labels)}`);
  return parts.sort().join("\n");
}

/** What a run reads: the applied state and the leader's mirrors. */
export interface PlacementSources {
  tenants: ObservedBucket;
  integrations: ObservedBucket;
  assignments: AssignmentIndex;
  replicas: KvMirror<ReplicaRecord>;
  /** True when the tenant has a discovery entry (its integrations are placed only then). */
  discovered: (tenant: string) => boolean;
  /** True when the integration's streams are made (placed only then); absent when the reconciler makes none. */
  streamsMade?: (key: string) => boolean;
}

/**
 * The records of the changed integrations when the last full run's placement still holds (`changed`), else of all
 * (`full`, remembered for the runs after it).
 */
export function placeReplicas(
  changes: TakenChanges,
  live: WorkerRecord[],
  tracker: PlacementChanges,
  src: PlacementSources,
): { out: AssignOutput; mode: PlacementMode } {
  const now = new Date().toISOString();
  if (changes.memo) {
    const out = assignChanged({
      ...changes,
      memo: changes.memo,
      applied: appliedLookup(src.integrations),
      tenantOf: tenantLookup(src.tenants),
      assignments: { get: (k) => src.assignments.get(k)?.value },
      replicas: { get: (k) => src.replicas.get(k)?.value },
      now,
    });
    if (out) return { out, mode: "changed" };
  }
  const integrations = appliedIntegrations(src.integrations);
  const out = assignReplicas({
    integrations,
    tenants: appliedTenants(src.tenants),
    workers: live,
    assignments: valuesOf(src.assignments.entries),
    replicas: valuesOf(src.replicas.entries),
    discovered: src.discovered,
    ...(src.streamsMade ? { streamsMade: src.streamsMade } : {}),
    now,
  });
  tracker.remember(live, () => memoOf(live, integrations, out));
  return { out, mode: "full" };
}
