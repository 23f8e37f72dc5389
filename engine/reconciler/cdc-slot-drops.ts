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
  private readonly pending = new Map<string, SlotDrop & { busySince?: number }>();

  constructor(private readonly o: CdcSlotDropsOptions) {}

  /** A slot to drop (again: the first time it was seen busy is kept). */
  add(d: SlotDrop): void {
    const before = this.pending.get(d.key);
    this.pending.set(d.key, { ...d, ...(before?.busySince !== undefined ? { busySince: before.busySince } : {}) });
  }

  /** The integration is desired again: its slot is its own again. */
  cancel(key: string): void {
    this.pending.delete(key);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Tries every pending drop; the keys whose slot is gone now, and whether some are left. */
  async run(): Promise<{ done: string[]; left: boolean }> {
    const done: string[] = [];
    await pool([...this.pending.values()], 4, async (d) => {
      const outcome = await this.dropOne(d);
      if (outcome === "dropped" || outcome === "absent") {
        this.pending.delete(d.key);
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
