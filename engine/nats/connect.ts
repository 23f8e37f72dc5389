import { readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { errorMessage, VrskyError } from "../errors/errors.js";

export interface ConnectOptions {
  url: string;
  creds?: string;
  name?: string;
  /** Check that the account has JetStream (the engine keeps its state in KV), so a server without it is a clear error. */
  jetstream?: boolean;
}

/** A connection that reconnects forever: the engine reports not-ready while NATS is away, it does not exit. */
export async function connectNats(o: ConnectOptions): Promise<NatsConnection> {
  // Read before connecting: a missing or wrong creds file is the user's to fix, not NATS being away.
  const creds = o.creds === undefined ? undefined : readCreds(o.creds);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: o.url.split(","),
      name: o.name ?? "vrsky",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      timeout: 5_000,
      // Every KV write and JetStream call is a request: an Error with a stack trace made up front for each cost the
      // reconciler ~11% of its CPU in a hand-over (bench:workers --profile). Errors keep their messages.
      noAsyncTraces: true,
      ...(creds ? { authenticator: credsAuthenticator(creds) } : {}),
    });
  } catch (e) {
    throw new VrskyError("VRS_NATS_UNAVAILABLE", `cannot connect to ${o.url}: ${errorMessage(e)}`, { cause: e });
  }
  trackConnection(nc);
  if (o.jetstream) {
    try {
      await jetstreamManager(nc);
    } catch (e) {
      await nc.close();
      throw new VrskyError("VRS_NATS_UNAVAILABLE", `no JetStream at ${o.url}: ${errorMessage(e)}`, { cause: e });
    }
  }
  return nc;
}

/** The bytes of a creds file (a user JWT and its seed, as `vrsky init` and `vrsky creds` write them). */
export function readCreds(path: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new VrskyError("VRS_CREDS_INVALID", `cannot read ${path}: ${errorMessage(e)}`, { cause: e });
  }
  const text = bytes.toString("utf8");
  if (!text.includes("BEGIN NATS USER JWT") || !text.includes("BEGIN USER NKEY SEED")) {
    throw new VrskyError("VRS_CREDS_INVALID", `${path} is not a NATS creds file (a user JWT and an nkey seed)`);
  }
  return bytes;
}

/** Connections of connectNats that are disconnected now (they reconnect for ever). */
const disconnected = new WeakSet<NatsConnection>();

function trackConnection(nc: NatsConnection): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") disconnected.add(nc);
      else if (s.type === "reconnect") disconnected.delete(nc);
    }
  })().catch(() => undefined);
}

/**
 * Drains the connection (its subscriptions and pending publishes), but closes it at once while it is disconnected,
 * and when the drain takes longer than `timeoutMs`: with NATS away a drain waits for the server for ever, and a
 * process that stops must not.
 */
export async function closeNats(nc: NatsConnection, timeoutMs = 1_000): Promise<void> {
  if (nc.isClosed()) return;
  if (disconnected.has(nc)) {
    await nc.close().catch(() => undefined);
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    nc.drain().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (!drained && !nc.isClosed()) await nc.close().catch(() => undefined);
}
