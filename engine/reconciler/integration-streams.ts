/**
 * The streams step of a run, after tenancy: each tenant's account holds exactly the data-plane objects of its
 * desired integrations (engine/dataplane/streams.ts; suspended integrations keep theirs), and each desired
 * integration has its conditions in `vrsky-integration-status` (integration-conditions.ts), written only when
 * they change. Level-triggered and crash-safe: a normal run touches only integrations whose stream configuration,
 * secrets or tenant changed, and removes those that are gone; a forced run (startup, resync, drift) ensures every
 * integration again, rechecks every secret and deletes leftovers found in the accounts, so a run cut short between
 * deleting a record and its streams is finished by the next one. Nothing of a tenant fails the run: a tenant that
 * cannot be reached or whose limits are too small is a condition, and `retry` asks for a later run when waiting
 * may help. A forced pass checks tenant after tenant and lets a waiting run go first (`yieldNow`: a commit does not
 * wait for a resync's pass); the tenants it did not reach stay due, checked by the runs that follow (`checkDue`,
 * forced-pass.ts). A deleted `postgres-cdc` integration's replication slot is dropped after its streams
 * (cdc-slot-drops.ts); its status record, which says where the slot is, stays until then.
 */
import { decodeIntegrationStatus } from "../contract/record-checks.js";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { tenantLimits } from "../accounts/claims.js";
import type { VrskyKeys } from "../accounts/keys.js";
import type { CdcSlotRef, IntegrationStatusRecord } from "../contract/dataplane.js";
import { cdcSlotOf } from "../connectors/source-postgres-cdc/slot.js";
import { integrationKey } from "../contract/keys.js";
import {
  deleteIntegrationStreams,
  deleteTenantStreams,
  ensureIntegrationStreams,
  integrationsWithStreams,
  listStreams,
  planIntegrationStreams,
  sourceStreamOf,
  type StreamListing,
} from "../dataplane/streams.js";
import { errorMessage } from "../errors/errors.js";
import type { ReplicasSetting } from "../nats/replication.js";
import { secretNamesOf } from "../manifests/secret-refs.js";
import type { IntegrationResource, Resource, TenantResource } from "../model/resources.js";
import { canonicalJson } from "../plan/canonical.js";
import type { SecretSource } from "../secrets/sources.js";
import { SecretChecks } from "./secret-checks.js";
import { CdcSlotDrops } from "./cdc-slot-drops.js";
import { readSnapshot } from "../state/mirror.js";
import { pool } from "../util/pool.js";
import {
  integrationStatus,
  limitsContext,
  sameStatus,
  secretsCondition,
  STREAMS_CREATED,
  streamsFailure,
  type ConditionState,
  type SecretsFound,
} from "./integration-conditions.js";
import { dataPlaneIn, dropConsumer, TenantReach } from "./tenant-reach.js";
import { ForcedPass, yieldable, YIELDED, type PassAsk, type PassRun } from "./forced-pass.js";

export interface IntegrationStreamsOptions {
  /** The platform connection: the status bucket, and the shared account's streams when there are no keys. */
  nc: NatsConnection;
  state: { integrationStatus: KV; discovery: KV; tenants: KV };
  /** The operator keys: tenants' accounts are reached as user `vrsky-reconciler`. Without them, shared tenants' streams are in the platform connection's account. */
  keys?: VrskyKeys;
  /** Where `secretRef`s resolve; without it SecretsResolved is Unknown (NotChecked). */
  secrets?: SecretSource;
  /** Replicas of integrations' streams (engine/nats/replication.ts), resolved on each tenant's servers; default `auto`. */
  jetstreamReplicas?: ReplicasSetting;
  /** Hears that integrations' streams were made (placement waits for them: `streamsMade`). */
  onStreamsMade?: () => void;
  /** Tenants handled at once (default 8); a tenant's own integrations go one after another, in name order. */
  concurrency?: number;
  /** How long a deleted integration's replication slot may stay in use before its connection is ended. */
  cdcSlotBusyGraceMs?: number;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

/** What a run checks beyond what changed. */
export interface StreamsPass extends PassAsk {
  /** Start a forced pass (start-up, resync, drift): every tenant is due to be checked again. */
  force: boolean;
}

export interface StreamsRun {
  /** Integrations whose objects were created or checked, and deleted, in this run. */
  ensured: number;
  deleted: number;
  /** Desired integrations that are not Ready. */
  notReady: number;
  /** Something is left that a later run may finish without a change (a tenant or NATS was not reachable). */
  retry: boolean;
  /** Tenants checked again in this pass, and those still due for it (a pass that let another run go first). */
  checked: number;
  due: number;
}

interface Wanted {
  key: string;
  tenant: string;
  name: string;
  resource: IntegrationResource;
  /** The revision the integration's record was applied from. */
  revision: string;
  /** What its objects depend on: the stream plan and the tenant's account generation. */
  streamsSig: string;
  secrets: string[];
  secretsSig: string;
  cdcSlot: CdcSlotRef | undefined;
}

/** An integration that may have objects: its tenant, name, and the source's own stream its consumer is on. */
interface Known {
  tenant: string;
  name: string;
  sourceStream?: string;
}

interface RunState {
  /** This run's share of the forced pass (forced-pass.ts). */
  pass: PassRun;
  tenants: Map<string, TenantResource>;
  wanted: Map<string, Wanted[]>;
  gone: Map<string, Known[]>;
  result: StreamsRun;
  isLeader: () => boolean;
}

export class IntegrationStreams {
  private readonly reach: TenantReach;
  private readonly status: KV;
  /** Streams signature by key of the integrations whose objects match it. */
  private readonly ensured = new Map<string, string>();
  private readonly streams = new Map<string, ConditionState>();
  /** Integrations whose streams exist: made by this process, or StreamsReady in their status record when loaded. */
  private readonly made = new Set<string>();
  private readonly secretChecks = new Map<string, { sig: string; state: ConditionState }>();
  private readonly known = new Map<string, Known>();
  /** The forced pass under way: the tenants it has still to check (their streams, secrets and leftovers). */
  private readonly forced = new ForcedPass();
  /** Status records in KV by key, and the inputs each was made from. */
  private readonly written = new Map<string, { record: IntegrationStatusRecord; inputs: string }>();
  private loaded = false;
  private readonly secretLookups: SecretChecks | undefined;
  private readonly derived = new WeakMap<IntegrationResource, { plan: string; secrets: string[] }>();
  readonly slotDrops: CdcSlotDrops;

  constructor(private readonly o: IntegrationStreamsOptions) {
    this.status = o.state.integrationStatus;
    this.secretLookups = o.secrets ? new SecretChecks(o.secrets) : undefined;
    this.slotDrops = new CdcSlotDrops({
      ...(o.secrets ? { secrets: o.secrets } : {}),
      ...(o.cdcSlotBusyGraceMs !== undefined ? { busyGraceMs: o.cdcSlotBusyGraceMs } : {}),
      log: o.log,
    });
    this.reach = new TenantReach({
      nc: o.nc,
      discovery: o.state.discovery,
      tenants: o.state.tenants,
      keys: o.keys,
      log: o.log,
    });
  }

  /**
   * One pass. `revisionOf` gives an integration record's applied revision (the run's `revision` for one not
   * observed yet). Never throws for a tenant's or an integration's sake.
   */
  async sync(
    desired: readonly Resource[],
    revisionOf: (key: string) => string | undefined,
    revision: string,
    pass: StreamsPass,
    isLeader: () => boolean,
  ): Promise<StreamsRun> {
    const result: StreamsRun = { ensured: 0, deleted: 0, notReady: 0, retry: false, checked: 0, due: 0 };
    const force = pass.force;
    const fp = this.forced;
    if (force) fp.begin(desired.filter((r) => r.kind === "Tenant").map((r) => r.metadata.name));
    // The run that starts a pass goes no further while another run waits (the next runs check everything).
    const checkDue = pass.checkDue && !(force && (pass.yieldNow?.() ?? false));
    const loadedNow = !this.loaded;
    if (loadedNow) await this.loadStatus();
    const tenants = new Map<string, TenantResource>();
    const wanted = new Map<string, Wanted[]>();
    for (const r of desired) {
      if (r.kind === "Tenant") tenants.set(r.metadata.name, r);
      else {
        const w = this.want(r, revisionOf(integrationKey(r.metadata.tenant, r.metadata.name)) ?? revision, tenants);
        const list = wanted.get(w.tenant) ?? [];
        list.push(w);
        wanted.set(w.tenant, list);
      }
    }
    const desiredKeys = new Set([...wanted.values()].flat().map((w) => w.key));
    for (const w of [...wanted.values()].flat()) this.slotDrops.desired(w.key, w.cdcSlot, w.revision);
    const gone = new Map<string, Known[]>();
    for (const [key, k] of this.known) {
      if (desiredKeys.has(key)) continue;
      gone.set(k.tenant, [...(gone.get(k.tenant) ?? []), k]);
    }
    fp.retain((t) => tenants.has(t));
    const passRun: PassRun = {
      checkDue,
      minimum: force ? 0 : (this.o.concurrency ?? 8),
      begun: 0,
      ...(pass.yieldNow ? { yieldNow: pass.yieldNow } : {}),
    };
    const run: RunState = { pass: passRun, tenants, wanted, gone, result, isLeader };
    this.secretLookups?.beginRun();
    const visit = new Set([...wanted.keys(), ...gone.keys(), ...(checkDue ? fp.tenants() : [])]);
    await pool([...visit].sort(), this.o.concurrency ?? 8, (t) => this.syncTenant(t, run));
    if (checkDue && fp.size === 0 && fp.endDue && isLeader()) await this.endPass(desiredKeys, run, loadedNow);
    fp.endIfDone();
    for (const t of this.reach.linkedTenants()) if (!tenants.has(t)) await this.reach.drop(t);
    await this.writeStatus(run);
    if (this.slotDrops.size > 0 && isLeader()) await this.dropSlots(desiredKeys, result);
    result.due = fp.size;
    if (result.ensured + result.deleted > 0 || result.notReady > 0 || result.due > 0)
      this.o.log("streams", { ...result, force });
    return result;
  }

  /**
   * Last in a pass (the dearest requests, so that a commit waits for none of them): the status records are read
   * again (a record changed or deleted by hand is written again; one of an integration this process does not know
   * is a leftover, deleted by the next run), and the shared account's leftovers are looked for.
   */
  private async endPass(desiredKeys: Set<string>, run: RunState, loadedNow: boolean): Promise<void> {
    this.forced.endDue = false;
    const known = this.known.size;
    if (!loadedNow) await this.loadStatus();
    if (this.known.size > known) run.result.retry = true;
    if (!this.o.keys) await this.sharedLeftovers(desiredKeys, run);
  }

  /** Tenants a forced pass has still to check (a run that does not wait for them follows: `checkDue`). */
  dueTenants(): number {
    return this.forced.size;
  }

  /** True when the integration's streams exist, as far as this process knows (placement waits for it). */
  streamsMade(key: string): boolean {
    return this.made.has(key);
  }

  close(): Promise<void> {
    return this.reach.close();
  }

  private want(r: IntegrationResource, revision: string, tenants: Map<string, TenantResource>): Wanted {
    const tenant = r.metadata.tenant;
    const name = r.metadata.name;
    const generation = tenants.get(tenant)?.spec?.accountKeyGeneration ?? 0;
    // An unchanged file parses to the same object (the parse cache): its plan is not worked out again each run.
    let derived = this.derived.get(r);
    if (!derived) {
      derived = { plan: canonicalJson(planIntegrationStreams(r)), secrets: secretNamesOf(r) };
      this.derived.set(r, derived);
    }
    return {
      key: integrationKey(tenant, name),
      tenant,
      name,
      resource: r,
      revision,
      streamsSig: `${generation}:${derived.plan}`,
      secrets: derived.secrets,
      secretsSig: `${revision}:${derived.secrets.join(",")}`,
      cdcSlot: cdcSlotOf(r.spec.source),
    };
  }

  /**
   * One tenant: its secrets, its connection, deletions of what is gone, ensures of what changed, leftovers. A due
   * tenant is checked whole (every integration ensured, every secret looked up, leftovers deleted), unless the pass
   * lets another run go first.
   */
  private async syncTenant(t: string, run: RunState): Promise<void> {
    if (!run.isLeader()) return;
    const { check, mustFinish } = this.forced.take(t, run.pass);
    let force = check;
    const list = (run.wanted.get(t) ?? []).sort((a, b) => (a.name < b.name ? -1 : 1));
    await Promise.all(list.map((w) => this.checkSecrets(w, force)));
    const work = list.filter((w) => force || this.ensured.get(w.key) !== w.streamsSig);
    const gone = run.gone.get(t) ?? [];
    const tenant = run.tenants.get(t);
    if (!tenant) {
      // A removed tenant: with keys its account went with its JetStream data (tenancy); without, its streams are
      // in the shared account (or went with its instances).
      await this.deleteGone(this.o.keys ? undefined : this.o.nc, t, gone, run.result);
      if (!this.o.keys && gone.every((g) => !this.known.has(integrationKey(t, g.name))))
        await this.deleteTenantStreams(t, run.result);
      return;
    }
    // Leftovers live in the tenant's own account with keys, or on its own instances: looked for where the tenant
    // has integrations or had some (a status record, this process's memory); the shared account is listed once.
    const scan =
      force &&
      (list.length > 0 || gone.length > 0) &&
      (this.o.keys !== undefined || (tenant.spec?.tier ?? "shared") === "dedicated");
    if (work.length === 0 && gone.length === 0 && !scan) return;
    const reach = await this.reach.connect(t);
    if ("failure" in reach) {
      for (const w of work) this.streams.set(w.key, reach.failure.state);
      if (reach.failure.retry && (work.length > 0 || gone.length > 0)) run.result.retry = true;
      return;
    }
    const nc = reach.nc;
    await this.deleteGone(nc, t, gone, run.result);
    const limits = limitsContext(this.o.keys ? tenantLimits(tenant) : undefined, list.length);
    let listing: StreamListing | undefined;
    if (force) {
      const got = await yieldable(this.listingOf(nc), run.pass, mustFinish);
      if (got === YIELDED) {
        // Another run waits: the check is left for a later run, what changed is done now.
        this.forced.putBack(t, run.pass);
        force = false;
      } else listing = got;
    }
    if (force) run.result.checked++;
    const todo = force ? work : work.filter((w) => this.ensured.get(w.key) !== w.streamsSig);
    for (const w of todo) {
      if (!run.isLeader()) return;
      const own = sourceStreamOf(w.resource)?.stream;
      const before = this.known.get(w.key);
      this.known.set(w.key, { tenant: t, name: w.name, ...(own ? { sourceStream: own } : {}) });
      try {
        if (before?.sourceStream && before.sourceStream !== own) await dropConsumer(nc, before.sourceStream, t, w.name);
        await ensureIntegrationStreams(nc, w.resource, this.o.jetstreamReplicas, listing);
        this.ensured.set(w.key, w.streamsSig);
        this.streams.set(w.key, STREAMS_CREATED);
        run.result.ensured++;
        if (!this.made.has(w.key)) {
          this.made.add(w.key);
          this.o.onStreamsMade?.();
        }
      } catch (e) {
        this.ensured.delete(w.key);
        this.made.delete(w.key);
        const f = streamsFailure(e, limits, own);
        this.streams.set(w.key, f.state);
        if (f.retry) run.result.retry = true;
      }
    }
    if (scan && force) await this.tenantLeftovers(nc, t, new Set(list.map((w) => w.name)), run.result, listing);
  }

  /**
   * The streams of `nc`'s account, listed once per forced run (shared tenants without keys share one account): a
   * forced pass then checks each integration's streams against it instead of asking for each (4 requests per
   * integration). A listing that fails is no listing: each stream is asked for.
   */
  private listingOf(nc: NatsConnection): Promise<StreamListing | undefined> {
    return this.forced.listing(nc, () =>
      listStreams(nc).catch((e: unknown) => {
        this.o.log("streams-scan-failed", { tenant: "*", error: errorMessage(e) });
        return undefined;
      }),
    );
  }

  /** Deletes the objects of integrations that are gone (with `nc`; undefined: nothing left to delete), then their status. */
  private async deleteGone(nc: NatsConnection | undefined, t: string, gone: Known[], result: StreamsRun) {
    for (const g of gone) {
      const key = integrationKey(t, g.name);
      try {
        if (nc) await deleteIntegrationStreams(nc, t, g.name, g.sourceStream);
        // The status record says where the slot is: it stays until the slot is dropped (dropSlots).
        const slot = this.slotDrops.deleted(key, t, g.name);
        await this.forget(key, !slot);
        result.deleted++;
      } catch (e) {
        this.o.log("streams-delete-failed", { key, error: errorMessage(e) });
        result.retry = true;
      }
    }
  }

  private async forget(key: string, record = true): Promise<void> {
    this.known.delete(key);
    this.ensured.delete(key);
    this.made.delete(key);
    this.streams.delete(key);
    this.secretChecks.delete(key);
    if (record && this.written.has(key)) {
      await this.status.delete(key);
      this.written.delete(key);
    }
  }

  /** Drops the slots of deleted integrations; then their status records go. A failure is left for a later run. */
  private async dropSlots(desired: Set<string>, result: StreamsRun): Promise<void> {
    const { done, left } = await this.slotDrops.run(desired);
    for (const key of done) {
      try {
        await this.status.delete(key);
        this.written.delete(key);
      } catch (e) {
        this.o.log("integration-status-write-failed", { key, error: errorMessage(e) });
      }
    }
    if (left) result.retry = true;
  }

  /** Integrations of the tenant with objects in its account that are not desired (a forced run). */
  private async tenantLeftovers(
    nc: NatsConnection,
    t: string,
    names: Set<string>,
    result: StreamsRun,
    listing: StreamListing | undefined,
  ) {
    let found: string[];
    try {
      found = await integrationsWithStreams(nc, t, listing);
    } catch (e) {
      this.o.log("streams-scan-failed", { tenant: t, error: errorMessage(e) });
      return;
    }
    const left = found
      .filter((n) => !names.has(n))
      .map((name) => this.known.get(integrationKey(t, name)) ?? { tenant: t, name });
    await this.deleteGone(nc, t, left, result);
  }

  /** Without keys, every shared tenant's objects are in the platform account: one listing finds the leftovers. */
  private async sharedLeftovers(desired: Set<string>, run: RunState): Promise<void> {
    const result = run.result;
    let found: Awaited<ReturnType<typeof dataPlaneIn>>;
    try {
      // Listed now: the run's listing, if one was taken, does not show what the run deleted since.
      found = await dataPlaneIn(this.o.nc);
    } catch (e) {
      this.o.log("streams-scan-failed", { tenant: "*", error: errorMessage(e) });
      result.retry = true;
      return;
    }
    // Known ones that are gone are the tenants' own business (syncTenant); these are the ones nothing else knows.
    const left = [...found.integrations].filter(([key]) => !desired.has(key) && !this.known.has(key));
    await pool(left, 8, ([, k]) => this.deleteGone(this.o.nc, k.tenant, [k], result));
    const tenantsLeft = found.traceTenants.filter((t) => !run.tenants.has(t));
    await pool(tenantsLeft, 8, (t) => this.deleteTenantStreams(t, result));
  }

  /** A removed tenant's own streams in the shared account (its trace stream), once its integrations' are gone. */
  private async deleteTenantStreams(t: string, result: StreamsRun): Promise<void> {
    try {
      await deleteTenantStreams(this.o.nc, t);
    } catch (e) {
      this.o.log("streams-delete-failed", { key: t, error: errorMessage(e) });
      result.retry = true;
    }
  }

  /** SecretsResolved of one integration, when its secrets or revision changed (every one on a forced run). */
  private async checkSecrets(w: Wanted, force: boolean): Promise<void> {
    const before = this.secretChecks.get(w.key);
    if (!force && before?.sig === w.secretsSig) return;
    const found: SecretsFound | "no-source" =
      this.secretLookups && w.secrets.length > 0
        ? await this.secretLookups.check(w.tenant, w.secrets, w.revision)
        : "no-source";
    this.secretChecks.set(w.key, { sig: w.secretsSig, state: secretsCondition(w.tenant, w.secrets, found) });
  }

  /** Writes the status of every desired integration whose conditions or revision changed. */
  private async writeStatus(run: RunState): Promise<void> {
    const now = new Date().toISOString();
    const puts: Array<{ key: string; record: IntegrationStatusRecord; inputs: string }> = [];
    for (const w of [...run.wanted.values()].flat()) {
      const streams = this.streams.get(w.key) ?? { status: "Unknown", reason: "Pending", message: "" };
      const secrets = this.secretChecks.get(w.key)?.state ?? { status: "Unknown", reason: "Pending", message: "" };
      if (streams.status !== "True" || secrets.status === "False") run.result.notReady++;
      const inputs = [
        w.revision,
        streams.status,
        streams.reason,
        streams.message,
        secrets.status,
        secrets.reason,
        secrets.message,
        w.cdcSlot ? canonicalJson(w.cdcSlot) : "",
      ].join("\n");
      const prev = this.written.get(w.key);
      if (prev?.inputs === inputs) continue;
      const record = integrationStatus(
        prev?.record,
        { tenant: w.tenant, integration: w.name, revision: w.revision, streams, secrets, cdcSlot: w.cdcSlot },
        now,
      );
      if (sameStatus(prev?.record, record)) {
        this.written.set(w.key, { record: prev!.record, inputs });
        continue;
      }
      puts.push({ key: w.key, record, inputs });
    }
    if (!run.isLeader()) return;
    await pool(puts, 64, async (p) => {
      try {
        await this.status.put(p.key, JSON.stringify(p.record));
        this.written.set(p.key, { record: p.record, inputs: p.inputs });
      } catch (e) {
        this.o.log("integration-status-write-failed", { key: p.key, error: errorMessage(e) });
        run.result.retry = true;
      }
    });
  }

  /**
   * Reads the status records in KV (a forced run, or the first): what is written is not written again, and an
   * integration with a record may have objects, so it is removed with them when it is not desired. (What this
   * process ensured and looked up stays: each due tenant's check does it again.)
   */
  private async loadStatus(): Promise<void> {
    this.written.clear();
    await readSnapshot(this.status, (e) => {
      if (e.operation !== "PUT") return;
      const d = decodeIntegrationStatus(e.value, e.key);
      if (!d.ok) {
        // Not a record of ours: reported, and rewritten if the integration is desired.
        this.o.log("bad-record", { bucket: e.bucket, key: e.key, reason: d.reason });
        return;
      }
      const record = d.value;
      this.written.set(e.key, { record, inputs: "" });
      if (record.conditions.some((c) => c.type === "StreamsReady" && c.status === "True")) this.made.add(e.key);
      if (!this.known.has(e.key)) this.known.set(e.key, { tenant: record.tenant, name: record.integration });
      if (record.cdcSlot) this.slotDrops.recorded(e.key, record.cdcSlot, record.revision);
    });
    this.loaded = true;
    if (this.made.size > 0) this.o.onStreamsMade?.();
  }
}
