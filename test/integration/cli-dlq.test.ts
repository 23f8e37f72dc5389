import { createHash } from "node:crypto";
import { expect } from "chai";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { HEADERS, idToken, type IntegrationStreams } from "../../engine/contract/dataplane.js";
import { readIngest } from "../../engine/dataplane/wire.js";
import { cli } from "../helpers/cli.js";
import { runVrskyPiped } from "../helpers/cli-run.js";
import {
  deadLetterContext,
  envelope,
  standUpIntegration,
  standUpTenant,
  writeDeadLetter,
  writeIngest,
} from "../helpers/dataplane-records.js";
import { useNats } from "../helpers/nats.js";

const T = "acme";
const NO_STACK = /\n\s+at /;

describe("vrsky dlq: list, show, replay and purge an integration's dead letters (operator mode)", function () {
  this.timeout(60_000);
  const fx = useNats({ operator: true, resetBuckets: false });
  let nc: NatsConnection;
  let n = 0;
  /** A fresh integration per test, so tests do not see each other's dead letters. */
  let name: string;
  let s: IntegrationStreams;

  before(async () => {
    nc = await standUpTenant(fx, T);
  });
  beforeEach(async () => {
    name = `orders-${++n}`;
    s = await standUpIntegration(nc, T, name);
  });

  const dlq = (...args: string[]) =>
    cli("dlq", ...args, "--tenant", T, "--integration", name, "--nats", fx.url, "--keys", fx.keys.dir);

  /** Three dead letters: order-1 (sink slack, 400), order-2 (step 0, filter), and one whose id holds escapes. */
  async function three(): Promise<[number, number, number]> {
    const a = await writeDeadLetter(nc, s, envelope("order-1", '{"n":1}'), deadLetterContext(T, name, "order-1", 11));
    const b = await writeDeadLetter(
      nc,
      s,
      envelope("order-2", '{"n":2}'),
      deadLetterContext(T, name, "order-2", 12, {
        at: { role: "step", index: 0, type: "map" },
        code: "VRS_MSG_FIELD_MISSING",
        errorClass: "permanent",
        error: "no field body.total",
        httpStatus: undefined,
        attempts: 1,
        deliveredSinks: [],
        failedSinks: [],
      }),
    );
    const evil = "evil\u001b[31mRED\u001b[0m\nFAKE";
    const c = await writeDeadLetter(
      nc,
      s,
      envelope("evil-1", "body with \u001b]0;title\u0007 and \u009b2J"),
      deadLetterContext(T, name, "evil-1", 13, { error: evil }),
    );
    return [a, b, c];
  }

  it("list: a table oldest first with seq, message id, dead at, where, code, http, attempts; --limit keeps the newest", async () => {
    const [a, b, c] = await three();
    const r = await dlq("list");
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(/^SEQ +MESSAGE ID +DEAD AT +FAILED AT +CODE +HTTP +ATTEMPTS$/);
    expect(lines[1]).to.match(
      new RegExp(`^ *${a} +order-1 +2026-01-02T10:00:04\\.200Z +sink 1 slack \\(http\\) +VRS_SINK_REJECTED +400 +3$`),
    );
    expect(lines[2]).to.match(
      new RegExp(`^ *${b} +order-2 +2026-01-02T10:00:04\\.200Z +step 0 \\(map\\) +VRS_MSG_FIELD_MISSING +- +1$`),
    );
    expect(lines[3]).to.match(new RegExp(`^ *${c} +evil-1 `));
    expect(lines[4]).to.equal(`3 dead letters of ${T}/${name}`);

    const limited = await dlq("list", "--limit", "2");
    expect(limited.code, limited.stderr).to.equal(0);
    const rows = limited.stdout.trimEnd().split("\n");
    expect(rows.slice(1, 3).map((l) => Number(l.trim().split(/\s+/)[0]))).to.deep.equal([b, c]);
    expect(rows[3]).to.equal(`2 of 3 dead letters of ${T}/${name} (the newest; --limit shows more)`);
  });

  it("list --format json: the documented fields, stable; --since a duration or a time", async () => {
    const [a, b, c] = await three();
    const r = await dlq("list", "--format", "json");
    expect(r.code, r.stderr).to.equal(0);
    const v = JSON.parse(r.stdout);
    expect(Object.keys(v)).to.deep.equal([
      "formatVersion",
      "tenant",
      "integration",
      "stream",
      "since",
      "matched",
      "deadLetters",
    ]);
    expect(v).to.deep.include({ formatVersion: 1, tenant: T, integration: name, stream: s.deadLetter, matched: 3 });
    expect(v.deadLetters.map((d: { seq: number }) => d.seq)).to.deep.equal([a, b, c]);
    expect(v.deadLetters[0]).to.deep.equal({
      seq: a,
      messageId: "order-1",
      storedAt: v.deadLetters[0].storedAt,
      deadAt: "2026-01-02T10:00:04.200Z",
      at: { role: "sink", index: 1, name: "slack", type: "http" },
      code: "VRS_SINK_REJECTED",
      errorClass: "permanent",
      error: "the receiver answered 400 Bad Request",
      httpStatus: 400,
      attempts: 3,
      firstAttemptAt: "2026-01-02T10:00:00.100Z",
      lastAttemptAt: "2026-01-02T10:00:04.100Z",
      revision: deadLetterContext(T, name, "x", 1).revision,
      deliveredSinks: ["archive"],
      failedSinks: ["slack"],
      size: 7,
      payloadRef: null,
    });
    expect(Date.parse(v.deadLetters[0].storedAt)).to.be.closeTo(Date.now(), 60_000);
    expect(v.deadLetters[1].httpStatus).to.equal(null);

    const recent = JSON.parse((await dlq("list", "--since", "10m", "--format", "json")).stdout);
    expect(recent.matched).to.equal(3);
    const future = JSON.parse(
      (await dlq("list", "--since", new Date(Date.now() + 3_600_000).toISOString(), "--format", "json")).stdout,
    );
    expect(future).to.deep.include({ matched: 0, deadLetters: [] });
    const none = await dlq("list", "--since", "2030-01-01T00:00:00Z");
    expect(none.stdout).to.equal(`no dead letters of ${T}/${name} since 2030-01-01T00:00:00.000Z\n`);
  });

  it("show: context, original headers, body as text; control characters and terminal escapes escaped", async () => {
    const [a, , c] = await three();
    const r = await dlq("show", "--id", String(a));
    expect(r.code, r.stderr).to.equal(0);
    const out = r.stdout;
    expect(out).to.match(new RegExp(`^dead letter ${a} of ${T}/${name}, stored `));
    expect(out).to.match(/^message id: +order-1$/m);
    expect(out).to.match(/^dead at: +2026-01-02T10:00:04\.200Z after 3 attempts/m);
    expect(out).to.match(/^failed at: +sink 1 slack \(http\)$/m);
    expect(out).to.match(/^error: +VRS_SINK_REJECTED \(permanent\) http 400: the receiver answered 400 Bad Request$/m);
    expect(out).to.match(/^delivered to: +archive$/m);
    expect(out).to.match(/^failed sinks: +slack$/m);
    expect(out).to.match(/^ {2}Nats-Msg-Id: order-1$/m);
    expect(out).to.match(/^ {2}Vrsky-Headers: \{"x-request-id":"req-order-1"\}$/m);
    expect(out).to.not.include(HEADERS.deadLetter + ":");
    expect(out).to.match(/^body \(application\/json, 7 bytes\):\n\{"n":1\}$/m);

    // By message id too; everything from the message escaped.
    const e = await dlq("show", "--id", "evil-1");
    expect(e.code, e.stderr).to.equal(0);
    expect(e.stdout).to.match(new RegExp(`^dead letter ${c} `));
    expect(e.stdout, "no raw escape or C1 control reaches the terminal").to.not.match(/[\u001b\u0007\u009b]/);
    expect(e.stdout).to.include("evil\\x1b[31mRED\\x1b[0m\\nFAKE");
    expect(e.stdout).to.include("body with \\x1b]0;title\\x07 and \\x9b2J");
    expect(e.stdout).to.not.match(/^FAKE/m);

    const j = JSON.parse((await dlq("show", "--id", String(a), "--format", "json")).stdout);
    expect(j).to.deep.include({ formatVersion: 1, tenant: T, integration: name });
    const d = j.deadLetters[0];
    expect(d.seq).to.equal(a);
    expect(d.context).to.deep.equal(deadLetterContext(T, name, "order-1", 11));
    expect(d.headers).to.deep.include.members([
      ["Nats-Msg-Id", "order-1"],
      ["Content-Type", "application/json"],
    ]);
    expect(d.message).to.deep.include({ contentType: "application/json", size: 7, payloadRef: null });
    expect(d.message.attributes).to.include({ id: "order-1", source: "http" });
    expect(d.body).to.deep.equal({
      size: 7,
      contentType: "application/json",
      inObjectStore: false,
      included: true,
      encoding: "utf8",
      data: '{"n":1}',
    });
  });

  it("show: a binary body is noted with its size; a large body in the object store is named, --body prints it", async () => {
    const bin = new Uint8Array([0xff, 0xfe, 0x00, 0x01, 0x80]);
    const b = await writeDeadLetter(nc, s, envelope("bin-1", bin), deadLetterContext(T, name, "bin-1", 1));
    const shown = await dlq("show", "--id", String(b));
    expect(shown.stdout).to.match(/^body \(application\/json, 5 bytes\): not UTF-8 text; print it with --body$/m);

    const big = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
    const e = envelope("big-1", big, { contentType: "application/octet-stream" });
    await writeIngest(nc, s, e); // through the object store (above 256 KiB)
    await jetstreamManager(nc).then((m) => m.streams.purge(s.ingest)); // the worker took it; the body stays
    const seq = await writeDeadLetter(nc, s, e, deadLetterContext(T, name, "big-1", 2), idToken("big-1"));
    const r = await dlq("show", "--id", "big-1");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include(
      `body (application/octet-stream, 300000 bytes in the object store ${s.objectStore}): not shown; print it with --body`,
    );
    expect(r.stdout).to.match(new RegExp(`^ {2}${HEADERS.payloadRef}: ${idToken("big-1")}$`, "m"));
    // --body: the bytes as they are, into a pipe.
    const piped = await runVrskyPiped(
      [
        "dlq",
        "show",
        "--id",
        String(seq),
        "--body",
        "--tenant",
        T,
        "--integration",
        name,
        "--nats",
        fx.url,
        "--keys",
        fx.keys.dir,
      ],
      "sha256sum",
    );
    expect(piped.code, piped.stderr).to.equal(0);
    expect(piped.stdout.split(" ")[0]).to.equal(createHash("sha256").update(big).digest("hex"));
    // --format json --body: base64 of the object.
    const j = JSON.parse((await dlq("show", "--id", String(seq), "--body", "--format", "json")).stdout);
    expect(j.deadLetters[0].body).to.deep.include({
      inObjectStore: true,
      objectStore: s.objectStore,
      encoding: "base64",
    });
    expect(Buffer.from(j.deadLetters[0].body.data, "base64").equals(Buffer.from(big))).to.equal(true);
    // Gone from the object store: said so, exit 1.
    await (await new Objm(nc).open(s.objectStore)).delete(idToken("big-1"));
    const gone = await dlq("show", "--id", String(seq), "--body");
    expect(gone.code).to.equal(1);
    expect(gone.stderr).to.include("VRS_PAYLOAD_MISSING");
  });

  it("replay: into the ingest stream under <id>~replay-<seq> with Vrsky-Message-Id, payload and headers kept; then deleted", async () => {
    const [a, b] = await three();
    const r = await dlq("replay", "--id", String(a), "--id", "order-2");
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(
      new RegExp(
        `^replayed dead letter ${a} \\(message order-1\\) as order-1~replay-${a}: ingest seq 1, to every sink; dead letter deleted$`,
      ),
    );
    expect(lines[1]).to.match(
      new RegExp(`^replayed dead letter ${b} \\(message order-2\\) as order-2~replay-${b}: ingest seq 2,`),
    );
    expect(lines[2]).to.equal(`${T}/${name}: replayed 2, replayed before 0, failed 0, not found 0`);

    const jsm = await jetstreamManager(nc);
    const m = (await jsm.streams.getMessage(s.ingest, { seq: 1 }))!;
    expect(m.subject).to.equal(s.ingestSubject);
    expect(m.header.get(HEADERS.id)).to.equal(`order-1~replay-${a}`);
    expect(m.header.get(HEADERS.messageId)).to.equal("order-1");
    expect(m.header.get(HEADERS.deadLetter)).to.equal("");
    expect(m.header.get(HEADERS.replaySinks)).to.equal("");
    const msg = readIngest(m.header, m.data);
    expect(msg.id, "sinks see the original id").to.equal("order-1");
    expect(msg.headers).to.deep.equal({ "x-request-id": "req-order-1" });
    expect(msg.attributes).to.include({ source: "http", receivedAt: "2026-01-02T10:00:00.000Z" });
    expect(new TextDecoder().decode(msg.body)).to.equal('{"n":1}');
    expect(await jsm.streams.getMessage(s.deadLetter, { seq: a })).to.equal(null);
    expect(await jsm.streams.getMessage(s.deadLetter, { seq: b })).to.equal(null);

    const listed = JSON.parse((await dlq("list", "--format", "json")).stdout);
    expect(listed.deadLetters.map((d: { messageId: string }) => d.messageId)).to.deep.equal(["evil-1"]);
    const again = await dlq("replay", "--id", String(a));
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(
      new RegExp(`^vrsky: no dead letter '${a}' of ${T}/${name} \\(VRS_DEAD_LETTER_NOT_FOUND\\): `),
    );
  });

  it("replay --only-failed: Vrsky-Replay-Sinks names the failed sinks; a large body keeps its reference", async () => {
    const e = envelope("big-2", new Uint8Array(300_000).fill(7));
    await writeIngest(nc, s, e);
    await jetstreamManager(nc).then((m) => m.streams.purge(s.ingest));
    const seq = await writeDeadLetter(
      nc,
      s,
      e,
      deadLetterContext(T, name, "big-2", 5, { deliveredSinks: ["archive"], failedSinks: ["slack", "crm"] }),
      idToken("big-2"),
    );
    const r = await dlq("replay", "--id", "big-2", "--only-failed", "--format", "json");
    expect(r.code, r.stderr).to.equal(0);
    const v = JSON.parse(r.stdout);
    expect(v).to.deep.include({ formatVersion: 1, replayed: 1, duplicate: 0, failed: 0, notFound: 0 });
    const ingestSeq = (await jetstreamManager(nc).then((m) => m.streams.info(s.ingest))).state.last_seq;
    expect(v.results).to.deep.equal([
      {
        seq,
        messageId: "big-2",
        sinks: ["slack", "crm"],
        deleted: true,
        replayId: `big-2~replay-${seq}`,
        outcome: "replayed",
        ingestSeq,
      },
    ]);
    const m = (await (await jetstreamManager(nc)).streams.getMessage(s.ingest, { seq: ingestSeq }))!;
    expect(m.header.get(HEADERS.replaySinks)).to.equal("slack,crm");
    expect(m.header.get(HEADERS.payloadRef)).to.equal(idToken("big-2"));
    expect(m.data.length).to.equal(0);
    expect(readIngest(m.header, m.data)).to.deep.include({ id: "big-2", size: 300_000, replaySinks: ["slack", "crm"] });
  });

  it("replay of a dead letter replayed before within the de-duplication window: stored once, said so", async () => {
    const [a] = await three();
    // A replay that was stored but whose dead letter was not deleted (the CLI stopped in between).
    const first = await jetstream(nc).publish(s.ingestSubject, "{}", { msgID: `order-1~replay-${a}` });
    const r = await dlq("replay", "--id", "order-1");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include(
      `dead letter ${a} (message order-1): replayed before as order-1~replay-${a} within the de-duplication window, stored once (ingest seq ${first.seq}); dead letter deleted`,
    );
    expect(r.stdout).to.include("replayed 0, replayed before 1, failed 0");
    const info = await jetstreamManager(nc).then((m) => m.streams.info(s.ingest));
    expect(info.state.messages).to.equal(1);
  });

  it("replay --all [--since]: every dead letter (stored since then), with counts", async () => {
    await three();
    const none = await dlq("replay", "--all", "--since", "2099-01-01T00:00:00Z");
    expect(none.code, none.stderr).to.equal(0);
    expect(none.stdout).to.equal(`${T}/${name}: replayed 0, replayed before 0, failed 0, not found 0\n`);
    const r = await dlq("replay", "--all", "--since", "1h");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/replayed 3, replayed before 0, failed 0, not found 0\n$/);
    const info = await jetstreamManager(nc).then((m) =>
      Promise.all([m.streams.info(s.ingest), m.streams.info(s.deadLetter)]),
    );
    expect(info.map((i) => i.state.messages)).to.deep.equal([3, 0]);
  });

  it("purge: --id deletes those, --all the rest; without --yes and no terminal it refuses", async () => {
    const [a, b, c] = await three();
    const refused = await dlq("purge", "--id", String(a));
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.match(/purge 1 dead letter of .*: pass --yes \(no terminal to ask on\) \(VRS_USAGE\)/);
    expect(refused.stderr).to.not.match(NO_STACK);

    const one = await dlq("purge", "--id", String(a), "--id", "nope", "--yes");
    expect(one.code).to.equal(1);
    expect(one.stdout).to.equal(`purged 1 dead letter of ${T}/${name}\n`);
    expect(one.stderr).to.include("VRS_DEAD_LETTER_NOT_FOUND");
    const all = await dlq("purge", "--all", "--yes", "--format", "json");
    expect(all.code, all.stderr).to.equal(0);
    expect(JSON.parse(all.stdout)).to.deep.equal({
      formatVersion: 1,
      tenant: T,
      integration: name,
      purged: 2,
      notFoundIds: [],
    });
    const jsm = await jetstreamManager(nc);
    for (const seq of [a, b, c]) expect(await jsm.streams.getMessage(s.deadLetter, { seq })).to.equal(null);
    const empty = await dlq("list");
    expect(empty.stdout).to.equal(`no dead letters of ${T}/${name}\n`);
  });

  it("purge --all --since: only those stored since then", async () => {
    await three();
    const r = await dlq("purge", "--all", "--since", "2099-01-01T00:00:00Z", "--yes");
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`purged 0 dead letters of ${T}/${name}\n`);
    expect((await jetstreamManager(nc).then((m) => m.streams.info(s.deadLetter))).state.messages).to.equal(3);
  });

  it("a user's mistakes: a clear error with a registered code, exit non-zero, no stack trace", async () => {
    await three();
    const cases: Array<[string[], number, string, string?]> = [
      [["list", "--since", "yesterday"], 2, "VRS_USAGE", "--since 'yesterday' is neither a duration"],
      [["list", "--limit", "0"], 2, "VRS_USAGE", "--limit '0'"],
      [["show", "--id", "999"], 1, "VRS_DEAD_LETTER_NOT_FOUND", "no dead letter '999'"],
      [["show", "--id", "no-such-message"], 1, "VRS_DEAD_LETTER_NOT_FOUND"],
      [["replay", "--all", "--id", "1"], 2, "VRS_USAGE", "--id ID (repeatable), or pass --all"],
      [["replay"], 2, "VRS_USAGE"],
    ];
    for (const [args, code, token, text] of cases) {
      const r = await dlq(...args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).to.equal(code);
      expect(r.stderr, args.join(" ")).to.include(`(${token})`);
      if (text) expect(r.stderr).to.include(text);
      expect(r.stderr).to.not.match(NO_STACK);
      expect(r.stdout).to.equal("");
    }
    const base = ["--nats", fx.url, "--keys", fx.keys.dir];
    const other: Array<[string[], string, string]> = [
      [["--tenant", "nobody", "--integration", name], "VRS_TENANT_NOT_DISCOVERED", "tenant nobody"],
      [["--tenant", T, "--integration", "nothing"], "VRS_INTEGRATION_NOT_FOUND", `${T}/nothing`],
      [["--tenant", "Bad_Name", "--integration", name], "VRS_USAGE", "--tenant 'Bad_Name'"],
    ];
    for (const [args, token, text] of other) {
      const r = await cli("dlq", "list", ...args, ...base);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include(`(${token})`).and.include(text);
      expect(r.stderr).to.not.match(NO_STACK);
    }
  });
});

describe("vrsky dlq without --keys: the platform connection is the account tenants share", function () {
  this.timeout(30_000);
  const fx = useNats();

  it("lists and replays in the shared account", async () => {
    const s = await standUpIntegration(fx.nc, "globex", "ship");
    const seq = await writeDeadLetter(fx.nc, s, envelope("p-1", "x"), deadLetterContext("globex", "ship", "p-1", 3));
    const args = ["--tenant", "globex", "--integration", "ship", "--nats", fx.url];
    const r = await cli("dlq", "list", ...args, "--format", "json");
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout).deadLetters.map((d: { seq: number }) => d.seq)).to.deep.equal([seq]);
    const rp = await cli("dlq", "replay", "--all", ...args);
    expect(rp.code, rp.stderr).to.equal(0);
    expect(rp.stdout).to.include("replayed 1,");
  });
});
