import type { CdcSlotRef } from "../../contract/dataplane.js";

/** The fields of a `postgres-cdc` source's config as validated (schema.ts); anything else is not one. */
interface SourceLike {
  type: string;
  config?: unknown;
}

/**
 * The replication slot of an integration's `postgres-cdc` source and where its server is, as the reconciler keeps
 * it to drop the slot when the integration is deleted; undefined for any other source. Pure.
 */
export function cdcSlotOf(source: SourceLike): CdcSlotRef | undefined {
  if (source.type !== "postgres-cdc" || typeof source.config !== "object" || source.config === null) return undefined;
  const c = source.config as Record<string, unknown>;
  const text = (k: string) => (typeof c[k] === "string" && c[k] !== "" ? (c[k] as string) : undefined);
  const slot = text("slot");
  const host = text("host");
  const database = text("database");
  const user = text("user");
  if (!slot || !host || !database || !user) return undefined;
  const secretRef = text("secretRef");
  const sslmode = text("sslmode") ?? "prefer";
  return {
    slot,
    host,
    port: typeof c.port === "number" ? c.port : 5432,
    database,
    user,
    ...(secretRef ? { secretRef } : {}),
    sslmode: (["disable", "prefer", "require", "verify-full"].includes(sslmode)
      ? sslmode
      : "prefer") as CdcSlotRef["sslmode"],
  };
}
