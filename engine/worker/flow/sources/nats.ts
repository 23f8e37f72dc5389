/**
 * The `nats` source without `stream` at run time: a core subscription to `subject` in the tenant's account, in the
 * queue group `queue` (default: the integration's consumer name, so that the replicas share the messages), that
 * persists every message into the integration's ingest stream. With `stream` the replicas consume that stream
 * directly and no source runtime runs.
 *
 * Core NATS is at most once: a message that cannot be persisted (no connection, the stream full or down, more than
 * MAX_IN_FLIGHT writes plus MAX_BACKLOG waiting) is lost; it is counted and logged, without its payload. A request
 * (a message with a reply subject) is answered, with an empty reply, only once its write succeeded, so a requester
 * knows it is stored. The subscription follows the replica's tenant connection: when it changes, the source
 * subscribes on the new one.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { integrationStreams } from "../../../contract/dataplane.js";
import { errorMessage } from "../../../errors/errors.js";
import type { SourceEnv, SourceFactory, SourceRuntime } from "../types.js";
import { envelopeOf, isEngineSubject } from "./nats-envelope.js";

/** Writes to the ingest stream at once, at most. */
export const MAX_IN_FLIGHT = 256;
/** Messages waiting for a write slot, at most; beyond, a message is lost. */
export const MAX_BACKLOG = 4096;
/** How often the source compares its subscription's connection with the current one (also with onConnection). */
const CHECK_MS = 1_000;
/** At most one "lost" log line per this long (with the count since the last). */
const LOST_LOG_MS = 5_000;

export const natsSource: SourceFactory = async (config, env) => {
  if (typeof config.stream === "string" && config.stream !== "") return { stop: async () => undefined };
  if (typeof config.subject !== "string" || config.subject === "") throw new Error("the nats source has no subject");
  const names = integrationStreams(env.tenant, env.integration);
  const queue = typeof config.queue === "string" && config.queue !== "" ? config.queue : names.consumer;
  const source = new NatsSubjectSource(config.subject, queue, names.prefix, env);
  source.start();
  return source;
};

export interface NatsSourceCounters {
  persisted: number;
  lost: number;
  skipped: number;
  subscriptions: number;
}

export class NatsSubjectSource implements SourceRuntime {
  readonly counters: NatsSourceCounters = { persisted: 0, lost: 0, skipped: 0, subscriptions: 0 };
  private current: { nc: NatsConnection; sub: Subscription } | undefined;
  private stopping = false;
  private failed = false;
  private inFlight = 0;
  private readonly backlog: Msg[] = [];
  private idle: Array<() => void> = [];
  private check: NodeJS.Timeout | undefined;
  private unlisten: (() => void) | undefined;
  private lostSinceLog = 0;
  private lastLostLog = 0;

  constructor(
    readonly subject: string,
    readonly queue: string,
    private readonly prefix: string,
    private readonly env: SourceEnv,
  ) {}

  start(): void {
    this.unlisten = this.env.onConnection?.(() => this.follow());
    this.check = setInterval(() => this.follow(), CHECK_MS);
    this.follow();
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.drained();
    this.stopping = true;
    clearInterval(this.check);
    this.unlisten?.();
    this.unsubscribe();
    await this.drained();
  }

  /** Subscribes on the current connection when the subscription is not on it (or there is none). */
  private follow(): void {
    if (this.stopping || this.failed) return;
    const nc = this.env.connection();
    const usable = nc !== undefined && !nc.isClosed() && !nc.isDraining();
    if (this.current && this.current.nc === nc && usable && !this.current.sub.isClosed()) return;
    this.unsubscribe();
    if (!usable) return;
    try {
      const sub = nc.subscribe(this.subject, {
        queue: this.queue,
        callback: (err, msg) => (err ? this.subscriptionFailed(sub, err) : this.onMessage(msg)),
      });
      this.current = { nc, sub };
      this.counters.subscriptions++;
      void sub.closed.then((err) => {
        if (err) this.subscriptionFailed(sub, err);
      });
      this.env.log("nats-source-subscribed", { subject: this.subject, queue: this.queue });
    } catch (e) {
      this.subscriptionFailed(undefined, e);
    }
  }

  private subscriptionFailed(sub: Subscription | undefined, err: unknown): void {
    if (this.stopping || this.failed || (sub && this.current?.sub !== sub)) return;
    this.failed = true;
    this.env.log("nats-source-failed", { subject: this.subject, error: errorMessage(err) });
    this.env.reportFailure(err);
  }

  private unsubscribe(): void {
    const old = this.current;
    this.current = undefined;
    if (!old || old.nc.isClosed() || old.sub.isClosed()) return;
    try {
      old.sub.unsubscribe();
    } catch {
      // the connection went away meanwhile: nothing to undo
    }
  }

  private onMessage(msg: Msg): void {
    if (this.stopping) return;
    if (isEngineSubject(msg.subject, this.prefix)) {
      this.counters.skipped++;
      return;
    }
    if (this.inFlight < MAX_IN_FLIGHT) this.run(msg);
    else if (this.backlog.length < MAX_BACKLOG) this.backlog.push(msg);
    else this.lose(msg.subject, "too many messages waiting to be persisted");
  }

  private run(msg: Msg): void {
    this.inFlight++;
    void this.persist(msg).finally(() => {
      this.inFlight--;
      const next = this.backlog.shift();
      if (next) this.run(next);
      else if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    });
  }

  private async persist(msg: Msg): Promise<void> {
    const writer = this.env.ingest();
    if (!writer) return this.lose(msg.subject, "no connection to the ingest stream");
    let id: string | undefined;
    try {
      const envelope = envelopeOf(msg, new Date());
      id = envelope.id;
      await writer.write(envelope);
      this.counters.persisted++;
      if (msg.reply) msg.respond();
    } catch (e) {
      this.lose(msg.subject, errorMessage(e), id);
    }
  }

  private lose(subject: string, reason: string, id?: string): void {
    this.counters.lost++;
    this.lostSinceLog++;
    const now = Date.now();
    if (now - this.lastLostLog < LOST_LOG_MS) return;
    this.env.log("nats-source-lost", {
      subject,
      ...(id !== undefined ? { id } : {}),
      reason,
      lost: this.lostSinceLog,
      lostTotal: this.counters.lost,
    });
    this.lastLostLog = now;
    this.lostSinceLog = 0;
  }

  private drained(): Promise<void> {
    if (this.inFlight === 0 && this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
