/**
 * Helpers of the gateway tests: integration manifests with an `http` source, HTTP requests on a client of their
 * own (closed after the file), and what an ingest stream holds.
 */
import { Readable } from "node:stream";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Agent, request } from "undici";
import { readIngest, type StoredMessage } from "../../engine/dataplane/wire.js";

/** An integration manifest with an `http` source of this config (JSON is YAML) and one nats sink. */
export function webhookYaml(tenant: string, name: string, config: Record<string, unknown>): string {
  return (
    `apiVersion: vrsky.io/v1\nkind: Integration\nmetadata:\n  name: ${name}\n  tenant: ${tenant}\nspec:\n` +
    `  source:\n    type: http\n    config: ${JSON.stringify(config)}\n` +
    `  sinks:\n    - name: out\n      type: nats\n      config:\n        subject: out.${name}\n`
  );
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): Record<string, unknown>;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Sent without a Content-Length, chunk by chunk. */
  chunks?: Buffer[];
}

/** HTTP requests to the gateway, on a client that `close` ends. */
export class WebhookClient {
  private readonly agent = new Agent({ connections: 8, pipelining: 0 });

  async send(url: string, o: SendOptions = {}): Promise<Answer> {
    const body = o.chunks ? Readable.from(o.chunks) : o.body;
    const r = await request(url, {
      method: (o.method ?? "POST") as "POST",
      headers: o.headers ?? {},
      ...(body !== undefined ? { body } : {}),
      dispatcher: this.agent,
    });
    const text = await r.body.text();
    return {
      status: r.statusCode,
      headers: r.headers,
      text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Every message in a stream, as the worker would read it (with its sequence). */
export async function storedMessages(
  nc: NatsConnection,
  stream: string,
): Promise<Array<StoredMessage & { seq: number }>> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(stream);
  const out: Array<StoredMessage & { seq: number }> = [];
  if (state.messages === 0) return out;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push({ ...readIngest(m.header, m.data), seq });
  }
  return out;
}

/** How many messages a stream holds. */
export async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
}
