/**
 * Replaying a dead letter: its original message goes back into the integration's ingest stream with its payload and
 * headers (a large body keeps its object-store reference), under a new de-duplication id `<id>~replay-<dead-letter
 * seq>` and with `Vrsky-Message-Id: <id>`, so every sink sees the same idempotency key; optionally only to the
 * sinks that failed (`Vrsky-Replay-Sinks`). The dead letter is deleted once JetStream acknowledged the replay. A
 * second replay of the same dead letter within the ingest stream's de-duplication window is stored once.
 */
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { HEADERS } from "../contract/dataplane.js";
import type { Code } from "../errors/codes.js";
import { errorMessage } from "../errors/errors.js";
import type { DeadLetter, DeadLetters } from "./dead-letters.js";
import { classifyIngestError } from "./ingest.js";

export interface ReplayResult {
  /** The dead letter's sequence. */
  seq: number;
  messageId: string;
  /** The de-duplication id the replay was stored under. */
  replayId: string;
  /** `duplicate`: a replay of this dead letter was stored before, within the de-duplication window (stored once). */
  outcome: "replayed" | "duplicate" | "failed";
  /** Sequence of the replay in the ingest stream. */
  ingestSeq?: number;
  /** The sinks it goes to; null for every sink. */
  sinks: string[] | null;
  /** Whether the dead letter was deleted (after the replay was acknowledged). */
  deleted: boolean;
  error?: { code: Code; message: string };
}

export interface ReplayOptions {
  /** Only to the sinks that failed (the dead letter's `failedSinks`); every sink when none is named. */
  onlyFailed?: boolean;
}

/** Names of headers never copied into a replay: JetStream's own, and the ones a replay sets anew. */
function dropped(name: string): boolean {
  return /^Nats-/i.test(name) || name === HEADERS.messageId || name === HEADERS.replaySinks;
}

export function replayId(messageId: string, seq: number): string {
  return `${messageId}~replay-${seq}`;
}

/** The headers of the replay of a dead letter whose message is ours (`dl.message` set). */
export function replayHeaders(dl: DeadLetter, sinks: string[] | null): MsgHdrs {
  const h = natsHeaders();
  for (const [name, value] of dl.headers) if (!dropped(name)) h.append(name, value);
  h.set(HEADERS.id, replayId(dl.message!.id, dl.seq));
  h.set(HEADERS.messageId, dl.message!.id);
  if (sinks) h.set(HEADERS.replaySinks, sinks.join(","));
  return h;
}

/** Replays dead letters of one integration over one connection. */
export class Replayer {
  private readonly js: JetStreamClient;

  constructor(
    private readonly dls: DeadLetters,
    private readonly o: ReplayOptions = {},
  ) {
    this.js = jetstream(dls.nc, { timeout: 10_000 });
  }

  /** Replays one dead letter (read with its payload) and deletes it; never throws for the message's own faults. */
  async replay(dl: DeadLetter): Promise<ReplayResult> {
    const failed = this.o.onlyFailed ? (dl.context?.failedSinks ?? []) : [];
    const sinks = failed.length > 0 ? [...failed] : null;
    const base = { seq: dl.seq, messageId: dl.messageId, sinks, deleted: false };
    if (!dl.message)
      return {
        ...base,
        replayId: "",
        outcome: "failed",
        error: { code: "VRS_DEAD_LETTER_NOT_FOUND", message: `dead letter ${dl.seq} holds no message VRSky wrote` },
      };
    const id = replayId(dl.message.id, dl.seq);
    if (dl.payloadRef && !(await this.bodyExists(dl.payloadRef)))
      return {
        ...base,
        replayId: id,
        outcome: "failed",
        error: {
          code: "VRS_PAYLOAD_MISSING",
          message: `the body of dead letter ${dl.seq} (object ${dl.payloadRef}) is gone from ${this.dls.streams.objectStore}`,
        },
      };
    let ack;
    try {
      ack = await this.js.publish(this.dls.streams.ingestSubject, dl.payload, {
        msgID: id,
        headers: replayHeaders(dl, sinks),
        expect: { streamName: this.dls.streams.ingest },
      });
    } catch (e) {
      const f = classifyIngestError(e);
      const code: Code = f.kind === "full" ? "VRS_STREAM_LIMITS" : "VRS_NATS_UNAVAILABLE";
      return { ...base, replayId: id, outcome: "failed", error: { code, message: `cannot replay: ${f.message}` } };
    }
    let deleted = false;
    try {
      deleted = await this.dls.delete(dl.seq);
    } catch (e) {
      return {
        ...base,
        replayId: id,
        outcome: ack.duplicate ? "duplicate" : "replayed",
        ingestSeq: ack.seq,
        error: { code: "VRS_NATS_UNAVAILABLE", message: `replayed, but the dead letter stays: ${errorMessage(e)}` },
      };
    }
    return { ...base, replayId: id, outcome: ack.duplicate ? "duplicate" : "replayed", ingestSeq: ack.seq, deleted };
  }

  private async bodyExists(ref: string): Promise<boolean> {
    try {
      const store = await new Objm(this.dls.nc).open(this.dls.streams.objectStore);
      return (await store.info(ref)) !== null;
    } catch {
      return false;
    }
  }
}
