/**
 * How the data-plane commands (`dlq`, `trace`) reach a tenant's account: with `--keys`, as a short-lived user of the
 * tenant's own account signed here, found through its discovery entry (TenantLinks); without keys, the platform
 * connection itself, which is then the account every tenant shares (a fleet without operator mode).
 */
import { JetStreamApiError } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadKeys } from "../accounts/keys.js";
import { platformCredsFile } from "../accounts/platform-user.js";
import { BUCKETS } from "../contract/buckets.js";
import { TenantLinks } from "../dataplane/tenant-links.js";
import { errorMessage, isVrskyError, VrskyError } from "../errors/errors.js";
import { connectNats } from "../nats/connect.js";

export interface TenantAccessOptions {
  nats: string;
  creds?: string;
  keys?: string;
  tenant: string;
  /** Connection and user name (`vrsky-dlq`). */
  name: string;
}

export interface TenantAccess {
  /** A connection in the tenant's account. */
  nc: NatsConnection;
  close(): Promise<void>;
}

export async function openTenantAccess(o: TenantAccessOptions): Promise<TenantAccess> {
  const keys = o.keys ? loadKeys(o.keys) : undefined;
  const creds = platformCredsFile(o.creds, keys);
  const platform = await connectNats({ url: o.nats, creds, name: o.name, jetstream: true });
  if (!keys) return { nc: platform, close: () => platform.close() };
  try {
    const kvm = new Kvm(platform);
    const links = new TenantLinks({
      discovery: await kvm.open(BUCKETS.discovery),
      tenants: await kvm.open(BUCKETS.tenants),
      keys,
      name: o.name,
      ttlSeconds: 900,
    });
    try {
      const nc = await links.get(o.tenant);
      return {
        nc,
        close: async () => {
          await links.close();
          await platform.close();
        },
      };
    } catch (e) {
      await links.close();
      throw e;
    }
  } catch (e) {
    await platform.close();
    throw asVrskyError(e, o.tenant);
  }
}

function asVrskyError(e: unknown, tenant: string): VrskyError {
  if (isVrskyError(e)) return e;
  if (e instanceof JetStreamApiError && e.code === 10059)
    return new VrskyError("VRS_STATE_NOT_FOUND", `no bucket ${BUCKETS.discovery} to find tenant ${tenant} in`);
  return new VrskyError("VRS_NATS_UNAVAILABLE", `cannot reach tenant ${tenant}: ${errorMessage(e)}`, { cause: e });
}
