import { expect } from "chai";
import { decodeBody, encodeBody } from "../../../engine/pipeline/codec.js";
import { isJsonContentType } from "../../../engine/pipeline/message.js";
import { message } from "./support.js";

describe("pipeline message bodies", () => {
  const types: Array<[string, boolean]> = [
    ["application/json", true],
    ["application/json; charset=utf-8", true],
    ["Application/JSON", true],
    ["application/cloudevents+json", true],
    ["text/json", true],
    ["text/plain", false],
    ["application/xml", false],
    ["text/csv", false],
    ["application/jsonx", false],
    ["", false],
  ];
  for (const [type, json] of types) {
    it(`'${type}' is ${json ? "" : "not "}JSON`, () => expect(isJsonContentType(type)).to.equal(json));
  }

  const enc = (s: string) => new TextEncoder().encode(s);
  const decodes: Array<[string, Uint8Array, string, ReturnType<typeof decodeBody>["ok"], unknown]> = [
    ["JSON object", enc('{"a":[1,2]}'), "application/json", true, { a: [1, 2] }],
    ["JSON string", enc('"x"'), "application/json", true, "x"],
    ["text stays text", enc('{"a":1}'), "text/plain", true, '{"a":1}'],
    ["bad JSON", enc("{"), "application/json", false, undefined],
    ["bad UTF-8", new Uint8Array([0xff, 0xfe]), "text/plain", false, undefined],
  ];
  for (const [name, bytes, type, ok, body] of decodes) {
    it(`decodes: ${name}`, () => {
      const d = decodeBody(bytes, type);
      expect(d.ok).to.equal(ok);
      if (d.ok) expect(d.body).to.deep.equal(body);
    });
  }

  it("encodes JSON bodies as JSON and text as itself", () => {
    const dec = (b: Uint8Array) => new TextDecoder().decode(b);
    expect(dec(encodeBody(message({ a: 1 })))).to.equal('{"a":1}');
    expect(dec(encodeBody(message("a\nb")))).to.equal("a\nb");
    expect(dec(encodeBody(message("x", { contentType: "application/json" })))).to.equal('"x"');
    expect(dec(encodeBody(message({ a: 1 }, { contentType: "text/plain" })))).to.equal('{"a":1}');
  });
});
