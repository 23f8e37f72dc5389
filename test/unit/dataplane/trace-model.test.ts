import { expect } from "chai";
import { integrationStreams, type DeadLetterContext, type TraceRecord } from "../../../engine/contract/dataplane.js";
import type { DeadLetter } from "../../../engine/dataplane/dead-letters.js";
import { assembleTrace } from "../../../engine/dataplane/trace-model.js";
import type { TraceFindings } from "../../../engine/dataplane/traces.js";

function findings(o: Partial<TraceFindings> = {}): TraceFindings {
  return {
    streams: integrationStreams("acme", "orders"),
    messageId: "m-1",
    since: "2026-01-01T10:00:00.000Z",
    records: new Map(),
    completions: [],
    deadLetters: [],
    pending: [],
    ...o,
  };
}

function deadLetter(seq: number, ingestSeq: number): DeadLetter {
  const context = {
    messageId: "m-1",
    ingestSeq,
    at: { role: "sink", index: 0, name: "slack", type: "http" },
    code: "VRS_SINK_REJECTED",
    error: "400",
    httpStatus: 400,
    attempts: 1,
    revision: "r1",
    deadAt: "2026-01-02T10:00:01.000Z",
  } as DeadLetterContext;
  return {
    seq,
    storedAt: "2026-01-02T10:00:01.001Z",
    messageId: "m-1",
    context,
    message: null,
    headers: [],
    size: 0,
    payload: new Uint8Array(0),
  };
}

describe("dataplane: a message's trace assembled into runs", () => {
  it("one run per ingest sequence, in order; completion outcome wins; one dead event when both say it", () => {
    const record: TraceRecord = {
      format: "vrsky.io/trace/v1",
      messageId: "m-1",
      ingestSeq: 3,
      receivedAt: "2026-01-02T10:00:00.000Z",
      revision: "r1",
      worker: "w1",
      attempts: 1,
      deliveredSinks: [],
      events: [{ kind: "retrying", at: "2026-01-02T10:00:00.500Z", where: "slack", attempt: 1 }],
    };
    const t = assembleTrace(
      "acme",
      "orders",
      findings({
        records: new Map([[3, record]]),
        deadLetters: [deadLetter(1, 3)],
        completions: [
          {
            messageId: "m-1",
            ingestSeq: 3,
            receivedAt: "2026-01-02T10:00:00.000Z",
            outcome: "dead",
            events: [{ kind: "dead", at: "2026-01-02T10:00:01.000Z", where: "slack", attempt: 2 }],
            worker: "w1",
            revision: "r1",
          },
        ],
        pending: [{ ingestSeq: 9, storedAs: "m-1~replay-1", storedAt: "2026-01-02T11:00:00.000Z", delivered: false }],
      }),
    );
    expect(t.runs.map((r) => [r.ingestSeq, r.state])).to.deep.equal([
      [3, "dead"],
      [9, "pending"],
    ]);
    expect(t.runs[0]!.events.map((e) => e.kind)).to.deep.equal(["received", "retrying", "dead"]);
    expect(t.runs[0]!.deadLetter).to.deep.include({ seq: 1, code: "VRS_SINK_REJECTED" });
    expect(t.runs[1]).to.deep.include({ storedAs: "m-1~replay-1", receivedAt: "2026-01-02T11:00:00.000Z" });
  });

  it("a message delivered after retries counts the attempt that delivered it, not only the failed ones", () => {
    const record: TraceRecord = {
      format: "vrsky.io/trace/v1",
      messageId: "m-1",
      ingestSeq: 5,
      receivedAt: "2026-01-02T10:00:00.000Z",
      revision: "r1",
      worker: "w1",
      attempts: 2,
      deliveredSinks: [],
      events: [
        { kind: "retrying", at: "2026-01-02T10:00:00.100Z", where: "slack", attempt: 1 },
        { kind: "retrying", at: "2026-01-02T10:00:00.400Z", where: "slack", attempt: 2 },
      ],
    };
    const t = assembleTrace(
      "acme",
      "orders",
      findings({
        records: new Map([[5, record]]),
        completions: [
          {
            messageId: "m-1",
            ingestSeq: 5,
            receivedAt: "2026-01-02T10:00:00.000Z",
            outcome: "delivered",
            events: [{ kind: "delivered", at: "2026-01-02T10:00:01.000Z", where: "slack", attempt: 3 }],
            worker: "w1",
            revision: "r1",
          },
        ],
      }),
    );
    expect(t.runs.map((r) => [r.ingestSeq, r.state, r.attempts])).to.deep.equal([[5, "delivered", 3]]);
  });

  it("a record whose last event is a retry, still in the ingest stream: retrying; nothing found: no run", () => {
    const record = {
      format: "vrsky.io/trace/v1",
      messageId: "m-1",
      ingestSeq: 4,
      receivedAt: "2026-01-02T10:00:00.000Z",
      revision: "r1",
      worker: "w1",
      attempts: 2,
      deliveredSinks: ["0:archive"],
      events: [{ kind: "retrying", at: "2026-01-02T10:00:00.500Z" }],
    } as TraceRecord;
    const t = assembleTrace(
      "acme",
      "orders",
      findings({
        records: new Map([[4, record]]),
        pending: [{ ingestSeq: 4, storedAs: "m-1", storedAt: "2026-01-02T10:00:00.001Z", delivered: true }],
      }),
    );
    expect(t.runs.map((r) => [r.ingestSeq, r.state, r.attempts])).to.deep.equal([[4, "retrying", 2]]);
    expect(t.runs[0]).to.not.have.property("storedAs");
    expect(assembleTrace("acme", "orders", findings()).runs).to.deep.equal([]);
  });
});
