import { expect } from "chai";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Msg } from "@nats-io/transport-node";
import { httpSink } from "../../engine/worker/flow/sinks/http.js";
import { natsSink } from "../../engine/worker/flow/sinks/nats.js";
import type { SinkOutcome, SinkRuntime } from "../../engine/worker/flow/types.js";
import { closedPort, delivery, jsonMessage, Receiver, testEnv, type TestEnvOptions } from "../helpers/connector-env.js";
import { useNats } from "../helpers/nats.js";

/** Error text of a failed outcome (fails the test when it succeeded). */
function failure(o: SinkOutcome): { code: string; error: string; status?: number; retryAfterMs?: number } {
  if (o.ok) throw new Error(`expected a failure, got ${JSON.stringify(o)}`);
  return o;
}

describe("flow sinks: http", function () {
  this.timeout(30_000);
  let receiver: Receiver;
  const sinks: SinkRuntime[] = [];

  beforeEach(async () => {
    receiver = await new Receiver().start();
  });
  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.close()));
    await receiver.stop();
  });

  async function sink(config: Record<string, unknown>, env: TestEnvOptions = {}): Promise<SinkRuntime> {
    const defaults = { method: "POST", timeout: "10s", successStatus: [200, 201, 202, 204] };
    const s = await httpSink({ ...defaults, ...config }, testEnv({ allowPrivateNetworks: true, ...env }));
    sinks.push(s);
    return s;
  }

  it("sends the body with its content type, the Idempotency-Key and the configured headers", async () => {
    const s = await sink({ url: receiver.url("/in?x=1"), method: "PUT", headers: { "X-Tenant": "acme" } });
    const o = await s.send(delivery(jsonMessage("m-1", { order: 7, tags: ["a"] })));
    expect(o).to.deep.equal({ ok: true, status: 200 });
    const [r] = receiver.requests;
    expect(r).to.include({ method: "PUT", url: "/in?x=1", body: '{"order":7,"tags":["a"]}' });
    expect(r!.headers).to.include({
      "content-type": "application/json",
      "idempotency-key": "m-1",
      "x-tenant": "acme",
    });
    const text = await s.send(delivery(jsonMessage("m-2", "plain words", "text/plain; charset=utf-8")));
    expect(text.ok).to.equal(true);
    expect(receiver.requests[1]).to.deep.include({ body: "plain words" });
    expect(receiver.requests[1]!.headers["content-type"]).to.equal("text/plain; charset=utf-8");
  });

  it("reuses its connection across answers of every kind (bodies are read to the end)", async () => {
    let n = 0;
    receiver.answer((_q, res) => {
      const status = [200, 400, 503, 201][n++ % 4]!;
      res.writeHead(status, { "content-type": "text/plain" }).end("x".repeat(10_000));
    });
    const s = await sink({ url: receiver.url() });
    const codes: string[] = [];
    for (let i = 0; i < 16; i++) {
      const o = await s.send(delivery(jsonMessage(`m-${i}`, { i })));
      codes.push(o.ok ? "ok" : o.code);
    }
    expect(codes.slice(0, 4)).to.deep.equal(["ok", "VRS_SINK_REJECTED", "VRS_SINK_UNAVAILABLE", "ok"]);
    // undici may open a second connection while the first is being released; never one per request.
    expect(receiver.connections).to.be.at.most(2);
  });

  it("500 is unavailable with the status", async () => {
    receiver.answer((_q, res) => res.writeHead(500).end("boom"));
    const o = failure(await (await sink({ url: receiver.url() })).send(delivery(jsonMessage("m", {}))));
    expect(o).to.include({ code: "VRS_SINK_UNAVAILABLE", status: 500 });
    expect(o.error).to.equal(`127.0.0.1:${receiver.port} answered 500`);
  });

  it("429 with Retry-After in seconds or as a date gives retryAfterMs", async () => {
    const s = await sink({ url: receiver.url() });
    receiver.answer((_q, res) => res.writeHead(429, { "retry-after": "7" }).end());
    expect(failure(await s.send(delivery(jsonMessage("a", {}))))).to.include({
      code: "VRS_SINK_UNAVAILABLE",
      status: 429,
      retryAfterMs: 7_000,
    });
    const at = new Date(Date.now() + 30_000).toUTCString();
    receiver.answer((_q, res) => res.writeHead(503, { "retry-after": at }).end());
    const o = failure(await s.send(delivery(jsonMessage("b", {}))));
    expect(o).to.include({ code: "VRS_SINK_UNAVAILABLE", status: 503 });
    expect(o.retryAfterMs).to.be.within(25_000, 30_000);
    receiver.answer((_q, res) => res.writeHead(408).end());
    expect(failure(await s.send(delivery(jsonMessage("c", {}))))).to.include({
      code: "VRS_SINK_UNAVAILABLE",
      status: 408,
    });
  });

  it("400 is rejected with the status and an excerpt of the answer", async () => {
    receiver.answer((_q, res) => res.writeHead(400).end(`{"error":"field 'x'\nis required"}${" pad".repeat(100)}`));
    const o = failure(await (await sink({ url: receiver.url() })).send(delivery(jsonMessage("m", {}))));
    expect(o).to.include({ code: "VRS_SINK_REJECTED", status: 400 });
    expect(o.error).to.match(/^127\.0\.0\.1:\d+ answered 400: \{"error":"field 'x'\\nis required"\} pad/);
    expect(o.error).to.not.contain("\n");
    expect(o.error.length).to.be.below(260);
    receiver.answer((_q, res) => res.writeHead(202).end());
    const strict = await sink({ url: receiver.url(), successStatus: [200] });
    expect(failure(await strict.send(delivery(jsonMessage("m2", {}))))).to.include({
      code: "VRS_SINK_REJECTED",
      status: 202,
    });
  });

  it("a receiver that does not answer in time is a timeout, headers or body", async () => {
    receiver.answer(() => undefined); // never answers
    const s = await sink({ url: receiver.url(), timeout: "300ms" });
    let t0 = Date.now();
    const o = failure(await s.send(delivery(jsonMessage("m", {}))));
    let took = Date.now() - t0;
    expect(o.code).to.equal("VRS_SINK_TIMEOUT");
    expect(o.error).to.contain("did not answer within 300 ms");
    expect(took).to.be.within(250, 300 + 1_500);
    receiver.answer((_q, res) => {
      res.writeHead(200);
      res.write("partial"); // the body never ends
    });
    t0 = Date.now();
    const slowBody = await s.send(delivery(jsonMessage("m2", {})));
    took = Date.now() - t0;
    // The status came in time: a success is not undone by a slow body, but the call still ends within the timeout.
    expect(slowBody.ok).to.equal(true);
    expect(took).to.be.below(300 + 1_500);
  });

  it("a refused connection is unavailable", async () => {
    const port = await closedPort();
    const o = failure(await (await sink({ url: `http://127.0.0.1:${port}/x` })).send(delivery(jsonMessage("m", {}))));
    expect(o).to.deep.equal({
      ok: false,
      code: "VRS_SINK_UNAVAILABLE",
      error: `127.0.0.1:${port}: connection refused (ECONNREFUSED)`,
    });
    const dns = failure(
      await (await sink({ url: "http://no-such-host.invalid/x", timeout: "5s" })).send(delivery(jsonMessage("m", {}))),
    );
    expect(dns.code).to.equal("VRS_SINK_UNAVAILABLE");
    expect(dns.error).to.match(/host name (not found|lookup failed)/);
  });

  describe("address policy", () => {
    const blocked = () => [
      receiver.url("/h", "127.0.0.1"),
      receiver.url("/h", "[::1]"),
      receiver.url("/h", "localhost"),
      receiver.url("/h", "[::ffff:127.0.0.1]"),
      `http://2130706433:${receiver.port}/h`,
      "http://169.254.169.254/latest/meta-data/",
      "http://0.0.0.0:1/",
    ];

    it("refuses loopback, link-local, metadata and unspecified addresses by default", async () => {
      for (const url of blocked()) {
        const s = await sink({ url, timeout: "2s" }, { allowPrivateNetworks: false });
        const o = failure(await s.send(delivery(jsonMessage("m", {}))));
        expect(o.code, url).to.equal("VRS_SINK_ADDRESS_BLOCKED");
        expect(o.error, url).to.match(/is not allowed: it resolves only to/);
      }
      expect(receiver.requests).to.have.length(0);
      const o = failure(
        await (
          await sink({ url: receiver.url("/h", "localhost") }, { allowPrivateNetworks: false })
        ).send(delivery(jsonMessage("m", {}))),
      );
      expect(o.error).to.equal(`localhost:${receiver.port} is not allowed: it resolves only to 127.0.0.1 (loopback)`);
    });

    it("allows them with allowPrivateNetworks", async () => {
      for (const url of blocked().slice(0, 5)) {
        const o = await (await sink({ url })).send(delivery(jsonMessage("m", {})));
        expect(o, url).to.deep.equal({ ok: true, status: 200 });
      }
      expect(receiver.requests).to.have.length(5);
      const meta = await (
        await sink({ url: "http://169.254.169.254/", timeout: "300ms" })
      ).send(delivery(jsonMessage("m", {})));
      expect(meta.ok ? "ok" : meta.code).to.not.equal("VRS_SINK_ADDRESS_BLOCKED");
    });
  });

  describe("secretRef", () => {
    const TOKEN = "Bearer s3cr3t-t0ken-value";

    it("sends the secret as the Authorization header, and never shows it", async () => {
      // The receiver echoes the header back: even then the error text holds no secret.
      receiver.answer((q, res) => res.writeHead(401).end(`bad credentials: ${q.headers.authorization}`));
      const s = await sink({ url: receiver.url(), secretRef: "api" }, { secrets: { api: `${TOKEN}\n` } });
      const o = failure(await s.send(delivery(jsonMessage("m", {}))));
      expect(receiver.requests[0]!.headers.authorization).to.equal(TOKEN);
      expect(o).to.include({ code: "VRS_SINK_REJECTED", status: 401 });
      expect(o.error).to.contain("bad credentials: [secret]");
      expect(o.error).to.not.contain("s3cr3t");
    });

    it("takes a URL secret as the whole URL, and names it only as 'the secret URL'", async () => {
      const secretUrl = receiver.url("/hooks/T000/B000/XyZsecretPath");
      const s = await sink({ secretRef: "hook" }, { secrets: { hook: secretUrl } });
      expect(await s.send(delivery(jsonMessage("m", { a: 1 })))).to.deep.equal({ ok: true, status: 200 });
      expect(receiver.requests[0]!.url).to.equal("/hooks/T000/B000/XyZsecretPath");
      expect(receiver.requests[0]!.headers).to.not.have.property("authorization");

      const outcomes: SinkOutcome[] = [];
      receiver.answer((q, res) => res.writeHead(404).end(`no hook at ${q.url} on ${q.headers.host}`));
      outcomes.push(await s.send(delivery(jsonMessage("m", {}))));
      receiver.answer((_q, res) => res.writeHead(500).end());
      outcomes.push(await s.send(delivery(jsonMessage("m", {}))));
      receiver.answer(() => undefined);
      const slow = await sink({ secretRef: "hook", timeout: "200ms" }, { secrets: { hook: secretUrl } });
      outcomes.push(await slow.send(delivery(jsonMessage("m", {}))));
      const port = await closedPort();
      const refusedUrl = `http://127.0.0.1:${port}/hooks/T000/B000/XyZsecretPath`;
      const refused = await sink({ secretRef: "hook" }, { secrets: { hook: refusedUrl } });
      outcomes.push(await refused.send(delivery(jsonMessage("m", {}))));
      const guarded = await sink({ secretRef: "hook" }, { secrets: { hook: secretUrl }, allowPrivateNetworks: false });
      outcomes.push(await guarded.send(delivery(jsonMessage("m", {}))));
      const gone = await sink(
        { secretRef: "hook" },
        { secrets: { hook: "https://no-such-host.invalid/XyZsecretPath" } },
      );
      outcomes.push(await gone.send(delivery(jsonMessage("m", {}))));

      expect(outcomes.map((o) => failure(o).code)).to.deep.equal([
        "VRS_SINK_REJECTED",
        "VRS_SINK_UNAVAILABLE",
        "VRS_SINK_TIMEOUT",
        "VRS_SINK_UNAVAILABLE",
        "VRS_SINK_ADDRESS_BLOCKED",
        "VRS_SINK_UNAVAILABLE",
      ]);
      for (const o of outcomes) {
        const { error } = failure(o);
        expect(error).to.match(/^the secret URL/);
        for (const leak of ["XyZsecretPath", "hooks/T000", String(receiver.port), String(port), "no-such-host"])
          expect(error, error).to.not.contain(leak);
      }
    });

    it("rejects the factory when the secret is missing or unusable", async () => {
      const cases: Array<[Record<string, unknown>, Record<string, string>, string]> = [
        [{ url: receiver.url(), secretRef: "nope" }, {}, "VRS_SECRET_MISSING"],
        [{ secretRef: "s" }, { s: "http://user:pw@example.com/x" }, "VRS_SINK_SECRET_INVALID"],
        [{ secretRef: "s" }, { s: "Bearer abc" }, "VRS_SINK_SECRET_INVALID"],
        [{ url: receiver.url(), secretRef: "s" }, { s: "https://example.com/hook" }, "VRS_SINK_SECRET_INVALID"],
        [{ url: receiver.url(), secretRef: "s" }, { s: "Bearer a\r\nX-Evil: 1" }, "VRS_SINK_SECRET_INVALID"],
      ];
      for (const [config, secrets, code] of cases) {
        const err = await sink(config, { secrets }).then(
          () => undefined,
          (e: unknown) => e as { code?: string; message: string },
        );
        expect(err?.code, JSON.stringify(config)).to.equal(code);
        for (const v of Object.values(secrets)) expect(err!.message).to.not.contain(v);
      }
    });
  });

  it("an aborted delivery ends at once", async () => {
    receiver.answer(() => undefined);
    const s = await sink({ url: receiver.url(), timeout: "20s" });
    const ctl = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ctl.abort(), 100);
    const o = failure(await s.send(delivery(jsonMessage("m", {}), ctl.signal)));
    expect(Date.now() - t0).to.be.below(1_500);
    expect(o.code).to.equal("VRS_SINK_UNAVAILABLE");
    expect(o.error).to.contain("the replica is stopping");
    const already = failure(await s.send(delivery(jsonMessage("m", {}), ctl.signal)));
    expect(already.code).to.equal("VRS_SINK_UNAVAILABLE");
    await s.close();
    expect(failure(await s.send(delivery(jsonMessage("m", {})))).error).to.contain("closed");
  });

  it("GET sends no body", async () => {
    const s = await sink({ url: receiver.url(), method: "GET" });
    expect((await s.send(delivery(jsonMessage("m", { a: 1 })))).ok).to.equal(true);
    expect(receiver.requests[0]).to.include({ method: "GET", body: "" });
    expect(receiver.requests[0]!.headers).to.include({ "idempotency-key": "m" });
    expect(receiver.requests[0]!.headers).to.not.have.property("content-type");
  });
});

describe("flow sinks: nats", function () {
  this.timeout(30_000);
  const fx = useNats({ resetBuckets: false });

  it("publishes to core NATS with Content-Type, the configured headers and Nats-Msg-Id", async () => {
    const nc = await fx.connect();
    const got = new Promise<Msg>((resolve) => {
      const sub = fx.nc.subscribe("orders.out", { callback: (_e, m) => (sub.unsubscribe(), resolve(m)) });
    });
    await fx.nc.flush();
    const s = await natsSink(
      { subject: "orders.out", jetstream: false, headers: { "X-Kind": "order" } },
      testEnv({ connection: nc }),
    );
    expect(await s.send(delivery(jsonMessage("m-1", { id: 1 })))).to.deep.equal({ ok: true });
    const m = await got;
    expect(m.string()).to.equal('{"id":1}');
    expect(m.headers?.get("Content-Type")).to.equal("application/json");
    expect(m.headers?.get("X-Kind")).to.equal("order");
    expect(m.headers?.get("Nats-Msg-Id")).to.equal("m-1");
    await s.close();
  });

  it("is unavailable without a connection", async () => {
    const s = await natsSink({ subject: "x", jetstream: true }, testEnv({}));
    const o = failure(await s.send(delivery(jsonMessage("m", {}))));
    expect(o).to.deep.equal({ ok: false, code: "VRS_SINK_UNAVAILABLE", error: "nats x: no connection to NATS" });
  });

  it("publishes to JetStream, awaits the ack, and stores a repeated key once", async () => {
    const jsm = await jetstreamManager(fx.nc);
    await jsm.streams.add({ name: "ARCHIVE", subjects: ["archive.>"] });
    fx.defer(() => jsm.streams.delete("ARCHIVE"));
    const env = testEnv({ connection: await fx.connect() });
    const s = await natsSink({ subject: "archive.orders", jetstream: true, headers: {} }, env);
    for (const key of ["k-1", "k-1", "k-2"])
      expect(await s.send(delivery(jsonMessage(key, { key })))).to.deep.equal({ ok: true });
    expect((await jsm.streams.info("ARCHIVE")).state.messages).to.equal(2);
    const first = await jsm.streams.getMessage("ARCHIVE", { seq: 1 });
    expect(first?.header.get("Nats-Msg-Id")).to.equal("k-1");
    expect(first?.header.get("Content-Type")).to.equal("application/json");
    // The connection moved: the sink uses the current one.
    const next = await fx.connect();
    env.setConnection(next);
    expect(await s.send(delivery(jsonMessage("k-3", {})))).to.deep.equal({ ok: true });
    expect((await jsm.streams.info("ARCHIVE")).state.messages).to.equal(3);
  });

  it("is unavailable when no stream takes the subject", async () => {
    const s = await natsSink({ subject: "nowhere.here", jetstream: true }, testEnv({ connection: await fx.connect() }));
    const o = failure(await s.send(delivery(jsonMessage("m", {}))));
    expect(o.code).to.equal("VRS_SINK_UNAVAILABLE");
    expect(o.error).to.contain("no JetStream stream takes subject nowhere.here");
  });
});
