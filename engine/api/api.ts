/**
 * The read-only status API (`vrsky api`): the state copies and the read model built from them (state.ts), the
 * change feed of the event streams (events.ts), the HTTP server (server.ts), and their lifecycle. The NATS
 * connection is the caller's; `close` stops everything else.
 */
import type { AddressInfo } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { httpUrl, listenFailure, bindHost, type ListenAddress } from "../util/listen-address.js";
import { KeyRing } from "./auth.js";
import { ChangeFeed } from "./events.js";
import { ApiMetrics } from "./metrics.js";
import { createTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { buildApiServer } from "./server.js";
import { Sessions } from "./sessions.js";
import { ApiState, type Log } from "./state.js";
import { PlanSource } from "./plan-source.js";
import { DEFAULT_RECENT_EVENTS, RecentEvents } from "./recent-events.js";
import type { DeletionLimits } from "../plan/deletion-guard.js";

/** Sign-ins held at once: past this, the oldest session ends. */
const MAX_SESSIONS = 10_000;

export interface ApiOptions {
  nc: NatsConnection;
  listen: ListenAddress;
  /** The flag the address came from, for errors (default `--listen`). */
  listenFlag?: string;
  adminKey: string;
  /** Requests per key (per address without a key) in each window. */
  rateLimit: { max: number; timeWindowMs: number };
  version: string;
  log: Log;
  /** Changes are gathered this long into one event (default 250 ms). */
  debounceMs?: number;
  keepAliveMs?: number;
  /** The process's metrics (the command's); default: a provider of the API's own, served on its `/metrics`. */
  telemetry?: Telemetry;
  /** Event streams one key may hold open at once (default 10). */
  maxStreamsPerKey?: number;
  /** Change events kept for `/api/v1/events/recent` (default 500). */
  recentEvents?: number;
  /** The repository and branch the reconciler follows, for `/api/v1/plan` (without: 404). */
  repo?: { dir: string; branch: string; limits?: DeletionLimits };
  /** The status page: how long a sign-in lasts (default 12 h), how often it reloads without JavaScript (30 s). */
  page?: { sessionTtlMs?: number; refreshS?: number };
}

export interface Api {
  url: string;
  close(): Promise<void>;
}

export async function startApi(o: ApiOptions): Promise<Api> {
  const telemetry = o.telemetry ?? createTelemetry({ version: o.version, processMetrics: false });
  const sessionTtlMs = o.page?.sessionTtlMs ?? 12 * 3_600_000;
  const feed = new ChangeFeed(o.debounceMs ?? 250);
  const state = new ApiState(o.nc, { retryMs: 1_000, onWrite: (bucket, key) => feed.seen(bucket, key), log: o.log });
  const recent = new RecentEvents(o.recentEvents ?? DEFAULT_RECENT_EVENTS);
  feed.subscribe((batch) => recent.record(batch));
  const metrics = new ApiMetrics(telemetry.meter);
  const plan =
    o.repo &&
    new PlanSource({
      repo: o.repo.dir,
      branch: o.repo.branch,
      limits: o.repo.limits,
      live: () => state.liveRecords(),
      onLookup: (result) => metrics.cacheLookup("plan", result),
    });
  let natsUp = true;
  void (async () => {
    for await (const s of o.nc.status()) {
      if (s.type === "disconnect") natsUp = false;
      else if (s.type === "reconnect") natsUp = true;
      if (s.type === "disconnect" || s.type === "reconnect") o.log(`nats-${s.type}`, {});
    }
  })().catch(() => undefined);
  const stop = () => {
    feed.stop();
    state.stop();
  };
  let app: Awaited<ReturnType<typeof buildApiServer>> | undefined;
  try {
    await state.start();
    app = await buildApiServer({
      state,
      keys: new KeyRing(o.adminKey),
      feed,
      metrics,
      scrape: () => telemetry.scrape(),
      ready: () => !o.nc.isClosed() && natsUp && state.isOpen,
      rateLimit: o.rateLimit,
      keepAliveMs: o.keepAliveMs ?? 15_000,
      maxStreamsPerKey: o.maxStreamsPerKey ?? 10,
      plan,
      recent,
      version: o.version,
      log: o.log,
      page: {
        sessions: new Sessions({ ttlMs: sessionTtlMs, max: MAX_SESSIONS }),
        sessionTtlMs,
        refreshS: o.page?.refreshS ?? 30,
      },
    });
  } catch (e) {
    stop();
    throw e;
  }
  try {
    await app.listen({ port: o.listen.port, host: bindHost(o.listen) });
  } catch (e) {
    stop();
    await app.close();
    throw listenFailure(o.listenFlag ?? "--listen", o.listen, e);
  }
  const server = app;
  return {
    url: httpUrl(server.server.address() as AddressInfo),
    close: async () => {
      stop();
      await server.close();
      if (!o.telemetry) await telemetry.shutdown();
    },
  };
}
