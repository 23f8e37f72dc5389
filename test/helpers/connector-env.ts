/**
 * What a replica gives its sinks and sources (FlowEnv, SourceEnv), made by hand for connector tests: a connection
 * the test can swap, secrets from a map, an ingest writer on the current connection, and the logs and failures a
 * source reports. Also a recording HTTP receiver on loopback.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { IngestWriter } from "../../engine/dataplane/ingest.js";
import { VrskyError } from "../../engine/errors/errors.js";
import type { Message } from "../../engine/pipeline/message.js";
import { SecretValue } from "../../engine/secrets/value.js";
import type { SinkDelivery, SourceEnv } from "../../engine/worker/flow/types.js";

export interface TestEnvOptions {
  tenant?: string;
  integration?: string;
  replica?: number;
  connection?: NatsConnection;
  secrets?: Record<string, string>;
  allowPrivateNetworks?: boolean;
  /** Give the env an onConnection (default true). */
  onConnection?: boolean;
}

export interface TestSourceEnv extends SourceEnv {
  logs: Array<{ event: string; fields?: Record<string, unknown> }>;
  failures: unknown[];
  /** Swaps the connection and tells the listeners (as a worker does on a renewal). */
  setConnection(nc: NatsConnection | undefined): void;
}

export function testEnv(o: TestEnvOptions = {}): TestSourceEnv {
  let nc = o.connection;
  let writer: { nc: NatsConnection; w: IngestWriter } | undefined;
  const tenant = o.tenant ?? "acme";
  const integration = o.integration ?? "feed";
  const listeners = new Set<() => void>();
  const env: TestSourceEnv = {
    tenant,
    integration,
    replica: o.replica ?? 0,
    replicas: 1,
    worker: "w-test",
    allowPrivateNetworks: o.allowPrivateNetworks ?? false,
    logs: [],
    failures: [],
    connection: () => nc,
    async secret(name) {
      const v = o.secrets?.[name];
      if (v === undefined) throw new VrskyError("VRS_SECRET_MISSING", `tenant ${tenant} has no secret '${name}'`);
      return new SecretValue(new TextEncoder().encode(v));
    },
    log(event, fields) {
      env.logs.push({ event, ...(fields ? { fields } : {}) });
    },
    ingest() {
      if (!nc || nc.isClosed()) return undefined;
      if (writer?.nc !== nc) writer = { nc, w: new IngestWriter(nc, integrationStreams(tenant, integration)) };
      return writer.w;
    },
    reportFailure(error) {
      env.failures.push(error);
    },
    setConnection(next) {
      nc = next;
      for (const l of listeners) l();
    },
  };
  if (o.onConnection ?? true)
    env.onConnection = (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    };
  return env;
}

/** A JSON message as a sink gets it. */
export function jsonMessage(id: string, body: Message["body"], contentType = "application/json"): Message {
  return {
    id,
    body,
    contentType,
    headers: {},
    attributes: { id, source: "http", receivedAt: new Date().toISOString() },
  };
}

export function delivery(message: Message, signal: AbortSignal = new AbortController().signal): SinkDelivery {
  return { message, idempotencyKey: message.id, signal };
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** An HTTP server on loopback (both families), port 0, that records requests and answers with `handler`. */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  connections = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private handler: (req: ReceivedRequest, res: ServerResponse) => void = (_q, r) => r.end("ok")) {}

  answer(handler: (req: ReceivedRequest, res: ServerResponse) => void): void {
    this.handler = handler;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const r = {
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        };
        this.requests.push(r);
        this.handler(r, res);
      });
    });
    server.on("connection", (s: Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, "::", resolve));
    this.server = server;
    return this;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  url(path = "/hook", host = "127.0.0.1"): string {
    return `http://${host}:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}

/** A loopback port that nothing listens on (was free a moment ago). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
