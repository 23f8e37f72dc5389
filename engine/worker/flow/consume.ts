/**
 * The pull loop of a replica on its integration's shared durable consumer, with at most `maxInFlight` messages
 * held unacknowledged: it waits for a free slot, then fetches no more messages than there are free slots (a slow
 * sink slows consumption; memory stays bounded), and hands each message to `handle` without waiting for it, so
 * that one failing message never blocks the others. An idle replica has one pull request open (renewed every
 * `expiresMs`) and no timer.
 *
 * The tenant connection can change (renewed credentials, other servers): `attach` moves the loop to the new one;
 * messages taken on the old one finish there. `drain` stops pulling, lets in-flight messages finish until shortly
 * before the deadline and then hands back (nak, redelivered at once) what is unfinished; `stop` hands everything
 * back at once. A message handed back has its signal aborted first, so that its sinks give up and its progress is
 * recorded; one whose handler does not come back in time is nak'ed regardless.
 */
import {
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  type Consumer,
  type ConsumerMessages,
  type JsMsg,
} from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { setMaxListeners } from "node:events";
import { IN_PROGRESS_EVERY_MS } from "../../contract/dataplane.js";
import { errorMessage, VrskyError } from "../../errors/errors.js";
import { endOfTurn } from "../../util/end-of-turn.js";
import { Payloads } from "./payloads.js";
import type { TraceLink } from "./traces.js";

/** The tenant connection a message came on, with what the runtime uses on it. */
export interface Link extends TraceLink {
  nc: NatsConnection;
  payloads: Payloads;
}

/** A message held unacknowledged by the replica. */
export interface InFlight {
  readonly msg: JsMsg;
  readonly link: Link;
  /**
   * Aborted when the run stops or a drain runs out of time: sinks give up, the message is handed back. One signal
   * for all the messages of the loop (they are only ever handed back together; a signal per message cost 7% of a
   * busy replica's CPU).
   */
  readonly signal: AbortSignal;
  /** Acked, nak'ed or dead-lettered: nothing more is done with it. */
  settled: boolean;
  /** When it was taken or last reported in progress (`Date.now()`). */
  aliveAt: number;
}

/** How long a handler may take to hand its message back after its signal was aborted. */
const HANDBACK_GRACE_MS = 300;
/** Pull errors in a row after which the run reports a failure (the worker restarts it). */
const MAX_PULL_FAILURES = 5;
/**
 * The first pulls on a consumer (new, or on a new connection) wait at most this long: on a busy cluster a pull made
 * right after its consumer was created can be lost (no messages, no idle heartbeats) and the client notices only
 * after two missed heartbeats, 30 s for a 30 s pull; a 2 s pull has 1 s heartbeats, so a lost one costs seconds.
 */
export const FIRST_PULL_EXPIRES_MS = 2_000;
/** How many pulls are short after the consumer was (re)attached. */
export const FIRST_PULLS = 3;

export interface ConsumeOptions {
  /** The stream the consumer reads (the ingest stream, or a `nats` source's own stream). */
  stream: string;
  consumer: string;
  objectStore: string;
  maxInFlight: number;
  /** How long one pull request waits for messages (default 30 s). */
  expiresMs?: number;
  /** A message held this long is reported in progress (default IN_PROGRESS_EVERY_MS; tests shorten it). */
  inProgressEveryMs?: number;
  /** Processes and settles one message. */
  handle: (f: InFlight) => Promise<void>;
  reportFailure: (error: unknown) => void;
  log: (event: string, fields?: Record<string, unknown>) => void;
}

export function makeLink(nc: NatsConnection, objectStore: string): Link {
  return {
    nc,
    js: jetstream(nc, { timeout: 5_000 }),
    jsm: jetstreamManager(nc, { checkAPI: false, timeout: 5_000 }),
    payloads: new Payloads(nc, objectStore),
  };
}

/** The consumer exists (the reconciler made the streams); VRS_STREAMS_NOT_READY (class wait) when not. */
export async function checkConsumer(nc: NatsConnection, stream: string, consumer: string): Promise<void> {
  try {
    await (await jetstreamManager(nc)).consumers.info(stream, consumer);
  } catch (e) {
    if (e instanceof JetStreamApiError && (e.code === 10014 || e.code === 10059)) {
      throw new VrskyError(
        "VRS_STREAMS_NOT_READY",
        `the consumer ${consumer} of stream ${stream} does not exist yet: ${errorMessage(e)}`,
      );
    }
    throw e;
  }
}

export class ConsumerLoop {
  private link: Link | undefined;
  private consumer: { link: Link; c: Consumer } | undefined;
  /** Pulls left that wait only FIRST_PULL_EXPIRES_MS (set when the consumer is looked up on a link). */
  private shortPullsLeft = 0;
  private iter: ConsumerMessages | undefined;
  private readonly inFlight = new Set<InFlight>();
  private readonly handlers = new Set<Promise<void>>();
  private wake: (() => void) | undefined;
  private pulling = false;
  private loop: Promise<void> = Promise.resolve();
  private halting: Promise<void> | undefined;
  /** Messages that arrived after the loop stopped pulling: handed back once the pull request is forgotten. */
  private readonly late: JsMsg[] = [];
  /** Aborted when the messages held are handed back (every in-flight HTTP request listens: no listener limit). */
  private readonly abort = unlimited(new AbortController());
  /** Messages taken in this turn of the event loop, handled together at its end (see `take`). */
  private starting: InFlight[] = [];
  /** Reports the messages held in progress while the loop runs (see reportInProgress). */
  private keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly o: ConsumeOptions) {}

  /** Messages held now. */
  get held(): number {
    return this.inFlight.size;
  }

  /** The connection of the moment (trace batches, counters). */
  current(): Link | undefined {
    return this.link;
  }

  /** Uses `nc` from now on (the first connection, or a new one of the tenant session). */
  attach(nc: NatsConnection): void {
    if (this.link?.nc === nc) return;
    this.link = makeLink(nc, this.o.objectStore);
    if (this.iter) void endPull(this.iter, 1_000);
    this.poke();
  }

  start(): void {
    this.pulling = true;
    this.loop = this.run();
    const every = this.o.inProgressEveryMs ?? IN_PROGRESS_EVERY_MS;
    this.keepAlive = setInterval(() => this.reportInProgress(every), every / 3);
    this.keepAlive.unref();
  }

  /**
   * Messages held for IN_PROGRESS_EVERY_MS are reported in progress, so that the consumer's short ack wait
   * (ACK_WAIT_MS) sends again only the messages of a replica that died, never those of a slow sink.
   */
  private reportInProgress(everyMs: number): void {
    const due = Date.now() - everyMs;
    for (const f of this.inFlight) {
      if (f.settled || f.aliveAt > due) continue;
      f.aliveAt = Date.now();
      quietly(() => f.msg.working());
    }
  }

  /** Stops pulling; resolves when in-flight messages are done, or handed back shortly before `deadlineMs`. */
  async drain(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    await this.halt(Math.min(1_000, deadlineMs / 4));
    const handBackAt = until - Math.min(1_000, deadlineMs / 4);
    await withDeadline(this.settled(), Math.max(0, handBackAt - Date.now()));
    await this.handBackAll(
      Math.max(0, Math.min(HANDBACK_GRACE_MS, until - Date.now())),
      Math.max(50, Math.min(500, until - Date.now())),
    );
  }

  /** Stops pulling and hands every message back; quick. */
  async stop(): Promise<void> {
    await this.halt(500);
    await this.handBackAll(HANDBACK_GRACE_MS);
  }

  /**
   * Stops pulling: ends the pull (see endPull), then makes the server forget it before any message is handed back.
   * nats-server 2.9 keeps a pull request whose subscriber went away until it expires, and a redelivered (nak'ed)
   * message sent to it is lost until its ack wait, while the server sends another message a second time instead.
   * A consumer-info request drops such requests; a new pull request (the next holder's) does too.
   */
  private halt(ms: number): Promise<void> {
    return (this.halting ??= (async () => {
      this.pulling = false;
      this.poke();
      if (this.iter) await endPull(this.iter, ms);
      await withDeadline(this.loop, ms);
      const link = this.link;
      if (link) {
        const forget = async () => {
          await link.nc.flush();
          await (await link.jsm).consumers.info(this.o.stream, this.o.consumer);
        };
        await withDeadline(forget(), ms);
      }
      for (const m of this.late.splice(0)) quietly(() => m.nak());
    })());
  }

  private async handBackAll(graceMs: number, flushMs = 500): Promise<void> {
    clearInterval(this.keepAlive);
    this.abort.abort();
    await withDeadline(this.settled(), graceMs);
    const links = new Set<Link>(this.link ? [this.link] : []);
    for (const f of this.inFlight) {
      links.add(f.link);
      if (f.settled) continue;
      f.settled = true;
      quietly(() => f.msg.nak());
    }
    // The naks leave before the connection may close (the session is released after a stop).
    await withDeadline(Promise.all([...links].map((l) => l.nc.flush())), flushMs);
  }

  /** Resolves when every message taken so far has been handled (those waiting for their turn included). */
  private async settled(): Promise<void> {
    if (this.starting.length > 0) await new Promise<void>((r) => setImmediate(r));
    await Promise.all([...this.handlers]);
    // Their acks are put off to the end of the turn: in the connection's buffer before anyone flushes it.
    await endOfTurn();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves when poked (a slot freed, a new connection, a halt) or after `ms`. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.pulling) {
      const free = this.o.maxInFlight - this.inFlight.size;
      const link = this.link;
      // Pull in batches: with messages in flight, wait until a quarter of the slots are free (a pull per freed
      // slot would cost a pull request, and a subscription, per message at saturation).
      const batch = this.inFlight.size === 0 ? 1 : Math.max(1, Math.ceil(this.o.maxInFlight / 4));
      if (free < batch || !link) {
        await this.pause(60_000);
        continue;
      }
      try {
        const c = await this.consumerOn(link);
        if (!this.pulling || this.link !== link) continue;
        const began = Date.now();
        let taken = 0;
        const expiresMs = this.o.expiresMs ?? 30_000;
        const short = this.shortPullsLeft > 0;
        if (short) this.shortPullsLeft--;
        const iter = await c.fetch({
          max_messages: free,
          expires: short ? Math.min(FIRST_PULL_EXPIRES_MS, expiresMs) : expiresMs,
        });
        this.iter = iter;
        if (!this.pulling || this.link !== link) void endPull(iter, 1_000);
        for await (const m of iter) {
          taken++;
          this.take(m, link);
        }
        failures = 0;
        // A pull that ended at once with nothing (a status the client ends on quietly): no hot loop.
        if (taken === 0 && Date.now() - began < 500 && this.pulling && this.link === link) await this.pause(1_000);
      } catch (e) {
        if (!this.pulling) break;
        failures++;
        this.consumer = undefined;
        const gone = e instanceof JetStreamApiError && (e.code === 10014 || e.code === 10059);
        this.o.log("flow-pull-failed", { error: errorMessage(e), failures });
        if (gone || failures >= MAX_PULL_FAILURES) {
          this.o.reportFailure(
            gone
              ? new VrskyError("VRS_STREAMS_NOT_READY", `the consumer ${this.o.consumer} is gone: ${errorMessage(e)}`)
              : e,
          );
          this.pulling = false;
          break;
        }
        await this.pause(Math.min(5_000, 500 * 2 ** failures));
      } finally {
        this.iter = undefined;
      }
    }
  }

  private async consumerOn(link: Link): Promise<Consumer> {
    if (this.consumer?.link === link) return this.consumer.c;
    const c = await link.js.consumers.get(this.o.stream, this.o.consumer);
    this.consumer = { link, c };
    this.shortPullsLeft = FIRST_PULLS;
    return c;
  }

  /**
   * A message from the pull: held, and handled at the end of this turn of the event loop together with the others
   * the same read brought (their sink publishes then leave in one socket write instead of one each); handed back
   * at once when the loop stopped pulling.
   */
  private take(m: JsMsg, link: Link): void {
    if (!this.pulling) {
      this.late.push(m);
      return;
    }
    const f: InFlight = { msg: m, link, signal: this.abort.signal, settled: false, aliveAt: Date.now() };
    this.inFlight.add(f);
    if (this.starting.push(f) === 1) setImmediate(() => this.startTaken());
  }

  private startTaken(): void {
    const taken = this.starting;
    this.starting = [];
    for (const f of taken) {
      // Handed back (nak'ed) before its turn came: nothing more to do.
      if (f.settled) this.inFlight.delete(f);
      else this.handlers.add(this.handleOne(f));
    }
    this.poke();
  }

  private handleOne(f: InFlight): Promise<void> {
    const h: Promise<void> = this.o
      .handle(f)
      .catch((e: unknown) => {
        this.o.log("flow-message-failed", { seq: f.msg.seq, error: errorMessage(e) });
        if (!f.settled) {
          f.settled = true;
          quietly(() => f.msg.nak(1_000));
        }
      })
      .finally(() => {
        this.inFlight.delete(f);
        this.handlers.delete(h);
        this.poke();
      });
    return h;
  }
}

/**
 * Ends a pull without losing a message on the way: the subscription is drained first (the server stops sending to
 * it, and what it had sent arrives and is yielded: the loop holds or hands it back), then the iterator stops. A
 * plain stop unsubscribes at once, and a message already on the wire would wait for its ack wait.
 */
async function endPull(iter: ConsumerMessages, ms: number): Promise<void> {
  const sub = (iter as unknown as { sub?: Subscription }).sub;
  if (sub && !sub.isClosed()) await withDeadline(sub.drain(), ms);
  iter.stop();
}

function unlimited(c: AbortController): AbortController {
  setMaxListeners(0, c.signal);
  return c;
}

/** An ack or nak on a connection that has closed meanwhile (the message is redelivered after its ack wait). */
function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // the connection is closed
  }
}

/** Resolves when `p` settles or after `ms`, whichever comes first. */
export function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((r) => (timer = setTimeout(r, ms))),
  ]).finally(() => clearTimeout(timer));
}
