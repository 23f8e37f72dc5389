/**
 * The trace of one message as `vrsky trace` shows it (docs/cli.md documents the JSON): one run per pass through the
 * ingest stream, each with its state and its events in time order, assembled from what findTrace (traces.ts) read.
 * Pure.
 */
import type { DeadLetterContext, TraceEvent, TraceEventKind } from "../contract/dataplane.js";
import type { TraceFindings } from "./traces.js";

export type RunState = "pending" | "processing" | "retrying" | "delivered" | "filtered" | "dead";

export interface TraceRun {
  /** Sequence in the ingest stream; null for a dead letter that does not say it. */
  ingestSeq: number | null;
  state: RunState;
  receivedAt: string | null;
  revision: string | null;
  worker: string | null;
  attempts: number | null;
  /** The de-duplication id while it is in the ingest stream, when it is not the message id (a replay). */
  storedAs?: string;
  /** A replay to these sinks only. */
  replaySinks?: string[];
  /** Its dead letter, while it is kept. */
  deadLetter: {
    seq: number;
    storedAt: string;
    at: DeadLetterContext["at"] | null;
    code: string | null;
    error: string | null;
    httpStatus: number | null;
  } | null;
  events: TraceEvent[];
}

export interface MessageTrace {
  formatVersion: 1;
  tenant: string;
  integration: string;
  messageId: string;
  /** Trace records were read from this time on. */
  since: string;
  runs: TraceRun[];
}

const ORDER: Record<TraceEventKind, number> = {
  received: 0,
  processing: 1,
  retrying: 2,
  delivered: 3,
  filtered: 3,
  dead: 4,
};

export function assembleTrace(tenant: string, integration: string, f: TraceFindings): MessageTrace {
  const runs = new Map<number | null, TraceRun>();
  const run = (seq: number | null): TraceRun => {
    let r = runs.get(seq);
    if (!r) {
      r = {
        ingestSeq: seq,
        state: "pending",
        receivedAt: null,
        revision: null,
        worker: null,
        attempts: null,
        deadLetter: null,
        events: [],
      };
      runs.set(seq, r);
    }
    return r;
  };
  const final = new Map<number | null, RunState>();
  for (const p of f.pending) {
    const r = run(p.ingestSeq);
    r.receivedAt ??= p.receivedAt ?? p.storedAt;
    if (p.storedAs !== f.messageId) r.storedAs = p.storedAs;
    if (p.replaySinks) r.replaySinks = p.replaySinks;
    r.state = p.delivered ? "processing" : "pending";
  }
  for (const [seq, rec] of f.records) {
    const r = run(seq);
    r.receivedAt = rec.receivedAt ?? r.receivedAt;
    r.revision = rec.revision ?? null;
    r.worker = rec.worker ?? null;
    r.attempts = rec.attempts ?? null;
    r.events.push(...(Array.isArray(rec.events) ? rec.events : []));
    const last = rec.events?.[rec.events.length - 1]?.kind;
    if (last === "dead" || last === "delivered" || last === "filtered") final.set(seq, last);
    else if (!final.has(seq)) r.state = "retrying";
  }
  for (const c of f.completions) {
    const r = run(c.ingestSeq);
    r.receivedAt = c.receivedAt ?? r.receivedAt;
    r.worker ??= c.worker || null;
    r.revision ??= c.revision || null;
    r.events.push(...(Array.isArray(c.events) ? c.events : []));
    final.set(c.ingestSeq, c.outcome);
  }
  for (const dl of f.deadLetters) {
    const c = dl.context;
    const seq = typeof c?.ingestSeq === "number" ? c.ingestSeq : null;
    const r = run(seq);
    r.deadLetter = {
      seq: dl.seq,
      storedAt: dl.storedAt,
      at: c?.at ?? null,
      code: c?.code ?? null,
      error: c?.error ?? null,
      httpStatus: c?.httpStatus ?? null,
    };
    r.revision ??= c?.revision ?? null;
    r.attempts ??= c?.attempts ?? null;
    if (!r.events.some((e) => e.kind === "dead"))
      r.events.push({
        kind: "dead",
        at: c?.deadAt ?? dl.storedAt,
        ...(c?.at ? { where: c.at.name ?? `${c.at.role} ${c.at.index}` } : {}),
        ...(c?.attempts !== undefined ? { attempt: c.attempts } : {}),
        ...(c?.code ? { code: c.code } : {}),
        ...(c?.error ? { error: c.error } : {}),
        ...(c?.httpStatus !== undefined ? { httpStatus: c.httpStatus } : {}),
      });
    final.set(seq, "dead");
  }
  for (const [seq, state] of final) run(seq).state = state;
  for (const r of runs.values()) {
    if (r.receivedAt && !r.events.some((e) => e.kind === "received"))
      r.events.push({ kind: "received", at: r.receivedAt });
    r.events = dedupe(r.events).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : ORDER[a.kind] - ORDER[b.kind]));
    // A record is written on failed attempts only: a completion's later attempt (delivered on the 3rd) counts too.
    for (const e of r.events)
      if (typeof e.attempt === "number" && e.attempt > (r.attempts ?? 0)) r.attempts = e.attempt;
  }
  const list = [...runs.values()].sort(
    (a, b) => (a.ingestSeq ?? Number.MAX_SAFE_INTEGER) - (b.ingestSeq ?? Number.MAX_SAFE_INTEGER),
  );
  return { formatVersion: 1, tenant, integration, messageId: f.messageId, since: f.since, runs: list };
}

function dedupe(events: TraceEvent[]): TraceEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    if (!e || typeof e.kind !== "string" || typeof e.at !== "string") return false;
    const k = `${e.kind}|${e.at}|${e.where ?? ""}|${e.attempt ?? ""}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
