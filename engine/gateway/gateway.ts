/**
 * The ingest gateway: receives webhooks for every integration with an `http` source and persists each into the
 * integration's ingest stream in its tenant's account before answering. Stateless (routes come from the platform
 * state, secrets from a SecretSource, nothing is kept but caches), so any number can run behind a load balancer.
 * `startGateway` runs one in-process (`vrsky gateway`, `vrsky up`); docs/operations.md ("The ingest gateway").
 */
import type { AddressInfo } from "node:net";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { VrskyKeys } from "../accounts/keys.js";
import { BUCKETS } from "../contract/buckets.js";
import { TenantLinks } from "../dataplane/tenant-links.js";
import { errorMessage } from "../errors/errors.js";
import { bindHost, httpUrl, listenFailure, parseListen, type ListenAddress } from "../util/listen-address.js";
import { secretSource, type SecretSource, type SecretSourceOptions } from "../secrets/sources.js";
import { GatewayMetrics } from "./metrics.js";
import { createTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { RouteTable, type Log } from "./routes.js";
import { buildServer } from "./server.js";
import type { Tracer } from "@opentelemetry/api";
import { SignatureVerifier } from "./signature.js";
import { GATEWAY_USER, gatewayPermissions, Writers } from "./writers.js";

export interface GatewayOptions {
  /** Connection to the platform account (the caller's: the gateway never closes it). */
  nc: NatsConnection;
  /** Operator keys (`vrsky init`): tenants are reached as user `vrsky-gateway` of their accounts. Without: no credentials. */
  keys?: VrskyKeys;
  /** Where to serve (engine/util/listen-address.ts; port 0: a free one). */
  listen: string | ListenAddress;
  /** The flag the address came from, for errors (default `--listen`). */
  listenFlag?: string;
  /** Where signature secrets come from: a SecretSource, or the options of one (`--secrets-dir`, `--repo` with keys). */
  secrets: SecretSource | SecretSourceOptions;
  /** The largest body any route accepts, whatever its `maxBodyBytes` (default 64 MiB). */
  maxBodyBytes?: number;
  /** How long a write waits for JetStream's acknowledgement (default 5 s). */
  publishTimeoutMs?: number;
  /** On close, how long in-flight requests may take before their connections are cut (default 10 s). */
  drainTimeoutMs?: number;
  /** Lifetime of the tenant users (default 1 h; renewed at half of it). */
  userTtlSeconds?: number;
  /** The process's metrics, shared with the other components it runs; default: the gateway's own. */
  telemetry?: Telemetry;
  log?: Log;
  /** Spans of webhooks, whose context the stored messages carry (engine/telemetry/tracing.ts); none: no spans. */
  tracer?: Tracer;
}

export interface Gateway {
  /** `http://host:port` it serves on. */
  url: string;
  /** Resolves once the routes are loaded (the first time). */
  ready: Promise<void>;
  /** Connected to the platform, routes loaded, not closing (what `/readyz` answers). */
  isReady(): boolean;
  metrics: GatewayMetrics;
  /** Stops accepting, lets in-flight requests finish (at most drainTimeoutMs), closes tenant connections. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const log: Log = o.log ?? (() => undefined);
  const flag = o.listenFlag ?? "--listen";
  const listen = typeof o.listen === "string" ? parseListen(o.listen, flag) : o.listen;
  const kvm = new Kvm(o.nc);
  const [integrations, tenants, discovery] = await Promise.all([
    kvm.open(BUCKETS.integrations),
    kvm.open(BUCKETS.tenants),
    kvm.open(BUCKETS.discovery),
  ]);
  const links = new TenantLinks({
    discovery,
    tenants,
    ...(o.keys ? { keys: o.keys } : {}),
    name: GATEWAY_USER,
    allowPub: (t) => gatewayPermissions(t).allowPub,
    allowSub: (t) => gatewayPermissions(t).allowSub,
    ...(o.userTtlSeconds !== undefined ? { ttlSeconds: o.userTtlSeconds } : {}),
    log,
  });
  const secrets = "resolve" in o.secrets ? o.secrets : secretSource(o.secrets);
  const writers = new Writers(links, o.publishTimeoutMs ?? 5_000);
  let table: RouteTable | undefined;
  let platformUp = true;
  let closing = false;
  const isReady = () => !closing && platformUp && table?.ready === true;
  const telemetry = o.telemetry ?? createTelemetry({ version: "unknown", processMetrics: false });
  const metrics = new GatewayMetrics(telemetry.meter, { ready: isReady, routes: () => table?.size ?? 0 });

  void (async () => {
    for await (const s of o.nc.status()) {
      if (s.type === "disconnect") platformUp = false;
      else if (s.type === "reconnect") platformUp = true;
      if (s.type === "disconnect" || s.type === "reconnect") log(`nats-${s.type}`, {});
    }
  })().catch(() => undefined);

  const app = buildServer({
    routes: () => table,
    ready: isReady,
    closing: () => closing,
    writers,
    verifier: new SignatureVerifier(secrets),
    metrics,
    scrape: () => telemetry.scrape(),
    maxBodyBytes: o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    log,
    tracer: o.tracer,
  });
  try {
    await app.listen({ host: bindHost(listen), port: listen.port });
  } catch (e) {
    await app.close().catch(() => undefined);
    throw listenFailure(flag, listen, e);
  }
  const url = httpUrl(app.server.address() as AddressInfo);
  log("listening", { url });

  const ready = loadRoutes({ integrations, tenants, links, writers, log, stopped: () => closing }).then((t) => {
    table = t;
    if (t) log("routes-loaded", { routes: t.size });
  });

  return {
    url,
    ready: ready.then(() => undefined),
    isReady,
    metrics,
    async close() {
      if (closing) return;
      closing = true;
      const cut = setTimeout(() => app.server.closeAllConnections(), o.drainTimeoutMs ?? 10_000);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
        table?.stop(); // a table still loading is stopped by loadRoutes, which sees `closing`
        await links.close();
        if (!o.telemetry) await telemetry.shutdown();
      }
    },
  };
}

interface LoadDeps {
  integrations: KV;
  tenants: KV;
  links: TenantLinks;
  writers: Writers;
  log: Log;
  stopped: () => boolean;
}

/** Loads the route table, retrying every second while the platform state cannot be read (or does not exist yet). */
async function loadRoutes(d: LoadDeps): Promise<RouteTable | undefined> {
  for (let attempt = 0; !d.stopped(); attempt++) {
    const t = new RouteTable({
      integrations: d.integrations,
      tenants: d.tenants,
      log: d.log,
      onTenantChanged: (tenant) => void d.links.drop(tenant).catch(() => undefined),
      onRouteGone: (key) => d.writers.forget(key),
    });
    try {
      await t.start();
      if (!d.stopped()) return t;
      t.stop();
      return undefined;
    } catch (e) {
      t.stop();
      if (attempt === 0 || attempt % 30 === 0)
        d.log("routes-waiting", { error: errorMessage(e), hint: "is the platform state there (a reconciler ran)?" });
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  return undefined;
}
