import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { VrskyError } from "../errors/errors.js";

export interface ConnectOptions {
  url: string;
  creds?: string;
  name?: string;
}

/** A connection that reconnects forever: the engine reports not-ready while NATS is away, it does not exit. */
export async function connectNats(o: ConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: o.url.split(","),
      name: o.name ?? "vrsky",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
      timeout: 5_000,
      ...(o.creds ? { authenticator: credsAuthenticator(readFileSync(o.creds)) } : {}),
    });
  } catch (e) {
    throw new VrskyError(
      "VRS_NATS_UNAVAILABLE",
      `cannot connect to ${o.url}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}
