/**
 * Dropping the replication slot of a deleted `postgres-cdc` integration (docs/manifests.md, "postgres-cdc"). The
 * reconciler does it, because only it knows that an integration was deleted: a worker stops a replica for many
 * reasons (a hand-over, a drain, a suspend, its own restart) and never drops a slot. The slot and how to reach its
 * server are kept in the integration's status record (`cdcSlot`, with the secret's name, never its value), which
 * stays in KV until the slot is dropped: a reconciler restarted in between finds the drop to do again.
 *
 * Level-triggered and idempotent: a slot already gone counts as dropped. A slot still streaming to a worker (the
 * replica is unassigned with the integration, and stops within moments) is left alone for `busyGraceMs`; after
 * that its connection is terminated and the slot dropped. A server that cannot be reached, a secret that cannot be
 * resolved or a refusal is logged (`cdc-slot-drop-failed`) and tried again at the next run; other integrations'
 * work is not held up (drops run after the rest of the streams step, a few at a time, with a short connect timeout).
 */
import pg from "pg";
import type { CdcSlotRef } from "../contract/dataplane.js";
import { PostgresTarget, sqlState } from "../dataplane/postgres-client.js";
import { errorMessage } from "../errors/errors.js";
import type { SecretSource } from "../secrets/sources.js";
import { pool } from "../util/pool.js";

/** How long a deleted integration's slot may stay in use by a worker before its connection is terminated. */
export const SLOT_BUSY_GRACE_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** After a terminate, how long the drop keeps trying while the server lets go of the slot. */
const RELEASE_WAIT_MS = 5_000;

export interface SlotDrop {
  /** `<tenant>.<integration>`. */
  key: string;
  tenant: string;
  integration: string;
  /** The revision the integration was last applied from: its `secretRef` resolves there. */
  revision: string;
  ref: CdcSlotRef;
}

export interface CdcSlotDropsOptions {
  secrets?: SecretSource;
  log: (event: string, fields?: Record<string, unknown>) => void;
  busyGraceMs?: number;
}

type Outcome = "dropped" | "absent" | "busy" | "failed";

export class CdcSlotDrops {
  /** The slot of each integration with a `postgres-cdc` source, and the revision its secret resolves at. */
  private readonly slots = new Map<string, { ref: CdcSlotRef; revision: string }>();
  private readonly pending = new Map<string, SlotDrop & { busySince?: number }>();

  constructor(private readonly o: CdcSlotDropsOptions) {}

  /** A desired integration and its slot (undefined: another source): a drop pending for it is called off. */
  desired(key: string, ref: CdcSlotRef | undefined, revision: string): void {
    this.pending.delete(key);
    if (ref) this.slots.set(key, { ref, revision });
    else this.slots.delete(key);
  }

  /** A slot found in a status record (at start-up, a resync): what this run's desired integrations say wins. */
  recorded(key: string, ref: CdcSlotRef, revision: string): void {
    if (!this.slots.has(key)) this.slots.set(key, { ref, revision });
  }

  /** The integration is deleted: its slot, if it has one, is to be dropped (true then). */
  deleted(key: string, tenant: string, integration: string): boolean {
    const slot = this.slots.get(key);
    if (!slot) return false;
    const before = this.pending.get(key);
    const busy = before?.busySince !== undefined ? { busySince: before.busySince } : {};
    this.pending.set(key, { key, tenant, integration, ...slot, ...busy });
    return true;
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Tries every pending drop; the keys whose slot is gone now (or kept: a desired integration names the same slot on
   * the same server, as after a rename), and whether some are left.
   */
  async run(desired: Iterable<string>): Promise<{ done: string[]; left: boolean }> {
    const inUse = new Set<string>();
    for (const key of desired) {
      const s = this.slots.get(key);
      if (s) inUse.add(slotId(s.ref));
    }
    const done: string[] = [];
    await pool([...this.pending.values()], 4, async (d) => {
      const kept = inUse.has(slotId(d.ref));
      if (kept) this.o.log("cdc-slot-kept", { key: d.key, slot: d.ref.slot, reason: "a desired integration uses it" });
      const outcome = kept ? "absent" : await this.dropOne(d);
      if (outcome === "dropped" || outcome === "absent") {
        this.pending.delete(d.key);
        this.slots.delete(d.key);
        done.push(d.key);
      }
    });
    return { done: done.sort(), left: this.pending.size > 0 };
  }

  private async dropOne(d: SlotDrop & { busySince?: number }): Promise<Outcome> {
    const { ref } = d;
    const where = { key: d.key, slot: ref.slot, server: `${ref.host}:${ref.port}/${ref.database}` };
    let client: pg.Client | undefined;
    try {
      const secrets = this.o.secrets;
      const env = {
        secret: (name: string) => {
          if (!secrets) throw new Error("the reconciler has no secret source (--secrets-dir, or --repo with --keys)");
          return secrets.resolve(d.tenant, name, d.revision);
        },
      };
      const target = await PostgresTarget.open(ref, env, `vrsky-reconciler drop ${d.tenant}/${d.integration}`);
      client = new pg.Client(await target.config({ connectionTimeoutMillis: CONNECT_TIMEOUT_MS }));
      client.on("error", () => undefined);
      await client.connect();
      const found = await client.query<{ pid: number | null }>(
        "SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1 AND database = $2",
        [ref.slot, ref.database],
      );
      const row = found.rows[0];
      if (!row) {
        this.o.log("cdc-slot-dropped", { ...where, found: false });
        return "absent";
      }
      if (row.pid !== null) {
        const since = (d.busySince ??= Date.now());
        if (Date.now() - since < (this.o.busyGraceMs ?? SLOT_BUSY_GRACE_MS)) {
          this.o.log("cdc-slot-busy", { ...where, pid: row.pid });
          return "busy";
        }
        await client.query("SELECT pg_terminate_backend($1)", [row.pid]);
        this.o.log("cdc-slot-terminated", { ...where, pid: row.pid });
      }
      await this.drop(client, ref.slot);
      this.o.log("cdc-slot-dropped", { ...where, found: true });
      return "dropped";
    } catch (e) {
      this.o.log("cdc-slot-drop-failed", { ...where, error: errorMessage(e), code: sqlState(e), retry: true });
      return "failed";
    } finally {
      await client?.end().catch(() => undefined);
    }
  }

  /** Drops the slot; while it is still held by a terminated connection (55006), tries again for a moment. */
  private async drop(client: pg.Client, slot: string): Promise<void> {
    const until = Date.now() + RELEASE_WAIT_MS;
    for (;;) {
      try {
        await client.query("SELECT pg_drop_replication_slot($1)", [slot]);
        return;
      } catch (e) {
        if (sqlState(e) === "42704") return;
        if (sqlState(e) !== "55006" || Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** A slot's identity: slot names are unique in a server (a database's slot is dropped from that database). */
function slotId(r: CdcSlotRef): string {
  return `${r.host}\0${r.port}\0${r.database}\0${r.slot}`;
}
