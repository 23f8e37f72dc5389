/**
 * The `nats` sink at run time: publishes the message's body as bytes to `subject` in the tenant's own account, on
 * the replica's tenant connection of the moment (it moves with renewals and server changes, so it is asked for on
 * every delivery). Headers: `Content-Type`, then the config's `headers`, and `Nats-Msg-Id` = the message id.
 *
 * Core NATS (`jetstream: false`): a publish without flush; ok once handed to the connection (at most once beyond
 * it). JetStream (`jetstream: true`): the publish waits for the stream's acknowledgement, with the message id as
 * the de-duplication id, so a redelivered message is stored once (a `duplicate` acknowledgement is success).
 * No connection, no stream for the subject, a timeout or a JetStream refusal: VRS_SINK_UNAVAILABLE (retried); a
 * body larger than the server takes: VRS_SINK_REJECTED.
 */
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { errorMessage } from "../../../errors/errors.js";
import { encodeBody } from "../../../pipeline/codec.js";
import type { FlowEnv, SinkDelivery, SinkFactory, SinkOutcome, SinkRuntime } from "../types.js";

/** How long a JetStream publish waits for its acknowledgement. */
export const NATS_SINK_ACK_TIMEOUT_MS = 5_000;

interface NatsSinkConfig {
  subject: string;
  jetstream: boolean;
  headers: Record<string, string>;
}

export const natsSink: SinkFactory = async (config, env) => {
  if (typeof config.subject !== "string" || config.subject === "") throw new Error("the nats sink has no subject");
  const c: NatsSinkConfig = {
    subject: config.subject,
    jetstream: config.jetstream === true,
    headers: config.headers && typeof config.headers === "object" ? (config.headers as Record<string, string>) : {},
  };
  return new NatsSinkRuntime(c, env);
};

class NatsSinkRuntime implements SinkRuntime {
  /** The JetStream client of the last connection used (a new connection gets a new client). */
  private js: { nc: NatsConnection; client: JetStreamClient } | undefined;

  constructor(
    private readonly c: NatsSinkConfig,
    private readonly env: FlowEnv,
  ) {}

  async send(d: SinkDelivery): Promise<SinkOutcome> {
    if (d.signal.aborted) return this.unavailable("delivery abandoned, the replica is stopping");
    const nc = this.env.connection();
    if (!nc || nc.isClosed() || nc.isDraining()) return this.unavailable("no connection to NATS");
    let payload: Uint8Array;
    let h: MsgHdrs;
    try {
      payload = encodeBody(d.message);
      h = this.headersOf(d);
    } catch (e) {
      return { ok: false, code: "VRS_SINK_REJECTED", error: `${this.c.subject}: ${errorMessage(e)}` };
    }
    try {
      if (!this.c.jetstream) {
        h.set("Nats-Msg-Id", d.idempotencyKey);
        nc.publish(this.c.subject, payload, { headers: h });
        return { ok: true };
      }
      // No wait on the stop signal here: a publish ends within its timeout, and a replica that stops hands its
      // messages back after a short grace regardless (a late acknowledgement is then dropped; the redelivery is
      // de-duplicated by the message id). A listener per message cost more than the publish itself.
      await this.client(nc).publish(this.c.subject, payload, {
        msgID: d.idempotencyKey,
        headers: h,
        timeout: NATS_SINK_ACK_TIMEOUT_MS,
      });
      return { ok: true };
    } catch (e) {
      return this.failure(e);
    }
  }

  async close(): Promise<void> {
    this.js = undefined;
  }

  private headersOf(d: SinkDelivery): MsgHdrs {
    const h = natsHeaders();
    h.set("Content-Type", d.message.contentType);
    for (const [k, v] of Object.entries(this.c.headers)) h.set(k, v);
    return h;
  }

  private client(nc: NatsConnection): JetStreamClient {
    if (this.js?.nc !== nc) this.js = { nc, client: jetstream(nc, { timeout: NATS_SINK_ACK_TIMEOUT_MS }) };
    return this.js.client;
  }

  private failure(e: unknown): SinkOutcome {
    const text = errorMessage(e);
    if (/max_payload|payload.*exceed/i.test(text))
      return { ok: false, code: "VRS_SINK_REJECTED", error: `${this.c.subject}: the message is too large for NATS` };
    const name = e instanceof Error ? e.name : "";
    // A publish nobody answers: the client reports it as JetStreamNotEnabled (no stream takes the subject).
    if (/NoResponders|JetStreamNotEnabled/i.test(name) || /no responders|not enabled|503/i.test(text))
      return this.unavailable(`no JetStream stream takes subject ${this.c.subject} (or JetStream is off)`);
    if (/Timeout/i.test(name) || /timeout|timed out/i.test(text))
      return this.unavailable(`JetStream did not acknowledge within ${NATS_SINK_ACK_TIMEOUT_MS} ms`);
    return this.unavailable(text);
  }

  private unavailable(why: string): SinkOutcome {
    return { ok: false, code: "VRS_SINK_UNAVAILABLE", error: `nats ${this.c.subject}: ${why}` };
  }
}
