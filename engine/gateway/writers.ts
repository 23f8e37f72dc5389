/**
 * The gateway's writers: one IngestWriter per integration, over its tenant's connection (TenantLinks, as the user
 * `vrsky-gateway` with permissions for ingest only). A writer is made anew when the tenant's connection or payload
 * limit changes. A tenant connection that is down fails a write at once (503) instead of buffering it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { integrationStreams } from "../contract/dataplane.js";
import { subjectPrefixOf } from "../contract/subjects.js";
import { IngestError, IngestWriter } from "../dataplane/ingest.js";
import type { TenantLinks } from "../dataplane/tenant-links.js";
import { errorMessage } from "../errors/errors.js";
import type { HttpRoute } from "./route.js";

/** User name of the gateway in every tenant's account. */
export const GATEWAY_USER = "vrsky-gateway";

/**
 * What the gateway's user may do in a tenant's account: publish to the tenant's ingest subjects, call the
 * JetStream API and write object-store chunks (large bodies); subscribe only to its own inboxes (the replies).
 */
export function gatewayPermissions(tenant: string): { allowPub: string[]; allowSub: string[] } {
  return { allowPub: [`${subjectPrefixOf(tenant)}.in.>`, "$JS.API.>", "$O.>"], allowSub: ["_INBOX.>"] };
}

interface Entry {
  nc: NatsConnection;
  limit: number | undefined;
  writer: IngestWriter;
}

export class Writers {
  private readonly writers = new Map<string, Entry>();
  /** Connections seen, and whether each is connected now (followed through its status events). */
  private readonly up = new WeakMap<NatsConnection, boolean>();

  constructor(
    private readonly links: TenantLinks,
    private readonly timeoutMs = 5_000,
  ) {}

  /** The route's writer, on a connection that is up now. Throws IngestError "unavailable". */
  async get(route: HttpRoute, payloadLimitBytes: number | undefined): Promise<IngestWriter> {
    let nc: NatsConnection;
    try {
      nc = await this.links.get(route.tenant);
    } catch (e) {
      throw new IngestError("unavailable", `cannot reach tenant ${route.tenant}: ${errorMessage(e)}`);
    }
    this.follow(nc);
    if (this.up.get(nc) === false || nc.isClosed())
      throw new IngestError("unavailable", `the connection to tenant ${route.tenant} is down`);
    const e = this.writers.get(route.key);
    if (e && e.nc === nc && e.limit === payloadLimitBytes) return e.writer;
    const writer = new IngestWriter(nc, integrationStreams(route.tenant, route.integration), {
      timeoutMs: this.timeoutMs,
      ...(payloadLimitBytes !== undefined ? { payloadLimitBytes } : {}),
    });
    this.writers.set(route.key, { nc, limit: payloadLimitBytes, writer });
    return writer;
  }

  /** Forgets an integration's writer (its route is gone). */
  forget(key: string): void {
    this.writers.delete(key);
  }

  private follow(nc: NatsConnection): void {
    if (this.up.has(nc)) return;
    this.up.set(nc, true);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") this.up.set(nc, false);
        else if (s.type === "reconnect") this.up.set(nc, true);
      }
    })().catch(() => undefined);
  }
}
