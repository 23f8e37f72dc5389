import { expect } from "chai";
import { headers as natsHeaders } from "@nats-io/transport-node";
import {
  envelopeOf,
  isEngineSubject,
  lowerCaseHeaders,
  sniffContentType,
} from "../../../../engine/worker/flow/sources/nats-envelope.js";

const enc = (s: string) => new TextEncoder().encode(s);
const at = new Date("2026-01-01T00:00:00.000Z");

describe("nats source: a message as an ingest envelope", () => {
  it("takes the id from Nats-Msg-Id and lower-cases the headers", () => {
    const h = natsHeaders();
    h.set("Nats-Msg-Id", "order-1");
    h.set("X-Trace", "a");
    h.append("X-Trace", "b");
    const e = envelopeOf({ subject: "orders.new", data: enc('{"a":1}'), headers: h }, at);
    expect(e.id).to.equal("order-1");
    expect(e.headers).to.deep.equal({ "nats-msg-id": "order-1", "x-trace": "a, b" });
    expect(e.attributes).to.deep.equal({
      source: "nats",
      subject: "orders.new",
      receivedAt: "2026-01-01T00:00:00.000Z",
    });
    expect(e.contentType).to.equal("application/json");
  });

  it("makes a fresh id when the message has none", () => {
    const a = envelopeOf({ subject: "s", data: enc("x") }, at);
    const b = envelopeOf({ subject: "s", data: enc("x") }, at);
    expect(a.id).to.match(/^[0-9a-f-]{36}$/);
    expect(a.id).to.not.equal(b.id);
    expect(envelopeOf({ subject: "s", data: enc("x") }, at, () => "fixed").id).to.equal("fixed");
  });

  it("keeps the sender's Content-Type, whatever its case", () => {
    const h = natsHeaders();
    h.set("content-type", "application/xml");
    expect(envelopeOf({ subject: "s", data: enc("{}"), headers: h }, at).contentType).to.equal("application/xml");
  });

  const sniff: Array<[string, Uint8Array, string]> = [
    ["an object", enc('{"a":1}'), "application/json"],
    ["a number", enc("42"), "application/json"],
    ["a JSON string", enc('"hi"'), "application/json"],
    ["text", enc("hello world"), "text/plain"],
    ["empty", new Uint8Array(0), "text/plain"],
    ["broken JSON", enc('{"a":'), "text/plain"],
    ["bytes that are not UTF-8", Uint8Array.from([0xff, 0xfe, 0x00]), "application/octet-stream"],
  ];
  for (const [what, data, type] of sniff)
    it(`sniffs ${what} as ${type}`, () => expect(sniffContentType(data)).to.equal(type));

  it("has no headers for a message without any", () => expect(lowerCaseHeaders(undefined)).to.deep.equal({}));

  const subjects: Array<[string, boolean]> = [
    ["orders.new", false],
    ["vrsky.acme.orders", false],
    ["vrsky.acme.in.shop", true],
    ["vrsky.acme.dlq.shop", true],
    ["vrsky.acme.trace.shop.done", true],
    ["vrsky.acme._replica.shop.0", true],
    ["vrsky.other.in.shop", false],
    ["$JS.API.STREAM.INFO.x", true],
    ["_INBOX.abc", true],
  ];
  for (const [subject, engine] of subjects)
    it(`${subject} is ${engine ? "" : "not "}the engine's own`, () =>
      expect(isEngineSubject(subject, "vrsky.acme")).to.equal(engine));
});
