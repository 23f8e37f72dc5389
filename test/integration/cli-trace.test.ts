import { expect } from "chai";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { IntegrationStreams, TraceCompletion } from "../../engine/contract/dataplane.js";
import { cli } from "../helpers/cli.js";
import {
  deadLetterContext,
  envelope,
  REVISION,
  standUpIntegration,
  standUpTenant,
  traceRecord,
  writeDeadLetter,
  writeIngest,
  writeTraceBatch,
  writeTraceRecord,
} from "../helpers/dataplane-records.js";
import { useNats } from "../helpers/nats.js";

const T = "acme";
const NO_STACK = /\n\s+at /;

/** Another message's completion, in the same batch. */
function other(id: string, seq: number): TraceCompletion {
  return {
    messageId: id,
    ingestSeq: seq,
    receivedAt: "2026-01-02T09:59:00.000Z",
    outcome: "delivered",
    events: [{ kind: "delivered", at: "2026-01-02T09:59:00.050Z", where: "archive" }],
  };
}

describe("vrsky trace: what happened to one message, from the trace, dead-letter and ingest streams", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, resetBuckets: false });
  let nc: NatsConnection;
  let n = 0;
  let name: string;
  let s: IntegrationStreams;

  before(async () => {
    nc = await standUpTenant(fx, T);
  });
  beforeEach(async () => {
    name = `orders-${++n}`;
    s = await standUpIntegration(nc, T, name);
  });

  const trace = (id: string, ...args: string[]) =>
    cli("trace", id, "--tenant", T, "--integration", name, "--nats", fx.url, "--keys", fx.keys.dir, ...args);

  it("delivered after a retry: received → processing → retrying (attempt, code, http, error, next) → delivered per sink", async () => {
    await writeTraceRecord(
      nc,
      s,
      traceRecord("order-7", 42, {
        attempts: 1,
        events: [
          { kind: "received", at: "2026-01-02T10:00:00.000Z" },
          { kind: "processing", at: "2026-01-02T10:00:00.010Z" },
          {
            kind: "retrying",
            at: "2026-01-02T10:00:00.200Z",
            where: "slack",
            attempt: 1,
            code: "VRS_SINK_UNAVAILABLE",
            httpStatus: 503,
            error: "the receiver answered 503",
            retryAt: "2026-01-02T10:00:01.200Z",
          },
        ],
      }),
    );
    await writeTraceBatch(nc, s, [
      other("order-6", 41),
      {
        messageId: "order-7",
        ingestSeq: 42,
        receivedAt: "2026-01-02T10:00:00.000Z",
        outcome: "delivered",
        events: [
          { kind: "delivered", at: "2026-01-02T10:00:00.020Z", where: "archive" },
          { kind: "delivered", at: "2026-01-02T10:00:01.250Z", where: "slack", attempt: 2 },
        ],
      },
      other("order-8", 43),
    ]);
    const r = await trace("order-7");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(
      [
        `message order-7 of ${T}/${name}: delivered`,
        `run 1: ingest seq 42, delivered, revision ${REVISION.slice(0, 12)}, worker worker-a, 2 attempts`,
        "  2026-01-02T10:00:00.000Z  received",
        "  2026-01-02T10:00:00.010Z  processing",
        "  2026-01-02T10:00:00.020Z  delivered   archive",
        "  2026-01-02T10:00:00.200Z  retrying    slack  attempt 1  VRS_SINK_UNAVAILABLE  http 503  the receiver answered 503  (next at 2026-01-02T10:00:01.200Z)",
        "  2026-01-02T10:00:01.250Z  delivered   slack  attempt 2",
        "",
      ].join("\n"),
    );
    const j = JSON.parse((await trace("order-7", "--format", "json")).stdout);
    expect(Object.keys(j)).to.deep.equal(["formatVersion", "tenant", "integration", "messageId", "since", "runs"]);
    expect(j).to.deep.include({ formatVersion: 1, tenant: T, integration: name, messageId: "order-7" });
    expect(Date.parse(j.since)).to.be.closeTo(Date.now() - 24 * 3600_000, 60_000);
    expect(j.runs).to.have.length(1);
    expect(j.runs[0]).to.deep.include({
      ingestSeq: 42,
      state: "delivered",
      receivedAt: "2026-01-02T10:00:00.000Z",
      revision: REVISION,
      worker: "worker-a",
      attempts: 2,
      deadLetter: null,
    });
    expect(j.runs[0].events.map((e: { kind: string }) => e.kind)).to.deep.equal([
      "received",
      "processing",
      "delivered",
      "retrying",
      "delivered",
    ]);
  });

  it("dead, then replayed and waiting: two runs, the dead letter's context, then pending → processing", async () => {
    const id = 'say "hi" \u00e9\u2603';
    const e = envelope(id, '{"n":5}');
    const first = await writeIngest(nc, s, e);
    await jetstreamManager(nc).then((m) => m.streams.purge(s.ingest)); // a replica took it
    await writeTraceRecord(
      nc,
      s,
      traceRecord(id, first, {
        attempts: 2,
        events: [
          { kind: "received", at: "2026-01-02T10:00:00.000Z" },
          { kind: "retrying", at: "2026-01-02T10:00:00.100Z", where: "slack", attempt: 1, code: "VRS_SINK_TIMEOUT" },
          { kind: "retrying", at: "2026-01-02T10:00:01.100Z", where: "slack", attempt: 2, code: "VRS_SINK_TIMEOUT" },
        ],
      }),
    );
    const dl = await writeDeadLetter(nc, s, e, deadLetterContext(T, name, id, first, { code: "VRS_SINK_TIMEOUT" }));
    // Dead-lettered, its completion not written yet: one run, dead, from the dead letter.
    const dead = await trace(id, "--format", "json");
    expect(dead.code, dead.stderr).to.equal(0);
    const d = JSON.parse(dead.stdout);
    expect(d.runs).to.have.length(1);
    // Two failed attempts in the record, the third in the dead letter.
    expect(d.runs[0]).to.deep.include({ ingestSeq: first, state: "dead", attempts: 3 });
    expect(d.runs[0].deadLetter).to.deep.include({ seq: dl, code: "VRS_SINK_TIMEOUT", httpStatus: 400 });
    expect(d.runs[0].events.at(-1)).to.deep.include({ kind: "dead", at: "2026-01-02T10:00:04.200Z", where: "slack" });
    await writeTraceBatch(nc, s, [
      {
        messageId: id,
        ingestSeq: first,
        receivedAt: "2026-01-02T10:00:00.000Z",
        outcome: "dead",
        events: [
          { kind: "dead", at: "2026-01-02T10:00:04.200Z", where: "slack", attempt: 3, code: "VRS_SINK_TIMEOUT" },
        ],
      },
    ]);

    // Replayed: the dead letter goes, the message waits in the ingest stream under its replay id.
    const replay = await cli(
      "dlq",
      "replay",
      "--id",
      String(dl),
      "--only-failed",
      "--tenant",
      T,
      "--integration",
      name,
      "--nats",
      fx.url,
      "--keys",
      fx.keys.dir,
    );
    expect(replay.code, replay.stderr).to.equal(0);
    const r = await trace(id);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(
      [
        `message say "hi" \u00e9\u2603 of ${T}/${name}: pending (2 runs)`,
        `run 1: ingest seq ${first}, dead, revision ${REVISION.slice(0, 12)}, worker worker-a, 3 attempts`,
        "  2026-01-02T10:00:00.000Z  received",
        "  2026-01-02T10:00:00.100Z  retrying    slack  attempt 1  VRS_SINK_TIMEOUT",
        "  2026-01-02T10:00:01.100Z  retrying    slack  attempt 2  VRS_SINK_TIMEOUT",
        "  2026-01-02T10:00:04.200Z  dead        slack  attempt 3  VRS_SINK_TIMEOUT",
        `run 2: ingest seq ${first + 1}, pending, stored as say "hi" \u00e9\u2603~replay-${dl}, only to slack`,
        "  2026-01-02T10:00:00.000Z  received",
        "",
      ].join("\n"),
    );

    // A replica takes it (delivered, not acknowledged): processing.
    const consumer = await jetstream(nc).consumers.get(s.ingest, s.consumer);
    const m = await consumer.next({ expires: 5_000 });
    expect(m?.seq).to.equal(first + 1);
    const p = JSON.parse((await trace(id, "--format", "json")).stdout);
    expect(p.runs[1]).to.deep.include({
      ingestSeq: first + 1,
      state: "processing",
      storedAs: `${id}~replay-${dl}`,
      replaySinks: ["slack"],
    });
  });

  it("filtered: the step that dropped it", async () => {
    await writeTraceBatch(nc, s, [
      {
        messageId: "ping-1",
        ingestSeq: 9,
        receivedAt: "2026-01-02T11:00:00.000Z",
        outcome: "filtered",
        events: [{ kind: "filtered", at: "2026-01-02T11:00:00.003Z", where: "step 0 (filter)" }],
      },
    ]);
    const r = await trace("ping-1");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(
      [
        `message ping-1 of ${T}/${name}: filtered`,
        `run 1: ingest seq 9, filtered, worker worker-a`.replace(
          ", worker",
          `, revision ${REVISION.slice(0, 12)}, worker`,
        ),
        "  2026-01-02T11:00:00.000Z  received",
        "  2026-01-02T11:00:00.003Z  filtered    step 0 (filter)",
        "",
      ].join("\n"),
    );
  });

  it("a message not processed yet: pending, from the ingest stream", async () => {
    const seq = await writeIngest(nc, s, envelope("fresh-1", "{}"));
    const r = await trace("fresh-1", "--format", "json");
    expect(r.code, r.stderr).to.equal(0);
    const j = JSON.parse(r.stdout);
    expect(j.runs).to.deep.equal([
      {
        ingestSeq: seq,
        state: "pending",
        receivedAt: "2026-01-02T10:00:00.000Z",
        revision: null,
        worker: null,
        attempts: null,
        deadLetter: null,
        events: [{ kind: "received", at: "2026-01-02T10:00:00.000Z" }],
      },
    ]);
  });

  it("not found: VRS_TRACE_NOT_FOUND, exit 1, one clear line; --since limits the trace records read", async () => {
    await writeTraceBatch(nc, s, [other("order-1", 1)]);
    const r = await trace("order-404");
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal("");
    expect(r.stderr).to.match(
      new RegExp(
        `^vrsky: no trace of message 'order-404' in ${T}/${name} since .*\\(VRS_TRACE_NOT_FOUND\\): check the message id`,
      ),
    );
    expect(r.stderr.trimEnd().split("\n")).to.have.length(1);
    const found = await trace("order-1");
    expect(found.code, found.stderr).to.equal(0);
    const later = await trace("order-1", "--since", new Date(Date.now() + 60_000).toISOString());
    expect(later.code).to.equal(1);
    expect(later.stderr).to.include("VRS_TRACE_NOT_FOUND");
  });

  it("a user's mistakes: bad --since, unknown integration or tenant: a registered code, exit 2, no stack trace", async () => {
    const cases: Array<[string[], string]> = [
      [["x", "--tenant", T, "--integration", name, "--since", "last week"], "VRS_USAGE"],
      [["x", "--tenant", T, "--integration", "nothing"], "VRS_INTEGRATION_NOT_FOUND"],
      [["x", "--tenant", "nobody", "--integration", name], "VRS_TENANT_NOT_DISCOVERED"],
    ];
    for (const [args, token] of cases) {
      const r = await cli("trace", ...args, "--nats", fx.url, "--keys", fx.keys.dir);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include(`(${token})`);
      expect(r.stderr).to.not.match(NO_STACK);
    }
  });
});
