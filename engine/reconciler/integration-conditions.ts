/**
 * The conditions of an integration's data plane as the streams step finds them (`vrsky-integration-status`,
 * docs/state.md): StreamsReady (its streams exist in its tenant's account, or why not), SecretsResolved (every
 * `secretRef` resolves), and Ready / Degraded derived from the two. Decisions only: what an error means and what the
 * record says; the streams step does the I/O.
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import type { TenantAccountLimits } from "../accounts/claims.js";
import {
  INTEGRATION_STATUS_FORMAT,
  type CdcSlotRef,
  type IntegrationCondition,
  type IntegrationStatusRecord,
} from "../contract/dataplane.js";
import { errorMessage, isVrskyError } from "../errors/errors.js";
import { canonicalJson } from "../plan/canonical.js";

/** A condition before it knows since when it holds. */
export type ConditionState = Omit<IntegrationCondition, "type" | "since">;

export const STREAMS_CREATED: ConditionState = { status: "True", reason: "Created", message: "" };

/** JetStream API codes of an account or server that has no room: a condition of the tenant, never a crash. */
const LIMIT_CODES: Record<number, (l: LimitsContext) => string> = {
  10027: (l) =>
    `maximum number of streams reached: ${l.streams} (${l.where}.streams); each integration needs 3 (ingest, dead letters, large payloads) and the tenant 1 (traces), so ${l.integrations} integration(s) need ${3 * l.integrations + 1}. Raise ${l.where}.streams or remove integrations`,
  10026: (l) =>
    `maximum number of consumers reached: ${l.consumers} (${l.where}.consumers); each integration needs 1 consumer. Raise ${l.where}.consumers`,
  10028: (l) =>
    `JetStream memory is used up (${l.where}.memoryBytes: ${l.memoryBytes}); raise ${l.where}.memoryBytes or remove integrations`,
  10047: (l) =>
    `JetStream storage is used up (${l.where}.storageBytes: ${l.storageBytes}); raise ${l.where}.storageBytes or remove integrations`,
  10023: () =>
    "the NATS server has no resources left for more streams (its own JetStream limits); give the server more storage or memory, or move tenants",
};

/** What the limits message names: the tenant's limits in operator mode, else the shared account's (server config). */
export interface LimitsContext {
  /** `spec.limits.jetstream` of the tenant, or `the shared account's JetStream limits`. */
  where: string;
  streams: number | string;
  consumers: number | string;
  memoryBytes: number | string;
  storageBytes: number | string;
  /** The tenant's desired integrations. */
  integrations: number;
}

export function limitsContext(limits: TenantAccountLimits | undefined, integrations: number): LimitsContext {
  if (!limits) {
    const n = "set in the server configuration";
    return {
      where: "the shared account's JetStream limits",
      streams: n,
      consumers: n,
      memoryBytes: n,
      storageBytes: n,
      integrations,
    };
  }
  return { where: "spec.limits.jetstream", ...limits, integrations };
}

/**
 * StreamsReady after a failed ensure. `retry`: a later run may succeed without a change (NATS or the tenant's
 * servers were not reachable); limits and refused configurations wait for a commit (or the next resync).
 */
export function streamsFailure(
  e: unknown,
  limits: LimitsContext,
  sourceStream?: string,
): { state: ConditionState; retry: boolean } {
  // JetStreamNotEnabled is not exported by @nats-io/jetstream: known by its name; caused by the account (10039)
  // or by no server answering (no JetStream at all).
  if (e instanceof Error && e.name === "JetStreamNotEnabled") {
    if (e.cause instanceof JetStreamApiError) {
      const message = `the tenant's NATS account has no JetStream (${limits.where}: memoryBytes and storageBytes are 0); give it storage`;
      return { state: { status: "False", reason: "StreamLimits", message }, retry: false };
    }
    const message = `JetStream does not answer on the tenant's servers: ${errorMessage(e)}`;
    return { state: { status: "False", reason: "NatsUnavailable", message }, retry: true };
  }
  if (e instanceof JetStreamApiError) {
    const limit = LIMIT_CODES[e.code];
    if (limit) return { state: { status: "False", reason: "StreamLimits", message: limit(limits) }, retry: false };
    if (e.code === 10059 && sourceStream) {
      // The integration's own streams are created when missing: a missing stream is the nats source's.
      const message = `the nats source's stream '${sourceStream}' does not exist in the tenant's account; create it, or remove spec.source.config.stream`;
      return { state: { status: "False", reason: "StreamsRefused", message }, retry: false };
    }
    const message = `JetStream refused the integration's streams: ${e.message} (${e.code})`;
    return { state: { status: "False", reason: "StreamsRefused", message }, retry: false };
  }
  return tenantFailure(e);
}

/** StreamsReady when the tenant cannot be reached at all. */
export function tenantFailure(e: unknown, retryUnavailable = true): { state: ConditionState; retry: boolean } {
  if (isVrskyError(e) && (e.code === "VRS_TENANT_UNAVAILABLE" || e.code === "VRS_TENANT_NOT_DISCOVERED")) {
    return { state: { status: "False", reason: "TenantUnavailable", message: e.message }, retry: retryUnavailable };
  }
  return { state: { status: "False", reason: "NatsUnavailable", message: errorMessage(e) }, retry: true };
}

/** What resolving an integration's secrets found. Names only: a value never reaches a condition. */
export interface SecretsFound {
  missing: string[];
  /** Secrets that exist but cannot be used (damaged, sealed for another key, a link out of the folder). */
  unreadable: Array<{ name: string; message: string }>;
  /** The provider itself failed (git, the key folder): nothing is known. */
  failed?: string;
}

export function secretsCondition(
  tenant: string,
  names: readonly string[],
  found: SecretsFound | "no-source",
): ConditionState {
  if (names.length === 0) return { status: "True", reason: "NoSecrets", message: "" };
  if (found === "no-source") {
    return {
      status: "Unknown",
      reason: "NotChecked",
      message: `the reconciler has no secret source (--secrets-dir, or --keys with a repository); ${names.length} secret(s) are resolved by the workers`,
    };
  }
  if (found.missing.length > 0) {
    const list = found.missing.map((n) => `'${n}'`).join(", ");
    const message = `tenant ${tenant} has no secret ${list}: seal it with vrsky secret seal and commit it, or add it to the secrets folder`;
    return { status: "False", reason: "SecretMissing", message };
  }
  if (found.unreadable.length > 0) {
    return { status: "False", reason: "SecretUnreadable", message: found.unreadable.map((u) => u.message).join("; ") };
  }
  if (found.failed !== undefined) return { status: "Unknown", reason: "SecretsUnavailable", message: found.failed };
  return { status: "True", reason: "Resolved", message: "" };
}

export interface StatusFacts {
  tenant: string;
  integration: string;
  revision: string;
  streams: ConditionState;
  secrets: ConditionState;
  /** A `postgres-cdc` source's slot, kept in the record so that the slot can be dropped with the integration. */
  cdcSlot?: CdcSlotRef | undefined;
}

/**
 * The integration's status record. Ready: the streams exist and no secret is known to be missing or unreadable
 * (a secret the reconciler cannot check, `Unknown`, does not hold it back). Degraded: a condition is False.
 * `since` carries over from `previous` while a condition's status stays the same.
 */
export function integrationStatus(
  previous: IntegrationStatusRecord | undefined,
  f: StatusFacts,
  now: string,
): IntegrationStatusRecord {
  const failing = [f.streams, f.secrets].find((c) => c.status === "False");
  const ready = f.streams.status === "True" && f.secrets.status !== "False";
  const states: Array<[IntegrationCondition["type"], ConditionState]> = [
    ["StreamsReady", f.streams],
    ["SecretsResolved", f.secrets],
    ["Ready", ready ? { status: "True", reason: "Ready", message: "" } : notReady(f.streams, failing)],
    [
      "Degraded",
      failing ? { status: "True", reason: failing.reason, message: failing.message } : asExpected(f.streams),
    ],
  ];
  const conditions = states.map(([type, c]): IntegrationCondition => {
    const before = previous?.conditions.find((p) => p.type === type);
    return { type, ...c, since: before && before.status === c.status ? before.since : now };
  });
  return {
    format: INTEGRATION_STATUS_FORMAT,
    tenant: f.tenant,
    integration: f.integration,
    revision: f.revision,
    conditions,
    ...(f.cdcSlot ? { cdcSlot: f.cdcSlot } : {}),
    updatedAt: now,
  };
}

function notReady(streams: ConditionState, failing: ConditionState | undefined): ConditionState {
  if (failing) return { status: "False", reason: failing.reason, message: failing.message };
  return { status: "False", reason: streams.reason, message: streams.message };
}

function asExpected(streams: ConditionState): ConditionState {
  return streams.status === "True"
    ? { status: "False", reason: "AsExpected", message: "" }
    : { status: "Unknown", reason: streams.reason, message: streams.message };
}

/** Whether two records say the same (revision and conditions; `since` and `updatedAt` aside). */
export function sameStatus(a: IntegrationStatusRecord | undefined, b: IntegrationStatusRecord): boolean {
  if (!a || a.revision !== b.revision || a.conditions.length !== b.conditions.length) return false;
  if (canonicalJson(a.cdcSlot ?? null) !== canonicalJson(b.cdcSlot ?? null)) return false;
  return a.conditions.every((c, i) => {
    const d = b.conditions[i]!;
    return c.type === d.type && c.status === d.status && c.reason === d.reason && c.message === d.message;
  });
}
